"""The addon's preferences (Edit > Preferences > Add-ons > BLD Remote MCP): port, auto-start,
token authentication (the token shown, and a "copy MCP config" button) and the log level.

bpy-facing: imported only by ``register()``. The values reach the server through
``config.from_env(preferences=...)``, where an environment variable, when set, still wins.
"""

import bpy

from . import api, compat

# The addon's own name, which Blender keys its preferences by (an extension's or an addon's).
_PACKAGE = compat.addon_module(__package__)


def current():
    """The preferences as a dict for ``config.from_env``, or None when the addon is not enabled
    as an addon (``bld-remote start`` loads it by path)."""
    addon = bpy.context.preferences.addons.get(_PACKAGE)
    if addon is None or addon.preferences is None:
        return None
    prefs = addon.preferences
    return {"port": prefs.port, "auto_start": prefs.auto_start, "auth": prefs.auth,
            "log_level": prefs.log_level}


def _restart_if_running(_prefs, _context):
    """A changed setting takes effect at once: a running server restarts with it (on its port;
    with a new token if authentication was turned back on)."""
    service = api.get_service()
    if service is None or not service.running:
        return
    port = service.port
    api.stop_mcp_service()
    api.start_mcp_service(port=port)


def _apply_log_level(prefs, _context):
    api.set_log_level(prefs.log_level)


class BldRemotePreferences(bpy.types.AddonPreferences):
    bl_idname = _PACKAGE

    port: bpy.props.IntProperty(
        name="Port", default=6688, min=0, max=65535,
        description="TCP port on 127.0.0.1 (0: any free port). BLD_REMOTE_MCP_PORT overrides it",
    )
    auto_start: bpy.props.BoolProperty(
        name="Start with Blender", default=False,
        description="Start the server when the addon is enabled. BLD_REMOTE_MCP_START_NOW overrides it",
    )
    auth: bpy.props.BoolProperty(
        name="Require token", default=True, update=_restart_if_running,
        description="Clients must present the token bld-remote writes at each start. Turning this off "
        "serves blender-remote 1.3.3 clients, and any program on this computer can then run code "
        "in Blender. BLD_REMOTE_MCP_AUTH overrides it",
    )

    log_level: bpy.props.EnumProperty(
        name="Log level", default="INFO", update=_apply_log_level,
        items=[(level, level.title(), f"Log {level.lower()} and above to Blender's console")
               for level in ("DEBUG", "INFO", "WARNING", "ERROR")],
        description="What the addon logs to Blender's console (stderr). BLD_REMOTE_LOG_LEVEL overrides it",
    )

    def draw(self, _context):
        layout = self.layout
        row = layout.row()
        row.prop(self, "port")
        row.prop(self, "auto_start")
        row = layout.row()
        row.prop(self, "auth")
        row.prop(self, "log_level")
        if not self.auth:
            box = layout.box()
            box.label(text="Without a token, any local program or user can run code in this Blender.",
                      icon="ERROR")
        service = api.get_service()
        if service is not None and service.running:
            layout.label(text=f"Running on 127.0.0.1:{service.port} "
                              f"({'token required' if service.token else 'no token'})", icon="CHECKMARK")
            if service.token:
                layout.label(text=f"Token: {service.token}", icon="KEYINGSET")
            if service.token_file:
                layout.label(text=f"Token file: {service.token_file}")
            layout.operator("bld_remote.copy_mcp_config", icon="COPYDOWN")
            layout.label(text="bld-remote mcp reads the token from that file: it is not part of the config.")
        else:
            layout.label(text="Stopped", icon="PAUSE")


def register():
    bpy.utils.register_class(BldRemotePreferences)


def unregister():
    bpy.utils.unregister_class(BldRemotePreferences)
