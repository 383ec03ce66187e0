"""`bld-remote mcp --http`: the official Python MCP SDK's Streamable HTTP client against real
Blender, and what is refused before rmcp sees anything (no token, a wrong one, a foreign Origin,
a foreign Host), each proven harmless: the refused request carries code that would write a
marker file, and the marker is not there after a call that did run (same session) has returned.

rmcp's own HTTP client, SIGTERM's drain and the non-loopback bind refusal are in
crates/bld-remote/tests/mcp_http.rs."""

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
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_session import BINARY, build_binary, run, text_of

LINE_LIMIT = 120  # s: a safety net for lines the server prints, not a timing assertion


@pytest.fixture(scope="module", autouse=True)
def binary():
    return build_binary()


class HttpServer:
    """`bld-remote mcp --http 127.0.0.1:0 <args>`: its URL and token, from what it prints on stderr."""

    def __init__(self, args, state_dir, env):
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
        self.token_file = Path(self.wait_line("token file: ").split("token file: ", 1)[1].strip())
        self.token = self.token_file.read_text().strip()
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
