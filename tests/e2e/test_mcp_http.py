"""`bld-remote mcp --http`: the official Python MCP SDK's Streamable HTTP client against real
Blender, and what is refused before rmcp sees anything (no token, a wrong one, a foreign Origin,
a foreign Host), each proven harmless: the refused request carries code that would write a
marker file, and the marker is not there after a call that did run (same session) has returned.

rmcp's own HTTP client, SIGTERM's drain and the non-loopback bind refusal are in
crates/bld-remote/tests/mcp_http.rs."""

import asyncio
import contextlib
import http.client
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mcp import ClientSession
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_session import BINARY, build_binary, run, text_of

LINE_LIMIT = 120  # s: a safety net for lines the server prints, not a timing assertion


@pytest.fixture(scope="module", autouse=True)
def binary():
    return build_binary()


class HttpServer:
    """`bld-remote mcp --http 127.0.0.1:0 <args>`: its URL and token, from what it prints on stderr."""

    def __init__(self, args, state_dir, env, token=True):
        environment = dict(os.environ)
        for key in ("BLD_REMOTE_PORT", "BLD_REMOTE_HOST", "BLD_REMOTE_HTTP_TOKEN"):
            environment.pop(key, None)
        environment["BLD_REMOTE_STATE_DIR"] = str(state_dir)
        environment["BLD_REMOTE_CONFIG"] = str(Path(state_dir) / "no-config.toml")
        environment.update(env)
        self.proc = subprocess.Popen([str(BINARY), "mcp", "--http", "127.0.0.1:0", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=environment)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_line("listening on ").split("listening on ", 1)[1].strip()
        if token:
            self.token_file = Path(self.wait_line("token file: ").split("token file: ", 1)[1].strip())
            self.token = self.token_file.read_text().strip()
        else:
            self.token_file = self.token = None
        self.wait_line("client config: ")
        self.host, self.port = urlsplit(self.url).hostname, urlsplit(self.url).port

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, needle):
        deadline = time.monotonic() + LINE_LIMIT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"{needle!r} not printed; stderr:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if needle in line:
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=LINE_LIMIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@contextlib.contextmanager
def http_server(bg, tmp_path, args=()):
    """The HTTP server aimed at the shared Blender (its addon token in the environment)."""
    server = HttpServer(["--port", str(bg.port), *args], tmp_path,
                        {"BLD_REMOTE_MCP_TOKEN": bg.token})
    try:
        yield server
    finally:
        assert server.stop() == 0, "\n".join(server.seen)


@contextlib.asynccontextmanager
async def sdk_session(server, token=None):
    """An initialized session of the official SDK's Streamable HTTP client."""
    headers = {"Authorization": f"Bearer {token or server.token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(server.url, http_client=http) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def test_python_sdk_over_http_lists_and_runs_the_tools(bg, tmp_path):
    async def body(server):
        async with sdk_session(server) as client, sdk_session(server) as other:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"execute_code", "get_scene_info", "get_object_info", "get_viewport_screenshot",
                    "check_connection_status", "reset_session", "put_persist_data", "get_persist_data",
                    "remove_persist_data", "get_job", "cancel_job", "list_jobs"} <= tools

            result = await client.call_tool("execute_code", {"code": "print('hello')\nvalue = 20\nvalue * 2 + 2"})
            assert result.is_error is False
            s = result.structured_content
            assert (s["status"], s["result"], s["stdout"]) == ("success", 42, "hello\n")
            again = await client.call_tool("execute_code", {"code": "value + 1"})
            assert again.structured_content["result"] == 21, "variables persist within the HTTP session"
            unseen = await other.call_tool("execute_code", {"code": "value"})
            assert unseen.is_error is True and unseen.structured_content["error"]["type"] == "NameError", \
                "another HTTP session has its own namespace"

            status = await client.call_tool("check_connection_status", {})
            assert status.structured_content["connected"] is True
            assert status.structured_content["port"] == bg.port
            cube = await client.call_tool("get_object_info", {"object_name": "Cube"})
            assert cube.is_error is False and cube.structured_content["name"] == "Cube"
            scene = await client.call_tool("get_scene_info", {"limit": 2, "offset": 0, "fields": ["name", "type"]})
            assert scene.is_error is False
            shot = await client.call_tool("get_viewport_screenshot", {"max_size": 48})
            assert any(block.type == "image" and block.mime_type == "image/png" for block in shot.content)
            stored = await client.call_tool("put_persist_data", {"key": "http-k", "data": {"n": 1}})
            assert stored.is_error is False
            got = await other.call_tool("get_persist_data", {"key": "http-k"})
            assert got.structured_content["data"] == {"n": 1}, "persisted data is Blender's, not a session's"
            await client.call_tool("remove_persist_data", {"key": "http-k"})

            submitted = await client.call_tool("execute_code", {"code": "'later'", "mode": "async"})
            job_id = submitted.structured_content["job_id"]
            view = await client.call_tool("get_job", {"job_id": job_id, "wait": 30})
            assert view.structured_content["result"] == "later"
            listed = await client.call_tool("list_jobs", {})
            assert job_id in {job["job_id"] for job in listed.structured_content["jobs"]}

            reset = await client.call_tool("reset_session", {})
            assert reset.is_error is False
            gone = await client.call_tool("execute_code", {"code": "value"})
            assert gone.is_error is True, text_of(gone)

    with http_server(bg, tmp_path) as server:
        run(body(server))
        assert server.token not in "\n".join(server.seen), "the token is never printed"


class RawMcp:
    """Hand-made HTTP requests to /mcp: what a browser page or another local process could
    send, which the SDK will not (a foreign Host, an Origin, no token)."""

    def __init__(self, server):
        self.server = server
        self.session = None
        self.ids = iter(range(1, 1_000_000))

    def post(self, message, *, token="default", host=None, origin=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.server.token if token == 'default' else token}"
        if host is not None:
            headers["Host"] = host
        if origin is not None:
            headers["Origin"] = origin
        if self.session is not None:
            headers["Mcp-Session-Id"] = self.session
            headers["MCP-Protocol-Version"] = "2025-06-18"
        connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=LINE_LIMIT)
        try:
            connection.request("POST", "/mcp", body=json.dumps(message), headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            connection.close()

    def initialize(self):
        status, headers, _ = self.post({"jsonrpc": "2.0", "id": next(self.ids), "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
        assert status == 200
        self.session = headers["Mcp-Session-Id"]
        status, _, _ = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert status == 202

    def execute(self, code, **refusal):
        return self.post({"jsonrpc": "2.0", "id": next(self.ids), "method": "tools/call",
                          "params": {"name": "execute_code", "arguments": {"code": code}}}, **refusal)


def writes(marker):
    return f"open({str(marker)!r}, 'w').write('ran')"


def test_refused_requests_run_nothing(bg, tmp_path):
    with http_server(bg, tmp_path) as server:
        raw = RawMcp(server)
        raw.initialize()
        port = server.port
        refusals = [
            ("no token", {"token": None}, 401),
            ("wrong token", {"token": "wrong-token-0123456789abcdef"}, 401),
            ("the Blender addon's token", {"token": bg.token}, 401),
            ("foreign Origin", {"origin": "http://evil.example"}, 403),
            ("foreign Origin on a loopback name, another port", {"origin": f"http://127.0.0.1:{port + 1}"}, 403),
            ("foreign Host (DNS rebinding)", {"host": f"evil.example:{port}"}, 403),
        ]
        for number, (what, refusal, expected) in enumerate(refusals):
            refused_marker = tmp_path / f"refused-{number}"
            control_marker = tmp_path / f"control-{number}"
            refused = raw.execute(writes(refused_marker), **refusal)
            # The same session, with the right headers, runs code: once that call has returned,
            # the refused one would have run before it.
            status, _, text = raw.execute(writes(control_marker))
            assert status == 200 and '"isError":false' in text, f"{what}: control: {status} {text}"
            assert control_marker.read_text() == "ran", what
            assert not refused_marker.exists(), f"{what}: the refused code ran"
            status, headers, text = refused
            assert status == expected, f"{what}: {status} {text}"
            if expected == 401:
                assert headers["WWW-Authenticate"].startswith("Bearer"), what


@contextlib.asynccontextmanager
async def sdk_client(server, mode):
    """The official SDK's high-level `Client`: `mode="auto"` probes `server/discover` and speaks
    the 2026-07-28 era (stateless: no initialize, no session id); `"legacy"` initializes
    (2025-11-25 era, `Mcp-Session-Id`)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(server.url, http_client=http), mode=mode) as client:
            yield client


async def call(client, tool, arguments):
    result = await client.call_tool(tool, arguments)
    return result, result.structured_content


def blender_namespaces(bg):
    """The named namespaces Blender holds now (`status`, docs/protocol.md §4)."""
    with bg.client() as wire:
        return set(wire.call("status")["result"]["sessions"]["named"])


def test_both_protocol_eras_and_session_handles(bg, tmp_path):
    """2026-07-28 requests are served one by one (no session), so variables live in a session
    handle's namespace: one handle shares it, across eras; separate handles are isolated; a
    handle's jobs are its own."""
    async def body(server):
        async with sdk_client(server, "auto") as modern, sdk_client(server, "auto") as other, \
                sdk_client(server, "legacy") as legacy:
            assert modern.session.protocol_version == "2026-07-28"
            assert legacy.session.protocol_version != "2026-07-28"
            names = {tool.name for tool in (await modern.list_tools()).tools}
            assert {"execute_code", "new_session", "reset_session", "get_job"} <= names

            # No handle, no session: each stateless request has a namespace of its own.
            _, first = await call(modern, "execute_code", {"code": "kept = 1"})
            assert first["status"] == "success"
            lost, lost_s = await call(modern, "execute_code", {"code": "kept"})
            assert lost.is_error and lost_s["error"]["type"] == "NameError"

            _, made = await call(modern, "new_session", {})
            mine = made["session"]
            assert mine.startswith("s-") and made["idle_timeout_s"] == 3600
            _, theirs_made = await call(other, "new_session", {})
            theirs = theirs_made["session"]
            assert theirs != mine

            _, ran = await call(modern, "execute_code", {"code": "x = 41", "session": mine})
            assert ran["status"] == "success"
            _, again = await call(modern, "execute_code", {"code": "x + 1", "session": mine})
            assert again["result"] == 42, "a handle keeps variables between stateless requests"
            assert mine in blender_namespaces(bg), "the handle names the namespace in Blender"

            isolated, isolated_s = await call(other, "execute_code", {"code": "x", "session": theirs})
            assert isolated.is_error and isolated_s["error"]["type"] == "NameError", \
                "another handle has its own namespace"
            _, shared = await call(other, "execute_code", {"code": "x * 2", "session": mine})
            assert shared["result"] == 82, "whoever passes a handle shares its namespace"
            _, across = await call(legacy, "execute_code", {"code": "x - 1", "session": mine})
            assert across["result"] == 40, "a handle works from a 2025-era session too"
            plain, plain_s = await call(legacy, "execute_code", {"code": "x"})
            assert plain.is_error and plain_s["error"]["type"] == "NameError", \
                "without a handle, a 2025-era session keeps its own namespace"

            # Jobs: a handle lists the jobs started with it, and refuses another's id.
            _, submitted = await call(modern, "execute_code",
                                      {"code": "'later'", "mode": "async", "session": mine})
            job = submitted["job_id"]
            _, view = await call(modern, "get_job", {"job_id": job, "wait": 30, "session": mine})
            assert view["result"] == "later"
            _, listed = await call(modern, "list_jobs", {"session": mine})
            mine_jobs = {entry["job_id"] for entry in listed["jobs"]}
            assert job in mine_jobs and len(mine_jobs) == 5, listed
            _, everyone = await call(modern, "list_jobs", {})
            assert mine_jobs < {entry["job_id"] for entry in everyone["jobs"]}
            refused, _ = await call(other, "get_job", {"job_id": job, "session": theirs})
            assert refused.is_error and f"job {job} was not started in session {theirs}" in text_of(refused)
            refused, _ = await call(other, "cancel_job", {"job_id": job, "session": theirs})
            assert refused.is_error and "was not started in session" in text_of(refused)

            _, reset = await call(other, "reset_session", {"session": mine})
            assert reset["existed"] is True and reset["session"] == mine
            gone, gone_s = await call(modern, "execute_code", {"code": "x", "session": mine})
            assert gone.is_error and gone_s["error"]["type"] == "NameError"

            for bad, told in [("s-0123456789abcdef01234567", "no session s-0123456789abcdef01234567"),
                              ("main", 'not "main"')]:
                unknown, _ = await call(modern, "execute_code", {"code": "1", "session": bad})
                assert unknown.is_error and told in text_of(unknown), text_of(unknown)

            status = (await modern.call_tool("check_connection_status", {})).structured_content
            assert status["connected"] is True and status["session_handles"] == 2

    with http_server(bg, tmp_path) as server:
        run(body(server))


def test_an_idle_handle_expires_says_so_and_blender_forgets_it(bg, tmp_path):
    idle = 3  # s: generous beside the milliseconds between two calls of one test

    async def body(server):
        async with sdk_client(server, "auto") as client:
            _, made = await call(client, "new_session", {})
            handle = made["session"]
            assert made["idle_timeout_s"] == idle
            _, ran = await call(client, "execute_code", {"code": "y = 1", "session": handle})
            assert ran["status"] == "success"
            assert handle in blender_namespaces(bg)
            # The event: the reaper has had Blender drop the namespace. (The bound is a hang
            # guard, far above the idle time.)
            deadline = time.monotonic() + LINE_LIMIT
            while handle in blender_namespaces(bg):
                assert time.monotonic() < deadline, "the expired handle's namespace was never dropped"
                await asyncio.sleep(0.2)
            expired, _ = await call(client, "execute_code", {"code": "y", "session": handle})
            assert expired.is_error
            assert f"session {handle} expired after {idle} s" in text_of(expired), text_of(expired)
            _, fresh = await call(client, "new_session", {})
            assert fresh["session"] != handle

    with http_server(bg, tmp_path, ["--handle-idle-timeout", str(idle)]) as server:
        run(body(server))


def test_2026_clients_get_prints_as_progress_and_cancelling_stops_the_code(bg, tmp_path):
    """The 2026-07-28 era has no client notifications: progress comes on the request's own SSE
    stream, and a client cancels by dropping that stream, which cancels the job in Blender."""
    async def body(server):
        async with sdk_client(server, "auto") as client:
            assert client.session.protocol_version == "2026-07-28"
            handle = (await client.call_tool("new_session", {})).structured_content["session"]
            ticks = []
            third_tick = asyncio.Event()

            async def on_progress(progress, total, message):
                ticks.append(message or "")
                if "tick 3\n" in "".join(ticks):
                    third_tick.set()

            loop = "import time\nfor i in range(600):\n    print('tick', i)\n    time.sleep(0.1)"
            call_task = asyncio.create_task(client.call_tool(
                "execute_code", {"code": loop, "timeout": 300, "session": handle},
                progress_callback=on_progress))
            await asyncio.wait_for(third_tick.wait(), LINE_LIMIT)
            assert "".join(ticks).startswith("tick 0\ntick 1\n"), ticks
            call_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call_task

            # The event: Blender lists the handle's job as cancelled (the bound is a hang guard).
            deadline = time.monotonic() + LINE_LIMIT
            while True:
                jobs = (await client.call_tool("list_jobs", {"session": handle})).structured_content["jobs"]
                if [job.get("status") for job in jobs] == ["cancelled"]:
                    break
                assert time.monotonic() < deadline, f"the loop was not cancelled: {jobs}"
                await asyncio.sleep(0.1)
            after = await client.call_tool("execute_code", {"code": "i", "session": handle})
            assert after.structured_content["result"] < 599, "the loop stopped early"

    with http_server(bg, tmp_path) as server:
        run(body(server))


INSPECTOR = Path(__file__).resolve().parents[2] / ".deps" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"


def inspector(server, method, *args, token=None):
    """One run of the MCP Inspector CLI against the HTTP server (a new MCP session each time)."""
    assert INSPECTOR.exists(), "run scripts/bootstrap.sh (installs the MCP Inspector CLI with npm)"
    done = subprocess.run(
        [str(INSPECTOR), "--cli", server.url, "--transport", "http",
         "--header", f"Authorization: Bearer {token or server.token}", "--method", method, *args],
        capture_output=True, text=True, timeout=LINE_LIMIT)
    return done


def inspector_call(server, tool, **arguments):
    args = ["--tool-name", tool]
    for key, value in arguments.items():
        args += ["--tool-arg", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    done = inspector(server, "tools/call", *args)
    assert done.returncode == 0, f"{tool}: {done.stderr}"
    return json.loads(done.stdout)


def test_mcp_inspector_cli_over_http_runs_every_tool(bg, tmp_path):
    """The MCP Inspector's CLI (a client we did not write) in HTTP mode, every tool once. Each run
    is its own HTTP session: a session handle carries the variables from one to the next."""
    with http_server(bg, tmp_path) as server:
        listed = inspector(server, "tools/list")
        assert listed.returncode == 0, listed.stderr
        names = [tool["name"] for tool in json.loads(listed.stdout)["tools"]]
        handle = inspector_call(server, "new_session")["structuredContent"]["session"]
        ran = inspector_call(server, "execute_code", code="kept = 6 * 7", session=handle)
        assert ran["isError"] is False, ran
        again = inspector_call(server, "execute_code", code="kept", session=handle)
        assert again["structuredContent"]["result"] == 42, "the handle outlived the first run's session"
        job = inspector_call(server, "execute_code", code="'later'", mode="async",
                             session=handle)["structuredContent"]["job_id"]
        called = {
            "get_job": inspector_call(server, "get_job", job_id=job, wait=30, session=handle),
            "list_jobs": inspector_call(server, "list_jobs", session=handle),
            "cancel_job": inspector_call(server, "cancel_job", job_id=job),
            "get_scene_info": inspector_call(server, "get_scene_info", limit=2),
            "get_object_info": inspector_call(server, "get_object_info", object_name="Cube"),
            "get_viewport_screenshot": inspector_call(server, "get_viewport_screenshot", max_size=32),
            "check_connection_status": inspector_call(server, "check_connection_status"),
            "list_blenders": inspector_call(server, "list_blenders"),
            "put_persist_data": inspector_call(server, "put_persist_data", key="insp", data={"n": 1}),
            "get_persist_data": inspector_call(server, "get_persist_data", key="insp"),
            "remove_persist_data": inspector_call(server, "remove_persist_data", key="insp"),
            "reset_session": inspector_call(server, "reset_session", session=handle),
        }
        assert set(names) == set(called) | {"new_session", "execute_code"}, names
        for tool, result in called.items():
            assert result.get("isError") is not True, f"{tool}: {result}"
        assert called["get_job"]["structuredContent"]["result"] == "later"
        assert job in {entry["job_id"] for entry in called["list_jobs"]["structuredContent"]["jobs"]}
        assert called["get_persist_data"]["structuredContent"]["data"] == {"n": 1}
        assert any(block["type"] == "image" for block in called["get_viewport_screenshot"]["content"])
        assert called["reset_session"]["structuredContent"]["existed"] is True

        refused = inspector(server, "tools/list", token="wrong-token-0123456789abcdef")
        assert refused.returncode != 0 and "Unauthorized" in refused.stdout + refused.stderr
