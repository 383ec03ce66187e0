"""get_viewport_screenshot: the 3D view in the GUI, a quick Workbench render when headless;
optionally from a named view or angle and in a shading mode (views.py), the same parameters in
both modes.

v1 callers get the PNG inline (base64); 1.3.3 callers get the file path they expect (their
client reads and deletes the file). With ``filepath`` the image is written there instead.
"""

import base64
import math
import os
import uuid

from .. import params, views
from ..replies import CommandError
from . import command

_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


def _temp_path(folder, extension):
    # In the service's private temp dir (0700): another user cannot read or replace the image.
    return os.path.join(folder, f"bld_remote_screenshot_{uuid.uuid4().hex}.{extension}")


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


def _temporary_camera(scene, angles=None):
    """A camera framing every visible object: from `angles` (azimuth, elevation), or from the
    front-right and above for scenes that have no camera."""
    import bpy
    from mathutils import Euler, Vector

    data = bpy.data.cameras.new("bld_remote_preview_camera")
    camera = bpy.data.objects.new("bld_remote_preview_camera", data)
    scene.collection.objects.link(camera)
    center, radius = _scene_bounds(scene)
    distance = radius / math.tan(data.angle / 2.0) * 1.1
    if angles is None:
        direction = Vector((1.0, -1.0, 0.7)).normalized()
        camera.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
    else:
        direction = Vector(views.direction(*angles))
        camera.rotation_euler = Euler(views.euler(*angles), "XYZ")
    camera.location = center + direction * distance
    data.clip_start = min(data.clip_start, max(0.001, distance - radius * 2))
    data.clip_end = max(data.clip_end, distance + radius * 4)
    return camera


def _set_render_shading(scene, shading):
    """Headless: the render engine and Workbench settings for a shading mode."""
    render, shading_settings = scene.render, scene.display.shading
    if shading == "rendered":
        render.engine = "CYCLES"
        scene.cycles.samples = 16
        scene.cycles.use_denoising = False  # denoising is slow on these machines (and optional)
        return
    render.engine = "BLENDER_WORKBENCH"
    if shading == "wireframe":
        shading_settings.type = "WIREFRAME"
    elif shading in ("solid", "material"):
        shading_settings.type = "SOLID"
        shading_settings.color_type = "MATERIAL" if shading == "material" else "OBJECT"


def _render_preview(path, max_size, file_format, view="current", angles=None, shading="current"):
    """Headless: render the scene at the requested size (Workbench, or Cycles for `rendered`)
    from the scene camera, or from a temporary one for a named view or angle; restores every
    setting it touched."""
    import bpy

    scene = bpy.context.scene
    render = scene.render
    display = scene.display.shading
    saved = {
        "engine": render.engine,
        "resolution_x": render.resolution_x,
        "resolution_y": render.resolution_y,
        "resolution_percentage": render.resolution_percentage,
        "filepath": render.filepath,
    }
    saved_display = {"type": display.type, "color_type": display.color_type}
    saved_cycles = {"samples": scene.cycles.samples, "use_denoising": scene.cycles.use_denoising}
    saved_format = render.image_settings.file_format
    saved_camera = scene.camera
    temp_camera = None
    width, height = _fit_size(render.resolution_x, render.resolution_y, max_size)
    try:
        if angles is not None or scene.camera is None:
            temp_camera = _temporary_camera(scene, angles)
            scene.camera = temp_camera
        render.engine = "BLENDER_WORKBENCH"
        if shading != "current":
            _set_render_shading(scene, shading)
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = file_format
        render.filepath = path
        bpy.ops.render.render(write_still=True)
    finally:
        for key, value in saved.items():
            setattr(render, key, value)
        for key, value in saved_display.items():
            setattr(display, key, value)
        for key, value in saved_cycles.items():
            setattr(scene.cycles, key, value)
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


def _capture_viewport(path, max_size, file_format, view="current", angles=None, shading="current"):
    """GUI: capture the 3D view area as the user sees it, scaled to fit ``max_size``; with a
    view or shading other than `current`, as seen from there or so shaded, then the user's
    view and shading are put back."""
    import bpy
    from mathutils import Euler

    window, area, region = _find_view3d()
    if area is None:
        raise CommandError("not_found", "no 3D viewport is open in any window")
    space = area.spaces.active
    r3d = space.region_3d
    saved = (r3d.view_perspective, r3d.view_rotation.copy(), r3d.view_location.copy(), r3d.view_distance,
             space.shading.type)
    scene = bpy.context.scene
    temp_camera = None
    try:
        if shading != "current":
            space.shading.type = views.VIEWPORT_SHADING[shading]
        if view == "camera":
            if scene.camera is None:
                temp_camera = _temporary_camera(scene)
                scene.camera = temp_camera
            r3d.view_perspective = "CAMERA"
        elif angles is not None:
            center, radius = _scene_bounds(scene)
            r3d.view_perspective = "PERSP"
            r3d.view_rotation = Euler(views.euler(*angles), "XYZ").to_quaternion()
            r3d.view_location = center
            r3d.view_distance = radius * 3.0
        if view != "current" or shading != "current":
            # Draw the changed view before capturing it. (Inside the area override below, the
            # redraw leaves screenshot_area a 1x1 picture.)
            with bpy.context.temp_override(window=window, screen=window.screen):
                bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
        with bpy.context.temp_override(window=window, area=area, region=region, screen=window.screen):
            bpy.ops.screen.screenshot_area(filepath=path)
    finally:
        r3d.view_perspective, r3d.view_rotation, r3d.view_location, r3d.view_distance, space.shading.type = saved
        if temp_camera is not None:
            scene.camera = None
            camera_data = temp_camera.data
            bpy.data.objects.remove(temp_camera)
            bpy.data.cameras.remove(camera_data)
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


def _degrees(p, name):
    value = params.get(p, name, (int, float), None)
    if isinstance(value, bool):
        raise CommandError("invalid_params", f"param '{name}' must be a number of degrees", param=name)
    return value


@command("get_viewport_screenshot", main_thread=True)
def get_viewport_screenshot(ctx, p):
    import bpy

    max_size = params.get(p, "max_size", (int,), 800)
    if not 16 <= max_size <= 8192:
        raise CommandError("invalid_params", "param 'max_size' must be within 16..8192", param="max_size")
    fmt = params.choice(p, "format", tuple(_FORMATS), "png")
    filepath = params.get(p, "filepath", (str,), None)
    view = params.get(p, "view", (str,), "current")
    shading = params.get(p, "shading", (str,), "current")
    try:
        angles = views.resolve(view, _degrees(p, "azimuth"), _degrees(p, "elevation"))
        views.check_shading(shading)
    except views.ViewError as exc:
        raise CommandError("invalid_params", str(exc), param=exc.param)
    extension = "jpg" if fmt in ("jpg", "jpeg") else "png"
    path = os.path.abspath(filepath) if filepath else _temp_path(ctx.service.private_tmp, extension)
    if bpy.app.background:
        width, height = _render_preview(path, max_size, _FORMATS[fmt], view, angles, shading)
        source = "render"
    else:
        width, height = _capture_viewport(path, max_size, _FORMATS[fmt], view, angles, shading)
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
