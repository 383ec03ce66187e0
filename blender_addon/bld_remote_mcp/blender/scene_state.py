"""Before/after snapshots of the scene around a job, for the envelope's metadata.

bpy-facing (bpy is imported when a snapshot is taken, not at import time).
"""

import array

# Above this many objects, transforms are not compared (about 0.1 ms per 1,000 objects per snapshot).
TRANSFORM_LIMIT = 5000
# Names of created/deleted objects listed in the metadata; past this, counts say how many more.
NAMES_LISTED = 50
# The properties a user edits, not matrix_world: that one is only refreshed by a depsgraph update.
_TRANSFORM_PROPS = ("location", "rotation_euler", "scale")
_COUNTED = ("objects", "meshes", "materials", "collections", "cameras", "lights", "images", "node_groups",
            "scenes", "worlds", "textures", "curves", "actions")


class SceneSnapshot:
    __slots__ = ("names", "counts", "transforms", "dirty")

    def __init__(self, names, counts, transforms, dirty):
        self.names = names
        self.counts = counts
        self.transforms = transforms
        self.dirty = dirty


def take():
    import bpy

    data = bpy.data
    objects = data.objects
    names = set(objects.keys())
    counts = tuple(len(getattr(data, attr, ())) for attr in _COUNTED)
    transforms = None
    if len(names) <= TRANSFORM_LIMIT:
        parts = []
        for prop in _TRANSFORM_PROPS:
            buf = array.array("f", bytes(4 * 3 * len(names)))
            objects.foreach_get(prop, buf)
            parts.append(buf.tobytes())
        transforms = b"".join(parts)
    return SceneSnapshot(names, counts, transforms, bool(data.is_dirty))


def compare(before, after):
    """Metadata fields describing what the job changed."""
    created = sorted(after.names - before.names)
    deleted = sorted(before.names - after.names)
    compared_transforms = before.transforms is not None and after.transforms is not None
    changed = bool(
        created
        or deleted
        or before.counts != after.counts
        or (compared_transforms and before.transforms != after.transforms)
        or (after.dirty and not before.dirty)
    )
    metadata = {
        "objects_created": created[:NAMES_LISTED],
        "objects_deleted": deleted[:NAMES_LISTED],
        "scene_changed": changed,
        "scene_check": "full" if compared_transforms else "counts",
    }
    # Creating 20,000 objects must not make a 240 KB reply: the names are capped, the counts not.
    if len(created) > NAMES_LISTED:
        metadata["objects_created_count"] = len(created)
    if len(deleted) > NAMES_LISTED:
        metadata["objects_deleted_count"] = len(deleted)
    return metadata
