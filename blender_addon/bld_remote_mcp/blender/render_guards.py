"""Renders that would fail for a reason the agent cannot see, made to work instead.

bpy-facing. Debian's Blender 3.4 is built without OpenImageDenoise (compat), and Cycles' default
(denoising on) then fails every render with "Build without OpenImageDenoiser". In a headless
Blender this server runs, a render that would fail so has denoising turned off for that render
only (put back when it ends), and a warning says so in the call's logs.
"""

import logging

from . import compat

log = logging.getLogger("bld_remote_mcp")

_turned_off = []  # scenes whose denoising is off for the render under way


def _before_render(scene, *_args):
    cycles = getattr(scene, "cycles", None)
    if scene.render.engine != "CYCLES" or cycles is None or not cycles.use_denoising:
        return
    if compat.has_openimagedenoise():
        return
    cycles.use_denoising = False
    _turned_off.append(scene)
    log.warning("Cycles denoising turned off for this render: this Blender was built without "
                "OpenImageDenoise (it is put back after the render)")


def _after_render(*_args):
    while _turned_off:
        scene = _turned_off.pop()
        try:
            scene.cycles.use_denoising = True
        except ReferenceError:  # the scene was removed meanwhile
            pass


_HANDLERS = (("render_pre", _before_render), ("render_post", _after_render), ("render_cancel", _after_render))


def register():
    import bpy

    if not bpy.app.background:
        return  # a user's own renders in the GUI are theirs to configure
    for name, handler in _HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if handler not in handlers:
            # persistent: loading a file (reset_blender, or open_mainfile in agent code) drops
            # every handler that is not, and renders after it would fail again.
            handlers.append(bpy.app.handlers.persistent(handler))


def unregister():
    import bpy

    for name, handler in _HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
