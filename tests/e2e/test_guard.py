"""Guard mode against real Blender 3.4 and 5.0: refused operations never happen, Blender work goes on."""

import pytest


@pytest.fixture(params=("bg", "bpy5"))
def guarded(request, spawn, tmp_path):
    allowed = tmp_path / "renders"
    allowed.mkdir()
    instance = spawn(request.param, env={"BLD_REMOTE_MCP_GUARD": "on", "BLD_REMOTE_MCP_GUARD_ALLOW": str(allowed)})
    return instance, allowed, tmp_path


def test_guard_refuses_programs_sockets_and_outside_writes_and_blender_work_goes_on(guarded):
    instance, allowed, outside = guarded
    marker = outside / "marker.txt"
    with instance.client() as c:
        refused = c.execute(f"import subprocess\nsubprocess.run(['touch', {str(marker)!r}])")
        assert refused["status"] == "error" and refused["error"]["code"] == "guard_refused"
        assert refused["error"]["refused"]["category"] == "subprocess"
        refused = c.execute(f"import os\nos.system('touch {marker}')")
        assert refused["error"]["refused"]["event"] == "os.system"
        refused = c.execute("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/', timeout=1)")
        assert refused["error"]["refused"]["category"] == "network", refused["error"]
        refused = c.execute(f"with open({str(marker)!r}, 'w') as f:\n    f.write('x')")
        assert refused["error"]["refused"]["category"] == "file_write"
        assert "guard mode refused writing" in refused["error"]["message"]
        assert not marker.exists(), "no refused operation took place"

        # Blender work, reads, imports and writes inside the allowed folder still work.
        ok = c.ok(
            "import bpy, json, os\n"
            "bpy.ops.mesh.primitive_cube_add()\n"
            f"path = os.path.join({str(allowed)!r}, 'scene.json')\n"
            "with open(path, 'w') as f:\n"
            "    json.dump(sorted(o.name for o in bpy.data.objects), f)\n"
            "open(path).read()"
        )
        assert "Cube" in ok["result"]
        assert (allowed / "scene.json").exists()
        status = c.call("status")["result"]
        assert status["guard"]["enabled"] is True and status["guard"]["refusals"] >= 4
        # The server's own sockets and threads are not the agent's code: still answering.
        assert c.call("ping")["status"] == "success"
