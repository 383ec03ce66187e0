"""get_viewport_screenshot: the 3D view in the GUI, a quick Workbench render when headless.

v1 callers get the PNG inline (base64); 1.3.3 callers get the file path they expect (their
client reads and deletes the file). With ``filepath`` the image is written there instead.
"""

import base64
import math
import os
import tempfile
import uuid

from .. import params
from ..replies import CommandError
from . import command

_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


def _temp_path(extension):
    return os.path.join(tempfile.gettempdir(), f"bld_remote_screenshot_{uuid.uuid4().hex}.{extension}")


def _fit_size(width, height, max_size):
    scale = min(1.0, max_size / float(max(width, height)))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def _scene_bounds(scene):
    from mathutils import Vector

    corners = []
    for obj in scene.objects:
        if obj.type in {"MESH", "CURVE", "SURFACE", "META", "FONT"} and obj.visible_get():
            corners.extend(obj.matrix_world @ Vector(c) for c in obj.bound_box)
    if not corners:
        return Vector((0.0, 0.0, 0.0)), 1.0
    low = Vector((min(c.x for c in corners), min(c.y for c in corners), min(c.z for c in corners)))
    high = Vector((max(c.x for c in corners), max(c.y for c in corners), max(c.z for c in corners)))
    return (low + high) / 2.0, max((high - low).length / 2.0, 0.1)


def _temporary_camera(scene):
    """A camera framing every visible object, for scenes that have none."""
    import bpy
    from mathutils import Vector

    data = bpy.data.cameras.new("bld_remote_preview_camera")
    camera = bpy.data.objects.new("bld_remote_preview_camera", data)
    scene.collection.objects.link(camera)
    center, radius = _scene_bounds(scene)
    direction = Vector((1.0, -1.0, 0.7)).normalized()
    distance = radius / math.tan(data.angle / 2.0) * 1.1
    camera.location = center + direction * distance
    camera.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
    data.clip_end = max(data.clip_end, distance + radius * 4)
    return camera


def _render_preview(path, max_size, file_format):
    """Headless: render the scene with Workbench at the requested size, restoring every setting."""
    import bpy

    scene = bpy.context.scene
    render = scene.render
    saved = {
        "engine": render.engine,
        "resolution_x": render.resolution_x,
        "resolution_y": render.resolution_y,
        "resolution_percentage": render.resolution_percentage,
        "filepath": render.filepath,
    }
    saved_format = render.image_settings.file_format
    saved_camera = scene.camera
    temp_camera = None
    width, height = _fit_size(render.resolution_x, render.resolution_y, max_size)
    try:
        if scene.camera is None:
            temp_camera = _temporary_camera(scene)
            scene.camera = temp_camera
        render.engine = "BLENDER_WORKBENCH"
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = file_format
        render.filepath = path
        bpy.ops.render.render(write_still=True)
    finally:
        for key, value in saved.items():
            setattr(render, key, value)
        render.image_settings.file_format = saved_format
        scene.camera = saved_camera
        if temp_camera is not None:
            camera_data = temp_camera.data
            bpy.data.objects.remove(temp_camera)
            bpy.data.cameras.remove(camera_data)
    if not os.path.exists(path):
        raise CommandError("internal_error", "the preview render produced no image")
    return width, height


def _find_view3d():
    import bpy

    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                region = next((r for r in area.regions if r.type == "WINDOW"), None)
                return window, area, region
    return None, None, None


def _capture_viewport(path, max_size, file_format):
    """GUI: capture the 3D view area as the user sees it, scaled to fit ``max_size``."""
    import bpy

    window, area, region = _find_view3d()
    if area is None:
        raise CommandError("not_found", "no 3D viewport is open in any window")
    with bpy.context.temp_override(window=window, area=area, region=region, screen=window.screen):
        bpy.ops.screen.screenshot_area(filepath=path)
    image = bpy.data.images.load(path)
    try:
        width, height = image.size
        new_width, new_height = _fit_size(width, height, max_size)
        if (new_width, new_height) != (width, height) or file_format != "PNG":
            image.scale(new_width, new_height)
            image.file_format = file_format
            image.filepath_raw = path
            image.save()
        return new_width, new_height
    finally:
        bpy.data.images.remove(image)


@command("get_viewport_screenshot", main_thread=True)
def get_viewport_screenshot(ctx, p):
    import bpy

    max_size = params.get(p, "max_size", (int,), 800)
    if not 16 <= max_size <= 8192:
        raise CommandError("invalid_params", "param 'max_size' must be within 16..8192", param="max_size")
    fmt = params.choice(p, "format", tuple(_FORMATS), "png")
    filepath = params.get(p, "filepath", (str,), None)
    extension = "jpg" if fmt in ("jpg", "jpeg") else "png"
    path = os.path.abspath(filepath) if filepath else _temp_path(extension)
    if bpy.app.background:
        width, height = _render_preview(path, max_size, _FORMATS[fmt])
        source = "render"
    else:
        width, height = _capture_viewport(path, max_size, _FORMATS[fmt])
        source = "viewport"
    if ctx.style == "legacy" or filepath:
        return {"success": True, "width": width, "height": height, "filepath": path, "format": extension,
                "source": source}
    try:
        with open(path, "rb") as image_file:
            data = image_file.read()
    finally:
        os.remove(path)
    return {
        "width": width,
        "height": height,
        "format": extension,
        "mime_type": "image/png" if extension == "png" else "image/jpeg",
        "source": source,
        "image_base64": base64.b64encode(data).decode("ascii"),
    }
