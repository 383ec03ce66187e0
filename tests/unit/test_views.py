"""views: named views and angles for get_viewport_screenshot, checked against the geometry of
Blender's view rotation (the view looks down its local -Z)."""

import math

import pytest

from bld_remote_mcp.blender import views


def _rotate(euler_xyz, vector):
    """Apply an XYZ Euler rotation (Blender's convention: X, then Y, then Z) to a vector."""
    x, y, z = vector
    rx, ry, rz = euler_xyz
    y, z = y * math.cos(rx) - z * math.sin(rx), y * math.sin(rx) + z * math.cos(rx)
    x, z = x * math.cos(ry) + z * math.sin(ry), -x * math.sin(ry) + z * math.cos(ry)
    x, y = x * math.cos(rz) - y * math.sin(rz), x * math.sin(rz) + y * math.cos(rz)
    return x, y, z


@pytest.mark.parametrize("name", sorted(views.NAMED_VIEWS))
def test_each_named_view_looks_toward_the_scene_from_its_side(name):
    azimuth, elevation = views.resolve(name)
    toward_viewer = views.direction(azimuth, elevation)
    # The view's local +Z points at the viewer (it looks down -Z).
    local_z = _rotate(views.euler(azimuth, elevation), (0.0, 0.0, 1.0))
    assert local_z == pytest.approx(toward_viewer, abs=1e-9)


def test_named_directions_are_the_sides_they_name():
    assert views.direction(*views.resolve("front")) == pytest.approx((0, -1, 0))
    assert views.direction(*views.resolve("right")) == pytest.approx((1, 0, 0))
    assert views.direction(*views.resolve("top")) == pytest.approx((0, 0, 1))
    assert views.direction(*views.resolve("bottom")) == pytest.approx((0, 0, -1))


def test_current_and_camera_keep_no_angle_and_angle_needs_one():
    assert views.resolve("current") is None and views.resolve("camera") is None
    assert views.resolve("angle", azimuth=370, elevation=20) == (10.0, 20.0)
    assert views.resolve("angle", elevation=45) == (0.0, 45.0)
    for kwargs, param in (({}, "azimuth"), ({"elevation": 91}, "elevation")):
        with pytest.raises(views.ViewError) as err:
            views.resolve("angle", **kwargs)
        assert err.value.param == param


def test_unknown_views_and_shadings_and_stray_angles_are_refused_with_the_param():
    with pytest.raises(views.ViewError) as err:
        views.resolve("sideways")
    assert err.value.param == "view" and "front" in str(err.value)
    with pytest.raises(views.ViewError) as err:
        views.resolve("top", azimuth=10)
    assert err.value.param == "azimuth"
    assert views.check_shading("wireframe") == "wireframe"
    with pytest.raises(views.ViewError) as err:
        views.check_shading("toon")
    assert err.value.param == "shading"


def test_framing_leaves_out_a_ground_plane_when_there_is_something_else():
    ground = ((-50.0, -50.0, 0.0), (50.0, 50.0, 0.0))
    backdrop = ((-20.0, 10.0, 0.0), (20.0, 10.2, 15.0))
    cube = ((-1.0, -1.0, 0.0), (1.0, 1.0, 2.0))
    sphere = ((2.0, 2.0, 0.0), (3.0, 3.0, 1.0))
    assert views.framed([ground, cube, sphere]) == [1, 2]
    assert views.framed([ground, backdrop, cube]) == [2], "a thin backdrop is a plane too"
    assert views.framed([ground]) == [0], "a plane alone is what there is to see"
    assert views.framed([]) == []
    point = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    assert views.framed([point, cube]) == [0, 1], "an empty box is not flat (no width to compare)"
