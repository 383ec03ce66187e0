"""get_viewport_screenshot from named views, an angle and in each shading mode: a GUI Blender
under Xvfb captures its 3D view so placed and shaded (and puts the user's view back); a
headless one renders the same views. Every picture is checked: a PNG of the asked size, not
blank, and different from the other views."""

import base64
import hashlib

import pytest

from harness import CORE_BACKENDS
from pngcheck import decode, distinct_colours

SCENE = ("import bpy\n"
         "if 'Suzanne' not in bpy.data.objects:\n"
         "    bpy.ops.mesh.primitive_monkey_add(location=(2.5, 0, 0.5))\n"
         "    bpy.ops.mesh.primitive_cylinder_add(location=(0, 2.5, 0), depth=3)\n")


def _shot(client, **params):
    reply = client.call("get_viewport_screenshot", {"max_size": 200, **params})
    assert reply["status"] == "success", reply
    result = reply["result"]
    data = base64.b64decode(result["image_base64"])
    width, height, _channels, rows = decode(data)
    assert max(width, height) == 200 and (width, height) == (result["width"], result["height"]), params
    assert distinct_colours(data) > 5, f"blank picture for {params}"
    # The pixels, not the file: a PNG from a render carries its render time in its metadata.
    return hashlib.sha256(b"".join(bytes(row) for row in rows)).hexdigest(), result["source"]


@pytest.mark.parametrize("kind", ("gui",) + CORE_BACKENDS)
def test_named_views_and_an_angle_give_different_pictures(kind, request):
    instance = request.getfixturevalue(kind)
    with instance.client() as c:
        c.ok(SCENE)
        before = c.ok("r3d = next(a for a in bpy.context.window_manager.windows[0].screen.areas"
                      " if a.type == 'VIEW_3D').spaces[0].region_3d\n"
                      "tuple(r3d.view_rotation)") if kind == "gui" else None
        digests = {}
        for view in ("front", "right", "top", "iso"):
            digests[view], source = _shot(c, view=view)
        digests["angle"], _ = _shot(c, view="angle", azimuth=200, elevation=-20)
        digests["camera"], _ = _shot(c, view="camera")
        if kind == "gui":
            after = c.ok("tuple(r3d.view_rotation)")["result"]
            assert after == before["result"], "the user's view is put back"
    assert source == ("viewport" if kind == "gui" else "render")
    assert len(set(digests.values())) == len(digests), digests


@pytest.mark.parametrize("kind", ("gui",) + CORE_BACKENDS)
def test_each_shading_mode_gives_its_own_picture(kind, request):
    instance = request.getfixturevalue(kind)
    with instance.client() as c:
        c.ok(SCENE)
        digests = {shading: _shot(c, view="iso", shading=shading)[0]
                   for shading in ("wireframe", "solid", "material", "rendered")}
        if kind == "gui":
            assert c.ok("next(a for a in bpy.context.window_manager.windows[0].screen.areas"
                        " if a.type == 'VIEW_3D').spaces[0].shading.type")["result"] == "SOLID"
    # Material and solid shading look alike on a scene without materials; the others differ.
    assert len({digests["wireframe"], digests["solid"], digests["rendered"]}) == 3, digests


def test_bad_view_params_are_invalid_params_naming_the_param(bg):
    with bg.client() as c:
        for params, name in (({"view": "sideways"}, "view"), ({"shading": "toon"}, "shading"),
                             ({"view": "angle"}, "azimuth"), ({"view": "angle", "azimuth": 0, "elevation": 120},
                                                            "elevation"),
                             ({"view": "top", "azimuth": 10}, "azimuth"), ({"view": "angle", "azimuth": True}, "azimuth")):
            reply = c.call("get_viewport_screenshot", params)
            assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == name, (params, reply)
