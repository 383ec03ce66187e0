"""The command table: one module per command family, each registering its handlers here.

A handler is ``fn(ctx, params) -> result`` and raises ``CommandError`` for errors the caller
should see. ``main_thread=True`` handlers touch bpy and are run through the main-thread queue
by the dispatcher; the others answer on the client's thread, even while a job holds the main
thread.

The families that need no bpy live here (pure); the two that read the scene live with the rest
of the Blender-facing code: ``blender/scene_queries.py`` and ``blender/screenshot.py``.
"""

COMMANDS = {}


class Command:
    __slots__ = ("name", "handler", "main_thread")

    def __init__(self, name, handler, main_thread):
        self.name = name
        self.handler = handler
        self.main_thread = main_thread


def command(name, main_thread=False):
    def register(fn):
        if name in COMMANDS:
            raise ValueError(f"command {name!r} registered twice")
        COMMANDS[name] = Command(name, fn, main_thread)
        return fn

    return register


class Envelope(dict):
    """A handler result that is an execution envelope: its fields go at the top of the reply."""


def load():
    """Import every command module (their decorators fill COMMANDS). The Blender-facing ones
    import bpy only when a handler runs, so the table loads without Blender too."""
    from . import control, execute, jobs, persist  # noqa: F401
    from ..blender import scene_queries, screenshot  # noqa: F401  (after these: the table's order as before)

    return COMMANDS
