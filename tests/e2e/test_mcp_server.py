"""`bld-remote mcp` end to end: the official Python MCP SDK over stdio, real Blender behind it."""

import asyncio
import base64
import json
import time

import pytest
from mcp.shared.exceptions import MCPError as McpError

import pngcheck
from mcp_session import BINARY, REPO, build_binary, run, session, text_of


@pytest.fixture(scope="module", autouse=True)
def binary():
    return build_binary()


@pytest.fixture
def port_args(bg, monkeypatch):
    """`bld-remote mcp` aimed at the shared Blender, with its token in the environment (the
    token file of a harness instance is in that instance's own state dir)."""
    monkeypatch.setenv("BLD_REMOTE_MCP_TOKEN", bg.token)
    return ["--port", str(bg.port)]


def test_tools_are_listed_small_annotated_and_compatible(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            listed = await client.list_tools()
            size = len(json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True)))
            assert size < 8000, size
            tools = {tool.name: tool for tool in listed.tools}
            assert {"execute_code", "get_scene_info", "get_object_info", "get_viewport_screenshot",
                    "check_connection_status", "reset_session", "put_persist_data", "get_persist_data",
                    "remove_persist_data", "get_job", "cancel_job", "list_jobs"} <= set(tools)
            assert all(tool.annotations is not None for tool in tools.values())
            assert tools["get_scene_info"].annotations.read_only_hint is True
            # Left out when it is MCP's default (destructive): tools/list stays small.
            assert tools["execute_code"].annotations.destructive_hint in (True, None)
            assert tools["execute_code"].annotations.read_only_hint is False
            schema = tools["execute_code"].output_schema
            assert schema["required"] == ["status"] and "traceback" in schema["properties"]
            assert tools["execute_code"].input_schema["required"] == ["code"]
    run(body())


def test_execute_code_returns_structured_content_and_text(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            # The SDK validates structured content against the declared output schema.
            result = await client.call_tool("execute_code", {"code": "print('hello')\nvalue = 20\nvalue * 2 + 2"})
            assert result.is_error is False
            s = result.structured_content
            assert (s["status"], s["result"], s["stdout"]) == ("success", 42, "hello\n")
            assert s["error"] is None and s["traceback"] is None
            assert s["metadata"]["job_id"].startswith("job-") and s["duration"] >= 0
            assert "result: 42" in text_of(result) and "hello" in text_of(result)
            again = await client.call_tool("execute_code", {"code": "value + 1"})
            assert again.structured_content["result"] == 21, "variables persist within the MCP session"
    run(body())


def test_execute_code_with_a_checkpoint_names_the_saved_copy(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            result = await client.call_tool("execute_code", {"code": "len(bpy.data.objects)", "checkpoint": True})
            assert result.is_error is False
            path = result.structured_content["metadata"]["checkpoint"]
            assert path.endswith(".blend")
            with open(path, "rb") as saved:
                assert saved.read(7) == b"BLENDER", "a real .blend file"
    run(body())


def test_each_mcp_session_has_its_own_namespace(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as first, session(port_args, tmp_path) as second:
            await first.call_tool("execute_code", {"code": "mine = 'first'"})
            other = await second.call_tool("execute_code", {"code": "mine"})
            assert other.is_error is True
            assert other.structured_content["error"]["type"] == "NameError"
            back = await first.call_tool("execute_code", {"code": "mine"})
            assert back.structured_content["result"] == "first"
            await first.call_tool("reset_session", {})
            gone = await first.call_tool("execute_code", {"code": "mine"})
            assert gone.structured_content["error"]["type"] == "NameError"
    run(body())


def test_over_stdio_a_session_handle_is_a_namespace_beside_the_process_one(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            await client.call_tool("execute_code", {"code": "where = 'process'"})
            handle = (await client.call_tool("new_session", {})).structured_content["session"]
            inside = await client.call_tool("execute_code", {"code": "where", "session": handle})
            assert inside.structured_content["error"]["type"] == "NameError"
            await client.call_tool("execute_code", {"code": "where = 'handle'", "session": handle})
            outside = await client.call_tool("execute_code", {"code": "where"})
            assert outside.structured_content["result"] == "process", "no handle: today's namespace"
            await client.call_tool("reset_session", {"session": handle})
            assert (await client.call_tool("execute_code", {"code": "where"})).structured_content["result"] \
                == "process", "resetting the handle leaves the process namespace alone"
    run(body())


def test_errors_and_timeouts_are_tool_errors_with_details(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            result = await client.call_tool("execute_code", {"code": "def f():\n    return 1 / 0\nf()"})
            assert result.is_error is True
            s = result.structured_content
            assert s["status"] == "error" and s["error"]["type"] == "ZeroDivisionError" and s["error"]["line"] == 2
            assert "ZeroDivisionError" in s["traceback"] and "traceback:" in text_of(result)
            # The loop never ends on its own: a timeout result means it was stopped.
            result = await client.call_tool("execute_code", {"code": "while True:\n    pass", "timeout": 0.5})
            assert result.is_error is True and result.structured_content["status"] == "timeout"
    run(body())


def test_async_jobs_through_get_job_cancel_job_and_list_jobs(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            submitted = await client.call_tool("execute_code", {"code": "import time\ntime.sleep(0.2)\n'late'", "mode": "async"})
            job_id = submitted.structured_content["job_id"]
            assert submitted.structured_content["status"] in ("queued", "running")
            view = await client.call_tool("get_job", {"job_id": job_id, "wait": 10})
            assert view.structured_content["state"] == "finished"
            assert view.structured_content["result"] == "late" and view.structured_content["state"] == "finished"
            long = await client.call_tool("execute_code", {"code": "import time\ntime.sleep(60)", "mode": "async"})
            long_id = long.structured_content["job_id"]
            cancelled = await client.call_tool("cancel_job", {"job_id": long_id})
            assert cancelled.structured_content["cancel_accepted"] is True
            view = await client.call_tool("get_job", {"job_id": long_id, "wait": 10})
            assert view.structured_content["status"] == "cancelled"
            listed = await client.call_tool("list_jobs", {})
            assert {job_id, long_id} <= {job["job_id"] for job in listed.structured_content["jobs"]}
            missing = await client.call_tool("get_job", {"job_id": "job-999999"})
            assert missing.is_error is True and "job-999999" in text_of(missing)
    run(body())


def test_scene_and_object_info(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            page = await client.call_tool("get_scene_info", {"limit": 2, "offset": 0, "fields": ["name", "type"]})
            s = page.structured_content
            assert len(s["objects"]) == 2 and s["has_more"] is True and s["object_count"] >= 3
            assert all(set(o) <= {"name", "type"} for o in s["objects"])
            cube = await client.call_tool("get_object_info", {"object_name": "Cube"})
            assert cube.structured_content["type"] == "MESH" and cube.structured_content["mesh"]["vertices"] == 8
            missing = await client.call_tool("get_object_info", {"object_name": "Nope"})
            assert missing.is_error is True and "Object not found: Nope" in text_of(missing)
    run(body())


def test_screenshot_is_image_content_of_a_real_png(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            result = await client.call_tool("get_viewport_screenshot", {"max_size": 96})
            images = [block for block in result.content if block.type == "image"]
            assert len(images) == 1 and images[0].mime_type == "image/png"
            width, height, _channels, rows = pngcheck.decode(base64.b64decode(images[0].data))
            assert max(width, height) == 96
            assert len({bytes(row) for row in rows}) > 1, "a picture, not a blank"
            # From an angle, in wireframe: another picture of the same size.
            angled = await client.call_tool("get_viewport_screenshot", {
                "max_size": 96, "view": "angle", "azimuth": 120, "elevation": 30, "shading": "wireframe"})
            other = next(block for block in angled.content if block.type == "image")
            assert max(pngcheck.decode(base64.b64decode(other.data))[:2]) == 96
            assert other.data != images[0].data
    run(body())


def test_persist_data_tools(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            stored = await client.call_tool("put_persist_data", {"key": "mcp-k", "data": {"n": [1, 2]}})
            assert stored.structured_content == {"result": "Data stored with key: mcp-k"}
            got = await client.call_tool("get_persist_data", {"key": "mcp-k"})
            assert got.structured_content == {"data": {"n": [1, 2]}, "found": True}
            removed = await client.call_tool("remove_persist_data", {"key": "mcp-k"})
            assert removed.structured_content == {"removed": True}
            absent = await client.call_tool("get_persist_data", {"key": "mcp-k", "default": 7})
            assert absent.structured_content == {"data": 7, "found": False}
    run(body())


def test_bad_arguments_are_invalid_params_errors_naming_the_argument(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            for arguments, expected in [({}, "missing field `code`"), ({"code": 1}, "code: invalid type"),
                                        ({"code": "1", "mode": "later"}, "mode: unknown variant")]:
                with pytest.raises(McpError) as err:
                    await client.call_tool("execute_code", arguments)
                assert err.value.error.code == -32602 and expected in err.value.error.message
            # The session goes on.
            ok = await client.call_tool("execute_code", {"code": "1"})
            assert ok.structured_content["result"] == 1
    run(body())


def test_no_blender_is_a_tool_error_with_the_fix_and_the_server_keeps_running(tmp_path):
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    async def body():
        async with session(["--port", str(port)], tmp_path) as client:
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["connected"] is False
            assert "Start one with `bld-remote start`" in status.structured_content["error"]
            result = await client.call_tool("execute_code", {"code": "1"})
            assert result.is_error is True and f"no Blender answers on 127.0.0.1:{port}" in text_of(result)
            listed = await client.list_tools()
            assert listed.tools, "the server is still up"
    run(body())


async def until_running(client, preview):
    """Until a job whose first line is ``preview`` runs (list_jobs goes by another connection
    than a call in flight). The caller's ``run`` bounds the wait."""
    while True:
        jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
        if any(j["code_preview"] == preview and j["state"] == "running" for j in jobs):
            return
        await asyncio.sleep(0.02)


def test_blender_dying_mid_call_errors_fast_and_the_next_call_reconnects(spawn, tmp_path):
    # Both Blenders write their token files where the MCP server looks: the replacement's new
    # token is found by the reconnect.
    shared = {"BLD_REMOTE_STATE_DIR": str(tmp_path)}
    instance = spawn("bg", env=shared)
    port = instance.port

    async def body():
        async with session(["--port", str(port)], tmp_path) as client:
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["pid"] == instance.pid
            # An hour's sleep and timeout: only the lost connection can end this call.
            call = asyncio.ensure_future(client.call_tool("execute_code", {"code": "import time\ntime.sleep(3600)",
                                                                           "timeout": 3600}))
            await until_running(client, "import time")
            instance.kill()
            result = await asyncio.wait_for(call, 60)  # a hang guard: it errors as soon as it notices
            assert result.is_error is True and "lost the connection to Blender" in text_of(result)
            replacement = spawn("bg", port=port, env=shared)
            again = await client.call_tool("execute_code", {"code": "import os\nos.getpid()"})
            assert again.structured_content["result"] == replacement.pid
    run(body())


def test_stdout_is_streamed_as_progress_before_the_result(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            received = []
            gate = tmp_path / "first-print-streamed"

            async def on_progress(progress, total, message):
                received.append((progress, message))
                gate.touch()  # the code goes on only once a print reached us

            # After its first print the code waits until that print was streamed to the client:
            # a result arriving at all shows the print came while the code still ran.
            code = (f"import os, time\nprint('step 0')\nwhile not os.path.exists({str(gate)!r}):\n"
                    "    time.sleep(0.01)\nfor i in (1, 2):\n    print(f'step {i}')\n'done'")
            result = await client.call_tool("execute_code", {"code": code, "timeout": 60},
                                            progress_callback=on_progress)
            assert result.structured_content["result"] == "done", result.structured_content
            assert result.structured_content["stdout"] == "step 0\nstep 1\nstep 2\n"
            streamed = "".join(message for _, message in received)
            assert streamed == "step 0\nstep 1\nstep 2\n", received
            progress = [p for p, _ in received]
            assert progress == sorted(progress) and len(set(progress)) == len(progress), "progress only increases"
    run(body())


def test_cancelling_the_request_stops_an_infinite_loop_in_blender(port_args, tmp_path):
    async def body():
        async with session(port_args, tmp_path) as client:
            call = asyncio.ensure_future(client.call_tool("execute_code", {"code": "while True:\n    pass", "timeout": 3600}))
            await until_running(client, "while True:")
            call.cancel()  # the SDK sends notifications/cancelled for the request
            with pytest.raises(asyncio.CancelledError):
                await call
            # Blender is free again: the loop was stopped, not left to its hour's timeout (the
            # next call would never start, and end `busy` after its own 60 s).
            result = await client.call_tool("execute_code", {"code": "'free'", "timeout": 60})
            assert result.structured_content["result"] == "free", result.structured_content
            jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
            loop = [job for job in jobs if job["code_preview"] == "while True:"]
            assert loop and loop[-1]["status"] == "cancelled"
    run(body())


def test_status_and_scene_resources(port_args, tmp_path, bg):
    async def body():
        async with session(port_args, tmp_path) as client:
            listed = await client.list_resources()
            assert {str(r.uri) for r in listed.resources} == {"blender://status", "blender://scene", "blender://pool"}
            status = await client.read_resource("blender://status")
            data = json.loads(status.contents[0].text)
            assert data["pid"] == bg.pid and data["running"] is True and status.contents[0].mime_type == "application/json"
            scene = json.loads((await client.read_resource("blender://scene")).contents[0].text)
            assert "Cube" in {o["name"] for o in scene["objects"]}
            # No --pool: the pool resource says so rather than failing.
            assert json.loads((await client.read_resource("blender://pool")).contents[0].text) == {"pool": None}
            with pytest.raises(McpError) as err:
                await client.read_resource("blender://nothing")
            assert "blender://status" in err.value.error.message
    run(body())


def _free_port():
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_spawn_starts_blender_restarts_it_after_sigkill_and_stops_it_at_the_end(tmp_path):
    import os
    import signal
    port = _free_port()
    pids = []

    async def body():
        async with session(["--spawn", "--port", str(port)], tmp_path) as client:
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["connected"] is True, status.structured_content
            assert status.structured_content["port"] == port
            first = (await client.call_tool("execute_code", {"code": "import os\nos.getpid()"})).structured_content["result"]
            assert first == status.structured_content["pid"]
            pids.append(first)
            os.kill(first, signal.SIGKILL)
            deadline = time.monotonic() + 60  # a hang guard
            while _pid_alive(first) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            again = await client.call_tool("execute_code", {"code": "import os\nos.getpid()"})
            assert again.is_error is False, again.content
            second = again.structured_content["result"]
            assert second != first
            pids.append(second)
    run(body())
    deadline = time.monotonic() + 60  # a hang guard
    while _pid_alive(pids[-1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pids[-1]), "the spawned Blender is stopped when the MCP session ends"
    assert not list((tmp_path / "instances").glob("*.json")), "and its record removed"


def test_a_pool_through_the_python_sdk_leases_a_worker_per_handle_and_resets_it_between(tmp_path):
    """`--pool 2` driven by the official SDK: two handles, two workers, isolated; the pool shown by
    list_blenders and blender://pool; an ended handle's worker goes, reset, to the next one; the
    session's end stops every worker."""
    pids = []

    async def body():
        async with session(["--pool", "2"], tmp_path) as client:
            async def handle():
                made = await client.call_tool("new_session", {})
                return made.structured_content["session"]

            async def run_in(name, code):
                result = await client.call_tool("execute_code", {"code": code, "session": name})
                assert result.is_error is False, result.content
                return result.structured_content["result"]

            a, b = await handle(), await handle()
            pid_a = await run_in(a, "import os, bpy\nbpy.ops.mesh.primitive_monkey_add()\nmine = 1\nos.getpid()")
            pid_b = await run_in(b, "import os\nos.getpid()")
            pids.extend([pid_a, pid_b])
            assert pid_a != pid_b
            assert await run_in(b, "'mine' in globals()") is False
            listed = (await client.call_tool("list_blenders", {})).structured_content
            assert listed["pool"]["leased"] == 2 and listed["pool"]["size"] == 2, listed
            ended = await client.call_tool("reset_session", {"session": a, "end": True})
            assert ended.structured_content["ended"] is True
            c = await handle()
            seen = await run_in(c, "import os, bpy\n[os.getpid(), len(bpy.data.objects), 'mine' in globals()]")
            assert seen == [pid_a, 3, False], seen
            pool = json.loads((await client.read_resource("blender://pool")).contents[0].text)["pool"]
            assert pool["resets"] >= 1 and pool["leased"] == 2, pool
    run(body(), timeout=300)
    deadline = time.monotonic() + 60  # a hang guard
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_pid_alive(pid) for pid in pids), "every worker is stopped with the server"


# A C call that ignores Python's interrupts for ~20 s (OpenSSL's PBKDF2 loop).
STUCK_CODE = "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'x', b'y', 100_000_000)"


def test_spawn_restarts_a_blender_stuck_in_a_c_call_and_says_so(tmp_path):
    pids = []

    async def body():
        async with session(["--spawn", "--port", str(_free_port())], tmp_path) as client:
            first = (await client.call_tool("execute_code", {"code": "import os\nos.getpid()"})).structured_content["result"]
            pids.append(first)
            stuck = await client.call_tool("execute_code", {"code": STUCK_CODE, "timeout": 1})
            assert stuck.is_error is True
            message = text_of(stuck)
            assert "stuck in a long C call" in message and f"(pid {first}) was stuck" in message, message
            assert "A fresh one runs" in message, message
            assert not _pid_alive(first), "the stuck Blender was stopped"
            again = await client.call_tool("execute_code", {"code": "import os\nos.getpid()"})
            assert again.is_error is False, again.content
            assert again.structured_content["result"] != first
            pids.append(again.structured_content["result"])
    run(body())
    deadline = time.monotonic() + 60  # a hang guard
    while _pid_alive(pids[-1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pids[-1])


def test_a_blender_the_mcp_server_did_not_start_is_never_killed_when_stuck(spawn, tmp_path, monkeypatch):
    # Untraced: under coverage's tracer, client threads stall while the main thread sits in a
    # C call, and get_job would not answer (a test-only effect, see the harness).
    instance = spawn("bg", coverage=False)
    monkeypatch.setenv("BLD_REMOTE_MCP_TOKEN", instance.token)

    async def body():
        # --spawn too: restarting applies only to the Blender this server started itself.
        async with session(["--spawn", "--port", str(instance.port)], tmp_path) as client:
            stuck = await client.call_tool("execute_code", {"code": STUCK_CODE, "timeout": 1})
            assert stuck.is_error is True
            message = text_of(stuck)
            assert "is still running: follow it with get_job or stop it with cancel_job" in message, message
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["pid"] == instance.pid
    run(body())
    assert instance.alive(), "left alone"


INSPECTOR = REPO / ".deps" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"


def _inspector(port, token, state_dir, *args):
    import os
    import subprocess
    env = dict(os.environ, BLD_REMOTE_STATE_DIR=str(state_dir), BLD_REMOTE_MCP_TOKEN=token)
    assert INSPECTOR.exists(), "run scripts/bootstrap.sh (installs the MCP Inspector CLI with npm)"
    done = subprocess.run([str(INSPECTOR), "--cli", str(BINARY), "mcp", "--port", str(port), *args],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_mcp_inspector_cli_lists_tools_and_calls_execute_code(bg, tmp_path):
    listed = _inspector(bg.port, bg.token, tmp_path, "--method", "tools/list")
    assert "execute_code" in {tool["name"] for tool in listed["tools"]}
    called = _inspector(bg.port, bg.token, tmp_path, "--method", "tools/call", "--tool-name", "execute_code",
                        "--tool-arg", "code=6*7")
    assert called["isError"] is False and called["structuredContent"]["result"] == 42


def test_logs_go_to_stderr_and_stdout_stays_protocol(port_args, tmp_path):
    async def body():
        # -vv: trace logging; the SDK would fail on any non-JSON-RPC line on stdout.
        async with session(["-vv", *port_args], tmp_path) as client:
            result = await client.call_tool("execute_code", {"code": "1 + 1"})
            assert result.structured_content["result"] == 2
    run(body())
    log = (tmp_path / "mcp-stderr.log").read_text()
    assert "execute_code" in log and "DEBUG" in log, log[-2000:]


def test_screenshot_in_the_gui_is_the_viewport(gui, tmp_path):
    async def body():
        async with session(["--port", str(gui.port)], tmp_path, env={"BLD_REMOTE_MCP_TOKEN": gui.token}) as client:
            result = await client.call_tool("get_viewport_screenshot", {"max_size": 128})
            images = [block for block in result.content if block.type == "image"]
            assert len(images) == 1 and "the 3D viewport" in text_of(result)
            width, height, _channels, rows = pngcheck.decode(base64.b64decode(images[0].data))
            assert max(width, height) == 128 and len({bytes(row) for row in rows}) > 1
            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["mode"] == "gui"
    run(body())
