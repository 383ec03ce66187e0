"""Scene queries, screenshots, persist data and the other commands, against real Blender."""

import base64
import os

from wire_client import legacy_call
from pngcheck import decode, distinct_colours


def test_scene_info_is_paginated_and_not_capped(client):
    client.ok("for i in range(25):\n    bpy.ops.mesh.primitive_cube_add(location=(i, 0, 0))")
    try:
        full = client.call("get_scene_info")["result"]
        assert full["object_count"] >= 28 and len(full["objects"]) == full["object_count"]
        assert full["has_more"] is False
        names = [o["name"] for o in full["objects"]]
        page = client.call("get_scene_info", {"limit": 10, "offset": 20})["result"]
        assert [o["name"] for o in page["objects"]] == names[20:30]
        assert page["has_more"] is (full["object_count"] > 30)
        assert page["offset"] == 20 and page["limit"] == 10
        beyond = client.call("get_scene_info", {"offset": 10_000})["result"]
        assert beyond["objects"] == [] and beyond["has_more"] is False
        first = full["objects"][0]
        assert set(first) >= {"name", "type", "location", "visible"}
    finally:
        client.ok("for o in [o for o in bpy.data.objects if o.name.startswith('Cube.')]:\n    bpy.data.objects.remove(o)")


def test_scene_info_rejects_bad_pagination(client):
    reply = client.call("get_scene_info", {"limit": -1})
    assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "limit"
    reply = client.call("get_scene_info", {"offset": "2"})
    assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "offset"


def test_object_info(client):
    info = client.call("get_object_info", {"object_name": "Cube"})["result"]
    assert info["name"] == "Cube" and info["type"] == "MESH"
    assert info["mesh"] == {"vertices": 8, "edges": 12, "polygons": 6}
    assert info["dimensions"] == [2.0, 2.0, 2.0]
    assert client.call("get_object_info", {"name": "Camera"})["result"]["type"] == "CAMERA"
    missing = client.call("get_object_info", {"object_name": "Nope"})
    assert missing["status"] == "error" and missing["error"]["code"] == "not_found"
    assert "Nope" in missing["error"]["message"]


def test_background_screenshot_is_a_real_render(client):
    reply = client.call("get_viewport_screenshot", {"max_size": 160})
    assert reply["status"] == "success", reply
    result = reply["result"]
    assert result["source"] == "render" and result["format"] == "png"
    data = base64.b64decode(result["image_base64"])
    width, height, _channels, _rows = decode(data)
    assert (width, height) == (result["width"], result["height"])
    assert max(width, height) == 160
    assert distinct_colours(data) > 5, "the render is blank"
    # The scene's settings are restored after the preview render.
    engine = client.ok("bpy.context.scene.render.engine")["result"]
    assert engine != "BLENDER_WORKBENCH"


def test_screenshot_of_a_scene_without_camera(client):
    client.ok("cam = bpy.data.objects['Camera']\nscene_cam = bpy.context.scene.camera\nbpy.context.scene.camera = None")
    try:
        result = client.call("get_viewport_screenshot", {"max_size": 64})["result"]
        assert distinct_colours(base64.b64decode(result["image_base64"]), step=3) > 3
        assert "bld_remote_preview_camera" not in client.ok("[o.name for o in bpy.data.objects]")["result"]
    finally:
        client.ok("bpy.context.scene.camera = scene_cam")


def test_screenshot_to_a_file_and_for_legacy_clients(legacy_backend, tmp_path):
    backend = legacy_backend
    path = tmp_path / "shot.png"
    with backend.client() as c:
        result = c.call("get_viewport_screenshot", {"max_size": 100, "filepath": str(path)})["result"]
    assert result["filepath"] == str(path) and path.exists()
    assert decode(path.read_bytes())[0] == result["width"]
    legacy = legacy_call(backend.port, {"type": "get_viewport_screenshot", "params": {"max_size": 90}})
    assert legacy["status"] == "success" and legacy["result"]["success"] is True
    legacy_path = legacy["result"]["filepath"]
    assert os.path.exists(legacy_path)
    assert max(decode(open(legacy_path, "rb").read())[:2]) == 90
    os.remove(legacy_path)


def test_screenshot_rejects_bad_params(client):
    assert client.call("get_viewport_screenshot", {"max_size": 5})["error"]["param"] == "max_size"
    assert client.call("get_viewport_screenshot", {"format": "gif"})["error"]["param"] == "format"


def test_persist_data_commands(backend):
    with backend.client() as one, backend.client() as two:
        assert one.call("put_persist_data", {"key": "answer", "data": {"n": 42}})["status"] == "success"
        assert two.call("get_persist_data", {"key": "answer"})["result"] == {"data": {"n": 42}, "found": True}
        # Code in Blender sees the same store through the 1.3.3 module.
        assert two.ok("import bld_remote\nbld_remote.persist.get_data('answer')")["result"] == {"n": 42}
        assert two.call("remove_persist_data", {"key": "answer"})["result"] == {"removed": True}
        assert one.call("remove_persist_data", {"key": "answer"})["result"] == {"removed": False}
        missing = one.call("get_persist_data", {"key": "answer", "default": "none"})["result"]
        assert missing == {"data": "none", "found": False}
        assert one.call("put_persist_data", {"key": "x"})["error"]["param"] == "data"


def test_polyhaven_status(client):
    result = client.call("get_polyhaven_status")["result"]
    assert result["enabled"] is False and result["reason"]


def test_status_command(backend):
    with backend.client() as c:
        status = c.call("status")["result"]
    assert status["running"] is True and status["port"] == backend.port
    assert status["connections"] >= 1 and status["rss_bytes"] > 0


def test_server_shutdown_stops_background_blender(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_AUTH": "off"})
    reply = legacy_call(instance.port, {"type": "server_shutdown", "params": {}})
    assert reply["status"] == "success"
    assert instance.wait_exit(20) == 0


def test_bld_remote_module_keeps_the_133_api(client):
    code = (
        "import bld_remote\n"
        "try:\n"
        "    bld_remote.set_mcp_service_port(7000)\n"
        "    refused = False\n"
        "except RuntimeError:\n"
        "    refused = True\n"
        "status = bld_remote.get_status()\n"
        "(refused, bld_remote.is_background_mode(), bld_remote.is_mcp_service_up(),\n"
        " status['running'], status['port'] == bld_remote.get_mcp_service_port(),\n"
        " sorted(bld_remote.get_startup_options()), callable(bld_remote.step))"
    )
    refused, background, up, running, same_port, options, has_step = client.ok(code)["result"]
    assert refused is True, "the port cannot change while the service runs"
    assert background is True and up is True and running is True and same_port is True
    assert "BLD_REMOTE_MCP_PORT" in options and "BLD_REMOTE_MCP_START_NOW" in options
    assert has_step is True
