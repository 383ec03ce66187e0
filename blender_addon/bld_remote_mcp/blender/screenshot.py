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

from ..commands import command
from ..wire import errors, params
from ..wire.replies import CommandError
from . import compat, views

_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


def _temp_path(folder, extension):
    # In the service's private temp dir (0700): another user cannot read or replace the image.
    return os.path.join(folder, f"bld_remote_screenshot_{uuid.uuid4().hex}.{extension}")


def _fit_size(width, height, max_size):
    scale = min(1.0, max_size / float(max(width, height)))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def _scene_bounds(scene):
    """Center and radius of what a framing camera shows: every visible object, but a ground or
    backdrop plane only when there is nothing else (views.framed)."""
    from mathutils import Vector

    boxes = []
    for obj in scene.objects:
        if obj.type in {"MESH", "CURVE", "SURFACE", "META", "FONT"} and obj.visible_get():
            world = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
            boxes.append(world)
    keep = views.framed([(tuple(min(c[i] for c in box) for i in range(3)),
                          tuple(max(c[i] for c in box) for i in range(3))) for box in boxes])
    corners = [corner for i in keep for corner in boxes[i]]
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
    """Headless: the render engine and Workbench settings for a shading mode. `solid` looks like
    the GUI's default solid view; `material` adds shadows and cavity. Both show each material's
    colour (see _node_colours_as_viewport_colours)."""
    render, shading_settings = scene.render, scene.display.shading
    if shading == "rendered":
        render.engine = "CYCLES"
        scene.cycles.samples = 16
        scene.cycles.use_denoising = False  # denoising is slow on these machines (and optional)
        return
    render.engine = "BLENDER_WORKBENCH"
    if shading == "wireframe":
        # Drawing the wires the Wireframe modifiers make (_wireframe_modifiers): a final render
        # draws no WIREFRAME shading type (compat).
        shading_settings.type = compat.wireframe_render_shading_type()
    elif shading in ("solid", "material"):
        shading_settings.type = "SOLID"
        shading_settings.light = "STUDIO"
        shading_settings.color_type = "MATERIAL"
        shading_settings.show_shadows = shading == "material"
        shading_settings.show_cavity = shading == "material"


def _wireframe_modifiers(scene):
    """For the capture only: a Wireframe modifier on every visible mesh (Workbench's final
    render has no wireframe mode: it draws solid whatever the shading type says). Returns them,
    to be removed afterwards."""
    _center, radius = _scene_bounds(scene)
    added = []
    for obj in scene.objects:
        if obj.type == "MESH" and obj.visible_get():
            modifier = obj.modifiers.new("bld_remote_wireframe", "WIREFRAME")
            modifier.thickness = max(radius * 0.015, 1e-4)
            modifier.use_replace = True
            added.append((obj, modifier))
    return added


_COLOUR_INPUTS = {"BSDF_PRINCIPLED": "Base Color", "BSDF_DIFFUSE": "Color", "EMISSION": "Color"}


def _node_colours_as_viewport_colours(scene):
    """For the capture only: each material's viewport colour (what Workbench shows) set from
    the colour its nodes give it (Principled Base Color, Diffuse or Emission Color, when not
    driven by a texture), so that an agent that coloured objects the usual way sees the colours.
    Returns what to put back."""
    saved = []
    seen = set()
    version = compat.blender_version()
    for obj in scene.objects:
        for slot in getattr(obj, "material_slots", ()):
            material = slot.material
            if (material is None or material.name in seen or not compat.material_uses_nodes(material, version)
                    or not material.node_tree):
                continue
            seen.add(material.name)
            for node in material.node_tree.nodes:
                name = _COLOUR_INPUTS.get(node.type)
                socket = node.inputs.get(name) if name else None
                if socket is not None and not socket.is_linked:
                    saved.append((material, tuple(material.diffuse_color)))
                    material.diffuse_color = tuple(socket.default_value[:3]) + (1.0,)
                    break
    return saved


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
    saved_display = {name: getattr(display, name)
                     for name in ("type", "color_type", "light", "show_shadows", "show_cavity")}
    saved_cycles = {"samples": scene.cycles.samples, "use_denoising": scene.cycles.use_denoising}
    saved_format = render.image_settings.file_format
    saved_camera = scene.camera
    temp_camera = None
    saved_colours = []
    wireframes = []
    width, height = _fit_size(render.resolution_x, render.resolution_y, max_size)
    try:
        if angles is not None or scene.camera is None:
            temp_camera = _temporary_camera(scene, angles)
            scene.camera = temp_camera
        render.engine = "BLENDER_WORKBENCH"
        if shading != "current":
            _set_render_shading(scene, shading)
        if shading in ("solid", "material"):
            saved_colours = _node_colours_as_viewport_colours(scene)
        if shading == "wireframe":
            wireframes = _wireframe_modifiers(scene)
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = file_format
        render.filepath = path
        bpy.ops.render.render(write_still=True)
    finally:
        for obj, modifier in wireframes:
            obj.modifiers.remove(modifier)
        for material, colour in saved_colours:
            material.diffuse_color = colour
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
        raise CommandError(errors.INTERNAL_ERROR, "the preview render produced no image")
    return width, height, "framing" if temp_camera is not None else "scene"


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
        raise CommandError(errors.NOT_FOUND, "no 3D viewport is open in any window")
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
        raise CommandError(errors.INVALID_PARAMS, f"param '{name}' must be a number of degrees", param=name)
    return value


@command("get_viewport_screenshot", main_thread=True)
def get_viewport_screenshot(ctx, p):
    import bpy

    max_size = params.get(p, "max_size", (int,), 800)
    if not 16 <= max_size <= 8192:
        raise CommandError(errors.INVALID_PARAMS, "param 'max_size' must be within 16..8192", param="max_size")
    fmt = params.choice(p, "format", tuple(_FORMATS), "png")
    filepath = params.get(p, "filepath", (str,), None)
    view = params.get(p, "view", (str,), "current")
    shading = params.get(p, "shading", (str,), "current")
    try:
        angles = views.resolve(view, _degrees(p, "azimuth"), _degrees(p, "elevation"))
        views.check_shading(shading)
    except views.ViewError as exc:
        raise CommandError(errors.INVALID_PARAMS, str(exc), param=exc.param)
    extension = "jpg" if fmt in ("jpg", "jpeg") else "png"
    path = os.path.abspath(filepath) if filepath else _temp_path(ctx.service.private_tmp, extension)
    camera = None
    if bpy.app.background:
        width, height, camera = _render_preview(path, max_size, _FORMATS[fmt], view, angles, shading)
        source = "render"
    else:
        width, height = _capture_viewport(path, max_size, _FORMATS[fmt], view, angles, shading)
        source = "viewport"
    if ctx.style == "legacy" or filepath:
        return {"success": True, "width": width, "height": height, "filepath": path, "format": extension,
                "source": source, "camera": camera}
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
        "camera": camera,
        "image_base64": base64.b64encode(data).decode("ascii"),
    }
