"""The open .blend: loading a headless worker's baseline (``reset_blender``) and keeping the
service's copy of the open file's path current (``status.blend_file``).

bpy-facing. What a reset drops and in which order is the service's (engine/service.py); this
module only does the two things that need Blender: load a file, and read which one is open.
"""

_service = None


def load(path=None):
    """Load ``path`` (absolute), or Blender's factory startup scene when None; returns the number
    of objects then. Raises RuntimeError with Blender's reason when the file cannot be read
    (Blender then keeps the file it had open).

    Measured in background Blender 3.4, 4.2, 4.5, 5.0 and 5.3: the factory scene loads in
    2-7 ms; the addon's state lives in Python modules, not in the file, so it keeps serving.
    Handlers not marked persistent are dropped by any load (render_guards' are persistent).
    """
    import bpy

    if path:
        bpy.ops.wm.open_mainfile(filepath=path)
    else:
        bpy.ops.wm.read_homefile(use_factory_startup=True)
    return len(bpy.data.objects)


def open_file():
    """The open .blend's absolute path, "" when it was never saved (main thread only)."""
    import bpy

    return bpy.data.filepath


def _on_file_change(*_args):
    service = _service
    if service is not None:
        service.refresh_blend_file()


def watch(service):
    """Refresh ``service.blend_file`` on every load and save (GUI users open and save files
    outside any call of ours; calls refresh it anyway, after each one)."""
    global _service
    import bpy

    _service = service
    # persistent: the handler must survive the loads it watches.
    handler = bpy.app.handlers.persistent(_on_file_change)
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.save_post):
        if handler not in handlers:
            handlers.append(handler)


def unwatch():
    global _service
    import bpy

    _service = None
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.save_post):
        # By name: after a reload of scripts the handler may be an earlier import's function.
        for handler in list(handlers):
            if getattr(handler, "__name__", "") == "_on_file_change" and handler.__module__ == __name__:
                handlers.remove(handler)
