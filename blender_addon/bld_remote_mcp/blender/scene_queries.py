"""Scene queries: get_scene_info (paginated, never capped) and get_object_info."""

from ..commands import command
from ..wire import errors, params
from ..wire.replies import CommandError

_DIGITS = 5


def _vec(values):
    return [round(float(v), _DIGITS) for v in values]


def _object_summary(obj):
    summary = {
        "name": obj.name,
        "type": obj.type,
        "location": _vec(obj.location),
        "visible": obj.visible_get(),
    }
    if obj.parent is not None:
        summary["parent"] = obj.parent.name
    return summary


@command("get_scene_info", main_thread=True)
def get_scene_info(ctx, p):
    import bpy

    limit = params.get(p, "limit", (int,), None)
    offset = params.get(p, "offset", (int,), 0)
    if limit is not None and limit < 0:
        raise CommandError(errors.INVALID_PARAMS, "param 'limit' must be >= 0", param="limit")
    if offset < 0:
        raise CommandError(errors.INVALID_PARAMS, "param 'offset' must be >= 0", param="offset")
    scene = bpy.context.scene
    objects = scene.objects
    total = len(objects)
    end = total if limit is None else min(total, offset + limit)
    page = [_object_summary(obj) for obj in objects[offset:end]] if offset < total else []
    active = bpy.context.view_layer.objects.active if bpy.context.view_layer else None
    return {
        "name": scene.name,
        "object_count": total,
        "objects": page,
        "offset": offset,
        "limit": limit,
        "has_more": end < total,
        "next_offset": end if end < total else None,
        "materials_count": len(bpy.data.materials),
        "frame_current": scene.frame_current,
        "frame_start": scene.frame_start,
        "frame_end": scene.frame_end,
        "render_engine": scene.render.engine,
        "active_object": active.name if active is not None else None,
        "file": bpy.data.filepath or None,
    }


@command("get_object_info", main_thread=True)
def get_object_info(ctx, p):
    import bpy

    # 1.3.3 calls it `name`; the MCP tool calls it `object_name`.
    key = "object_name" if "object_name" in p else "name"
    name = params.get(p, key, (str,))
    obj = bpy.data.objects.get(name)
    if obj is None:
        raise CommandError(errors.NOT_FOUND, f"Object not found: {name}", object_name=name)
    info = {
        "name": obj.name,
        "type": obj.type,
        "location": _vec(obj.location),
        "rotation": _vec(obj.rotation_euler),
        "rotation_mode": obj.rotation_mode,
        "scale": _vec(obj.scale),
        "dimensions": _vec(obj.dimensions),
        "visible": obj.visible_get(),
        "parent": obj.parent.name if obj.parent is not None else None,
        "children": [child.name for child in obj.children],
        "collections": [c.name for c in obj.users_collection],
        "materials": [slot.material.name for slot in obj.material_slots if slot.material is not None],
        "modifiers": [{"name": m.name, "type": m.type} for m in obj.modifiers],
        "data": obj.data.name if obj.data is not None else None,
    }
    if obj.type == "MESH" and obj.data is not None:
        mesh = obj.data
        info["mesh"] = {"vertices": len(mesh.vertices), "edges": len(mesh.edges), "polygons": len(mesh.polygons)}
    return info
