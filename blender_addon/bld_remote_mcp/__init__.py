"""bld-remote's Blender addon: a threaded TCP server executing Python synchronously in Blender.

Importing this package needs no bpy (its pure modules are unit-tested with plain Python);
``register()`` is what Blender calls. Layout: see "Layout" in README.md, and docs/protocol.md
for the wire protocol.
"""

bl_info = {
    "name": "BLD Remote MCP (bld-remote)",
    "author": "bld-remote",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Runs in the background; `import bld_remote` in Python",
    "description": "Executes Python sent by bld-remote / MCP agents over loopback TCP and returns everything",
    "category": "System",
}


def register():
    from .blender import api, preferences, ui
    from .engine import config

    ui.register()
    api.install_module_alias()
    prefs = preferences.current()
    if prefs is not None:
        api.set_log_level(prefs["log_level"])
    restart = api.take_restart_note()
    if restart is not None:
        # Re-enabled, or Blender reloaded its scripts: come back where clients knew us.
        api.start_mcp_service(port=restart["port"], host=restart["host"], token=restart["token"])
    elif config.from_env(preferences=preferences.current()).start_now:
        api.start_mcp_service()


def unregister():
    import sys

    from .blender import api

    api.leave_restart_note()
    api.stop_mcp_service()
    if sys.modules.get("bld_remote") is api:
        del sys.modules["bld_remote"]
    from .blender import ui

    ui.unregister()
