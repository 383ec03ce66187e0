"""Named views and shading modes of get_viewport_screenshot (pure: no bpy).

A view is an azimuth (degrees around Z, 0 = looking from -Y toward +Y, the "front") and an
elevation (degrees above the XY plane). Blender's view rotation for it, as an XYZ Euler, is
(90° - elevation, 0, azimuth): the view looks down its local -Z axis.
"""

import math

NAMED_VIEWS = {
    "front": (0.0, 0.0),
    "right": (90.0, 0.0),
    "back": (180.0, 0.0),
    "left": (-90.0, 0.0),
    "top": (0.0, 90.0),
    "bottom": (0.0, -90.0),
    "iso": (45.0, 35.264),  # the classic isometric angle, atan(1/sqrt(2))
}
VIEWS = ("current", "camera", "angle") + tuple(NAMED_VIEWS)
SHADINGS = ("current", "wireframe", "solid", "material", "rendered")
# The 3D view's shading.type for each mode (GUI).
VIEWPORT_SHADING = {"wireframe": "WIREFRAME", "solid": "SOLID", "material": "MATERIAL", "rendered": "RENDERED"}


class ViewError(ValueError):
    def __init__(self, param, message):
        super().__init__(message)
        self.param = param


def resolve(view, azimuth=None, elevation=None):
    """(azimuth, elevation) in degrees for a named view or `angle`; None for `current` and
    `camera` (which keep the view or use the scene camera)."""
    if view not in VIEWS:
        raise ViewError("view", f"param 'view' must be one of {', '.join(VIEWS)}, got {view!r}")
    if view != "angle":
        if azimuth is not None or elevation is not None:
            raise ViewError("azimuth" if azimuth is not None else "elevation",
                            "params 'azimuth' and 'elevation' go with view 'angle'")
        return NAMED_VIEWS.get(view)
    if azimuth is None and elevation is None:
        raise ViewError("azimuth", "view 'angle' needs 'azimuth' and/or 'elevation' (degrees)")
    elevation = 0.0 if elevation is None else float(elevation)
    if not -90.0 <= elevation <= 90.0:
        raise ViewError("elevation", f"param 'elevation' must be within -90..90 degrees, got {elevation:g}")
    return (0.0 if azimuth is None else float(azimuth)) % 360.0, elevation


def euler(azimuth, elevation):
    """Blender's XYZ Euler (radians) of a view from that azimuth and elevation."""
    return (math.radians(90.0 - elevation), 0.0, math.radians(azimuth))


def direction(azimuth, elevation):
    """Unit vector from the scene's center toward the viewer."""
    az, el = math.radians(azimuth), math.radians(elevation)
    return (math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el))


# A box this much flatter than it is wide is a ground or backdrop plane (see framed()).
FLAT_RATIO = 0.02


def framed(boxes):
    """Which of the objects' world bounding boxes ((min x, y, z), (max x, y, z)) a framing camera
    fits: all of them, except flat ones (a ground or backdrop plane: thinner than FLAT_RATIO of
    its width on some axis) when there are others. Otherwise a large ground plane makes the
    objects of interest tiny."""
    def is_flat(box):
        extents = sorted(high - low for low, high in zip(*box))
        return extents[2] > 0 and extents[0] <= FLAT_RATIO * extents[2]

    solid = [i for i, box in enumerate(boxes) if not is_flat(box)]
    return solid if solid else list(range(len(boxes)))


def check_shading(shading):
    if shading not in SHADINGS:
        raise ViewError("shading", f"param 'shading' must be one of {', '.join(SHADINGS)}, got {shading!r}")
    return shading
