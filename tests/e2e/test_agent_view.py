"""What an agent is told, through the official MCP SDK against real Blender (every version of
the matrix: Debian's 3.4, PyPI bpy 4.2, 4.5, 5.0 and 5.3): restarts are said truthfully, job ids never repeat across Blenders, arguments
are checked naming what was sent, replies are bounded, and headless pictures show what the agent
set. Each test is written from a reproduction in issue 14.

The sizes asserted here are deterministic (what the server sends), unlike times."""

import base64
import json
import os
import signal

import pytest

import pngcheck
from harness import CORE_BACKENDS, bpy_python
from mcp_session import build_binary, run, session, text_of

@pytest.fixture(scope="module", autouse=True)
def binary():
    return build_binary()


@pytest.fixture(params=CORE_BACKENDS)
def spawn_args(request, tmp_path):
    """`mcp --spawn` on a free port, with every Blender of the matrix: Debian's 3.4 (found on
    PATH), or through --blender a Python with PyPI bpy (4.2, 4.5, 5.0, 5.3)."""
    args = ["--spawn", "--port", "0"]
    if request.param != "bg":
        args += ["--blender", bpy_python(request.param)]
    return args


def _structured(result):
    return result.structured_content or {}


def _pid_of(result):
    return _structured(result)["result"]


GET_PID = "import os\nos.getpid()"


async def _until_dead(pid):
    """Until every thread of `pid` is gone (a killed Blender's threads outlive its main one)."""
    import asyncio

    def alive():
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            return False
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                        return True
            except FileNotFoundError:
                continue
        return False

    for _ in range(1000):
        if not alive():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"pid {pid} still alive")


def test_a_killed_blender_is_said_so_its_jobs_are_lost_and_ids_never_repeat(spawn_args, tmp_path):
    import asyncio

    async def running(client, preview):
        """Until a job whose first line is `preview` runs (list_jobs goes by the other connection)."""
        while True:
            jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
            if any(j["code_preview"] == preview and j["state"] == "running" for j in jobs):
                return
            await asyncio.sleep(0.05)

    async def body():
        async with session(spawn_args, tmp_path) as client:
            pid = _pid_of(await client.call_tool("execute_code", {"code": GET_PID}))
            job = _structured(await client.call_tool(
                "execute_code", {"code": "import time\ntime.sleep(60)", "mode": "async"}))["job_id"]
            in_flight = asyncio.ensure_future(client.call_tool("execute_code", {"code": "waiting = 1\n'never'"}))
            await running(client, "import time")
            os.kill(pid, signal.SIGKILL)
            failed = await in_flight
            assert failed.is_error is True
            text = text_of(failed)
            assert f"Blender (pid {pid}) was killed (SIGKILL)" in text, text
            assert "The next call starts a new Blender (--spawn)" in text, text
            fresh = await client.call_tool("execute_code", {"code": GET_PID})
            assert fresh.is_error is False and _pid_of(fresh) != pid
            note = _structured(fresh)["metadata"]["new_blender"]
            assert "new Blender" in note and "was killed (SIGKILL)" in note, note
            assert "variables from before are gone" in note and "variables from before are gone" in text_of(fresh)
            # The old job's id names the dead Blender: never another job's result.
            lost = await client.call_tool("get_job", {"job_id": job})
            assert lost.is_error is True
            assert f"job {job} is lost" in text_of(lost) and "was killed (SIGKILL)" in text_of(lost), text_of(lost)
            new_job = _structured(fresh)["metadata"]["job_id"]
            assert new_job.rsplit("-", 1)[0] != job.rsplit("-", 1)[0], (job, new_job)
            # Only the first reply of the new Blender is flagged.
            later = await client.call_tool("execute_code", {"code": "1"})
            assert "new_blender" not in _structured(later)["metadata"]
    run(body(), timeout=240)


def test_a_blender_killed_between_calls_is_said_so_by_the_next_one(tmp_path):
    async def body():
        async with session(["--spawn", "--port", "0"], tmp_path) as client:
            pid = _pid_of(await client.call_tool("execute_code", {"code": GET_PID}))
            os.kill(pid, signal.SIGKILL)
            # Between calls: the next one comes once it is dead (one that reaches it while it
            # dies fails, saying so: the test above).
            await _until_dead(pid)
            fresh = await client.call_tool("execute_code", {"code": GET_PID})
            assert fresh.is_error is False and _pid_of(fresh) != pid
            note = _structured(fresh)["metadata"]["new_blender"]
            assert f"Blender (pid {pid}) was killed (SIGKILL)" in note, note
    run(body(), timeout=240)


def test_a_crash_names_the_agents_line_and_the_crash_report(tmp_path):
    async def body():
        async with session(["--spawn", "--port", "0"], tmp_path) as client:
            await client.call_tool("execute_code", {"code": "x = 1"})
            crashed = await client.call_tool("execute_code", {"code": "import ctypes\n\nctypes.string_at(0)"})
            assert crashed.is_error is True
            text = text_of(crashed)
            assert "crashed (SIGSEGV) in your code, line 3" in text, text
            assert "blender.crash.txt" in text and "string_at" in text, text
            after = await client.call_tool("execute_code", {"code": "'x' in globals()"})
            assert after.structured_content["result"] is False
            assert "new Blender" in text_of(after)
    run(body(), timeout=240)


def test_sys_exit_then_the_next_call_waits_for_the_new_blender(spawn_args, tmp_path):
    async def body():
        async with session(spawn_args, tmp_path) as client:
            before = _pid_of(await client.call_tool("execute_code", {"code": GET_PID}))
            exited = await client.call_tool("execute_code", {"code": "import sys\nsys.exit(3)"})
            assert exited.is_error is False
            assert _structured(exited)["metadata"]["system_exit"] == 3
            after = await client.call_tool("execute_code", {"code": GET_PID})
            assert after.is_error is False, text_of(after)
            assert _pid_of(after) != before
            assert "exited with code 3" in _structured(after)["metadata"]["new_blender"]
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["connected"] is True
    run(body(), timeout=240)


def test_arguments_out_of_range_are_refused_naming_what_was_sent(port_args, tmp_path):
    from mcp.shared.exceptions import MCPError

    async def body():
        async with session(port_args, tmp_path) as client:
            for tool, arguments, expected in (
                ("execute_code", {"code": "1", "timeout": -5}, "timeout must be between 0.001 and 86400 seconds, got -5"),
                ("get_job", {"job_id": "job-x-1", "wait": -1}, "wait must be between 0 and 3600 seconds, got -1"),
                ("get_scene_info", {"fields": ["nosuchfield"]}, "unknown variant `nosuchfield`"),
            ):
                with pytest.raises(MCPError) as refused:
                    await client.call_tool(tool, arguments)
                assert expected in str(refused.value), (tool, str(refused.value))
            with pytest.raises(MCPError) as refused:
                await client.call_tool("get_scene_info", {"fields": ["nosuchfield"]})
            assert "`name`, `type`, `location`, `visible`, `parent`" in str(refused.value)
    run(body())


@pytest.fixture
def port_args(spawn, monkeypatch):
    """`mcp` aimed at a Blender of this test's own: these tests change scene settings and add
    objects, which other tests sharing a Blender must not see."""
    instance = spawn("bg")
    monkeypatch.setenv("BLD_REMOTE_MCP_TOKEN", instance.token)
    return ["--port", str(instance.port)]


def test_scene_info_is_a_page_with_the_way_to_the_next(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            await client.call_tool("execute_code", {"code": (
                "import bpy\nfor i in range(250):\n"
                "    bpy.data.objects.new(f'agent_empty_{i:03}', None).location = (i, 0, 0)\n"
                "    bpy.context.scene.collection.objects.link(bpy.data.objects[f'agent_empty_{i:03}'])")})
            try:
                page = await client.call_tool("get_scene_info", {})
                s = page.structured_content
                assert len(s["objects"]) == 100 and s["has_more"] is True and s["next_offset"] == 100
                text = text_of(page)
                assert "call get_scene_info with offset 100" in text, text
                assert len(text) <= 8200 and "{\"" not in text.splitlines()[-1], "never JSON cut in the middle"
                narrow = await client.call_tool("get_scene_info", {"offset": 200, "limit": 500, "fields": ["name"]})
                rows = narrow.structured_content["objects"]
                assert all(set(row) == {"name"} for row in rows) and narrow.structured_content["next_offset"] is None
            finally:
                await client.call_tool("execute_code", {"code": (
                    "import bpy\nfor o in [o for o in bpy.data.objects if o.name.startswith('agent_empty_')]:\n"
                    "    bpy.data.objects.remove(o)")})
    run(body())


def test_replies_stay_within_budget_and_say_where_the_rest_is(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            loud = await client.call_tool("execute_code", {"code": "print('x' * 5_000_000)\nlen('done')"})
            s = loud.structured_content
            assert len(json.dumps(s)) < 20_000, len(json.dumps(s))
            assert s["truncated"]["stdout"]["total_chars"] == 5_000_001
            job = s["metadata"]["job_id"]
            assert f"get_job with job_id {job}" in s["truncated"]["stdout"]["full"]
            assert len(text_of(loud)) < 9_000
            page = await client.call_tool("get_job", {"job_id": job, "stdout_offset": 4_000_000})
            assert page.structured_content["stdout_page"]["from"] == 4_000_000
            assert page.structured_content["stdout_page"]["next_offset"] == 4_006_000
            assert len(json.dumps(page.structured_content)) < 30_000

            big = await client.call_tool("execute_code", {"code": "list(range(200_000))"})
            s = big.structured_content
            assert s["result"]["__truncated__"] is True and len(json.dumps(s)) < 20_000
            job = s["metadata"]["job_id"]
            assert s["truncated"]["result"]["full"] == f"resource blender://jobs/{job}/result"
            whole = await client.read_resource(f"blender://jobs/{job}/result")
            assert json.loads(whole.contents[0].text) == list(range(200_000))

            many = await client.call_tool("execute_code", {"code": (
                "import bpy\nmesh = bpy.data.meshes.new('agent_many')\n"
                "for i in range(2000):\n    bpy.data.objects.new(f'agent_many_{i}', mesh)")})
            metadata = many.structured_content["metadata"]
            assert len(metadata["objects_created"]) == 50 and metadata["objects_created_count"] == 2000
            assert len(json.dumps(many.structured_content)) < 10_000
            removed = await client.call_tool("execute_code", {"code": (
                "import bpy\nfor o in [o for o in bpy.data.objects if o.name.startswith('agent_many_')]:\n"
                "    bpy.data.objects.remove(o)")})
            assert removed.structured_content["metadata"]["objects_deleted_count"] == 2000
    run(body())


def test_render_progress_and_repeated_tracebacks_are_shown_once(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            render = await client.call_tool("execute_code", {"code": (
                "import bpy\ns = bpy.context.scene\ns.render.engine = 'CYCLES'\ns.cycles.samples = 32\n"
                "s.render.resolution_x = s.render.resolution_y = 32\ns.render.filepath = bpy.app.tempdir + 'p.png'\n"
                "bpy.ops.render.render(write_still=True)\n'rendered'")})
            assert render.is_error is False, text_of(render)
            s = render.structured_content
            assert s["result"] == "rendered"
            # Blender's own output (its render status lines) is in the logs: collapsed there.
            assert "render progress lines collapsed" in s["truncated"]["logs"]["what"], s.get("truncated")
            assert sum("Fra:" in record["message"] for record in s["logs"]) <= 4, s["logs"]
            # Debian's Blender has no denoiser: the render worked all the same, and says why.
            assert any("denoising turned off" in record["message"] for record in s["logs"]), s["logs"]
            twice = await client.call_tool("execute_code", {"code": (
                "import traceback, sys\ntry:\n    1/0\nexcept ZeroDivisionError:\n"
                "    for _ in range(4):\n        traceback.print_exc()\n    raise")})
            stderr = twice.structured_content["stderr"]
            assert stderr.count("ZeroDivisionError: division by zero") == 0, stderr
            assert stderr.count("[the same traceback as above]") == 4, stderr
    run(body())


def test_list_jobs_calls_a_waited_call_sync(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            sync_id = (await client.call_tool("execute_code", {"code": "1"})).structured_content["metadata"]["job_id"]
            async_id = (await client.call_tool("execute_code", {"code": "2", "mode": "async"})).structured_content["job_id"]
            jobs = {job["job_id"]: job for job in (await client.call_tool("list_jobs", {})).structured_content["jobs"]}
            assert jobs[sync_id]["mode"] == "sync" and jobs[async_id]["mode"] == "async"
            finished = await client.call_tool("get_job", {"job_id": async_id, "wait": 10})
            assert finished.structured_content["result"] == 2, "get_job has execute_code's shape"
    run(body())


def _mean_rgb(png):
    width, height, channels, rows = pngcheck.decode(png)
    total = [0, 0, 0]
    for row in rows:
        for x in range(width):
            for c in range(3):
                total[c] += row[x * channels + c]
    return [t / (width * height) for t in total]


COLOUR_SCENE = """
import bpy
for o in list(bpy.data.objects):
    bpy.data.objects.remove(o)
bpy.ops.mesh.primitive_plane_add(size=200)
bpy.ops.mesh.primitive_cube_add(location=(0, 0, 1))
material = bpy.data.materials.new('agent_red')
material.use_nodes = True
material.node_tree.nodes['Principled BSDF'].inputs['Base Color'].default_value = (1.0, 0.0, 0.0, 1.0)
bpy.context.active_object.data.materials.append(material)
"""


@pytest.mark.parametrize("shading", ["solid", "material"])
def test_headless_captures_show_the_colours_the_agent_set_framing_the_objects(spawn_args, tmp_path, shading):
    async def body():
        async with session(spawn_args, tmp_path) as client:
            await client.call_tool("execute_code", {"code": COLOUR_SCENE})
            shot = await client.call_tool("get_viewport_screenshot",
                                          {"view": "iso", "shading": shading, "max_size": 128})
            image = next(block for block in shot.content if block.type == "image")
            red, green, blue = _mean_rgb(base64.b64decode(image.data))
            # The red cube fills much of the frame (the 200 m ground plane is not framed), so
            # the picture is clearly red, not grey.
            assert red > 1.3 * green and red > 1.3 * blue, (red, green, blue)
            caption = text_of(shot)
            assert "headless Blender: a render from the iso view" in caption, caption
            # The material's own viewport colour is put back after the capture.
            colour = await client.call_tool("execute_code", {
                "code": "import bpy\nlist(bpy.data.materials['agent_red'].diffuse_color)"})
            assert colour.structured_content["result"] == pytest.approx([0.8, 0.8, 0.8, 1.0])
            no_camera = await client.call_tool("get_viewport_screenshot", {"max_size": 64})
            assert "framing the objects (the scene has no camera)" in text_of(no_camera), text_of(no_camera)
    run(body(), timeout=240)
