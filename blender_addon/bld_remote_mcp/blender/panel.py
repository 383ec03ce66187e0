"""The 3D view's sidebar tab "BLD Remote" and its operators: server state with start/stop, port,
connected clients, the last calls with their errors, "cancel running call" and "copy MCP
config".

bpy-facing: imported only by ``register()``. What it shows comes from ui_model (pure).
"""

import bpy

from . import api, ui_model


def _service():
    service = api.get_service()
    return service if service is not None and service.running else None


class BLD_REMOTE_OT_start_server(bpy.types.Operator):
    bl_idname = "bld_remote.start_server"
    bl_label = "Start server"
    bl_description = "Start the bld-remote server on 127.0.0.1 (port from the preferences)"

    def execute(self, _context):
        try:
            service = api.start_mcp_service()
        except (RuntimeError, ValueError, OSError) as exc:
            self.report({"ERROR"}, f"bld-remote: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"bld-remote listening on 127.0.0.1:{service.port}")
        return {"FINISHED"}


class BLD_REMOTE_OT_stop_server(bpy.types.Operator):
    bl_idname = "bld_remote.stop_server"
    bl_label = "Stop server"
    bl_description = "Stop the bld-remote server (Blender stays open; clients are disconnected)"

    def execute(self, _context):
        if _service() is None:
            self.report({"WARNING"}, "bld-remote is not running")
            return {"CANCELLED"}
        api.stop_mcp_service()
        self.report({"INFO"}, "bld-remote stopped")
        return {"FINISHED"}


class BLD_REMOTE_OT_cancel_running(bpy.types.Operator):
    """While agent code runs, it holds Blender's main thread and the window does not respond;
    the button takes effect between calls (a stream of queued or async calls), or when called
    from code. It stops the running call as its timeout would, and every call still queued."""

    bl_idname = "bld_remote.cancel_running"
    bl_label = "Cancel running call"
    bl_description = "Stop the agent's running call (as its timeout would) and every call still queued"

    def execute(self, _context):
        service = _service()
        jobs = [job for job in service.jobs.all() if not job.is_done()] if service is not None else []
        if not jobs:
            self.report({"WARNING"}, "no call is running or queued")
            return {"CANCELLED"}
        for job in jobs:
            service.cancel_job(job)
        self.report({"INFO"}, f"cancelling {', '.join(job.id for job in jobs)}")
        return {"FINISHED"}


class BLD_REMOTE_OT_copy_mcp_config(bpy.types.Operator):
    bl_idname = "bld_remote.copy_mcp_config"
    bl_label = "Copy MCP config"
    bl_description = ("Copy the MCP client configuration for this Blender (Claude Desktop, Cursor) to "
                      "the clipboard; bld-remote finds the token by itself")

    def execute(self, context):
        service = _service()
        port = service.port if service is not None else api.get_mcp_service_port()
        context.window_manager.clipboard = ui_model.mcp_config(port)
        self.report({"INFO"}, f"MCP config for port {port} copied")
        return {"FINISHED"}


class VIEW3D_PT_bld_remote(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "BLD Remote"
    bl_label = "bld-remote"

    def draw(self, _context):
        layout = self.layout
        service = _service()
        if service is None:
            layout.label(text="Server stopped", icon="PAUSE")
            layout.operator(BLD_REMOTE_OT_start_server.bl_idname, icon="PLAY")
            return
        status = service.status()
        layout.label(text=f"Listening on 127.0.0.1:{service.port}", icon="CHECKMARK")
        layout.label(text=f"Clients connected: {status.get('connections', 0)}", icon="LINKED")
        layout.label(text="Token required" if service.token else "No token (any local program can connect)",
                     icon="LOCKED" if service.token else "UNLOCKED")
        row = layout.row()
        row.operator(BLD_REMOTE_OT_stop_server.bl_idname, icon="PAUSE")
        row.operator(BLD_REMOTE_OT_copy_mcp_config.bl_idname, icon="COPYDOWN")
        jobs = service.jobs.all()
        cancel = layout.row()
        cancel.enabled = any(not job.is_done() for job in jobs)  # running or queued
        cancel.operator(BLD_REMOTE_OT_cancel_running.bl_idname, icon="CANCEL")
        box = layout.box()
        box.label(text="Last calls")
        rows = ui_model.recent_calls(jobs)
        if not rows:
            box.label(text="none yet")
        for row in rows:
            line = box.row()
            line.label(text=row["code"], icon=ui_model.status_icon(row["status"]))
            line.label(text=row["duration"])
            if row["error"]:
                box.label(text=row["error"], icon="BLANK1")


CLASSES = (
    BLD_REMOTE_OT_start_server,
    BLD_REMOTE_OT_stop_server,
    BLD_REMOTE_OT_cancel_running,
    BLD_REMOTE_OT_copy_mcp_config,
    VIEW3D_PT_bld_remote,
)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
