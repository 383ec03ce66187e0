"""GUI mode: a persistent Blender timer drains the main-thread queue in bounded slices.

bpy-facing. ``persistent=True`` keeps the timer across file loads; a load_post handler puts it
back should anything remove it.
"""

_service = None

# Seconds until the next tick. 0 means "next event-loop iteration": Blender's loop sleeps a few
# milliseconds when idle, so this costs little CPU and keeps request latency low.
_INTERVAL = 0.0


def _tick():
    service = _service
    if service is None:
        return None
    service.queue.run_pending(service.settings.gui_slice_seconds)
    if not service.running and service.queue.qsize() == 0:
        _detach()
        return None  # ends this timer
    return _INTERVAL


def _on_load_post(*_args):
    import bpy

    if _service is not None and not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.0, persistent=True)


def start(service):
    global _service
    import bpy

    _service = service
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.0, persistent=True)
    if _on_load_post not in bpy.app.handlers.load_post:
        # persistent: the handler itself must survive the file loads it watches.
        bpy.app.handlers.load_post.append(bpy.app.handlers.persistent(_on_load_post))


def _detach():
    global _service
    import bpy

    _service = None
    for handler in list(bpy.app.handlers.load_post):
        if getattr(handler, "__name__", "") == "_on_load_post" and handler.__module__ == __name__:
            bpy.app.handlers.load_post.remove(handler)


def stop():
    import bpy

    _detach()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
