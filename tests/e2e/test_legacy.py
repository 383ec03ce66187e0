"""blender-remote 1.3.3's own client, CLI and MCP server, unchanged, against our addon."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mcp
import pytest
from blender_remote import BlenderMCPClient  # PyPI blender-remote==1.3.3, installed by scripts/bootstrap.sh
from blender_remote.exceptions import BlenderCommandError
from mcp.client.stdio import StdioServerParameters, stdio_client
from wire_client import Client, legacy_call


def _bin(name):
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)



@pytest.fixture
def backend(legacy_backend):
    """1.3.3 clients send no token: this module runs against instances with auth off."""
    return legacy_backend


def test_their_client_executes_code_both_encodings(backend):
    client = BlenderMCPClient(host="127.0.0.1", port=backend.port)
    assert client.execute_python("print('plain {{ braces')", send_as_base64=False, return_as_base64=False) == "plain {{ braces\n"
    assert client.execute_python("print('encoded ☃')") == "encoded ☃\n"


def test_their_client_scene_object_and_status(backend):
    client = BlenderMCPClient(host="127.0.0.1", port=backend.port)
    scene = client.get_scene_info()
    assert "Cube" in [o["name"] for o in scene["objects"]]
    assert client.get_object_info("Cube")["mesh"]["vertices"] == 8
    assert client.test_connection() is True
    assert client.get_status()["status"] == "connected"
    assert client.get_blender_pid() == backend.pid


def test_their_client_gets_errors_as_errors(backend):
    client = BlenderMCPClient(host="127.0.0.1", port=backend.port)
    with pytest.raises(BlenderCommandError, match="ZeroDivisionError"):
        client.execute_python("1 / 0")
    with pytest.raises(BlenderCommandError, match="Unknown command type: no_such_command"):
        client.execute_command("no_such_command")
    with pytest.raises(BlenderCommandError, match="Object not found: Ghost"):
        client.get_object_info("Ghost")


def test_their_client_screenshot_file(backend, tmp_path):
    client = BlenderMCPClient(host="127.0.0.1", port=backend.port)
    path = tmp_path / "legacy.png"
    info = client.take_screenshot(str(path), max_size=120)
    assert info["success"] is True and info["filepath"] == str(path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_their_client_persist_and_timeout_override(backend):
    client = BlenderMCPClient(host="127.0.0.1", port=backend.port)
    client.execute_command("put_persist_data", {"key": "legacy-key", "data": [1, 2]})
    assert client.execute_command("get_persist_data", {"key": "legacy-key"})["result"] == {"data": [1, 2], "found": True}
    with pytest.raises(BlenderCommandError, match="timed out"):
        client.execute_command("execute_code", {"code": "while True: pass", "_timeout_seconds": 0.5})


def test_their_exit_request_stops_blender(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_AUTH": "off"})
    client = BlenderMCPClient(host="127.0.0.1", port=instance.port)
    assert client.send_exit_request() is True
    assert instance.wait_exit(20) == 0


def test_untyped_legacy_shapes(backend):
    reply = legacy_call(backend.port, {"code": "print('old style')"})
    assert reply["response"] == "OK" and reply["output"] == "old style\n"
    assert reply["source"] == f"tcp://127.0.0.1:{backend.port}"
    failed = legacy_call(backend.port, {"code": "1/0"})
    assert failed["response"] == "FAILED" and "division by zero" in failed["message"]
    assert legacy_call(backend.port, {"message": "hi"})["message"] == "Printed message: hi"


def test_legacy_malformed_json_gets_an_error_at_once(backend):
    with Client(backend.port, timeout=5) as c:
        c.send_raw(b'{"type": "execute_code", "params": {"code": x}}')
        reply = c.read_legacy()
    assert reply["status"] == "error" and "malformed JSON" in reply["message"]


def test_two_legacy_requests_back_to_back(backend):
    with Client(backend.port, timeout=10) as c:
        message = json.dumps({"type": "get_polyhaven_status", "params": {}}).encode()
        c.send_raw(message + message)
        replies = [c.read_legacy(), c.read_legacy()]
    assert [r["status"] for r in replies] == ["success", "success"]


def test_their_cli_execute(backend, tmp_path):
    cli = _bin("blender-remote-cli")
    assert cli, "blender-remote-cli not installed"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.run([cli, "execute", "--code", "print(6 * 7)", "--port", str(backend.port)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "42" in proc.stdout


def test_their_mcp_server_over_stdio(backend, tmp_path):
    server = _bin("blender-remote")
    assert server, "blender-remote (1.3.3 MCP server) not installed"
    params = StdioServerParameters(
        command=server, args=["--blender-port", str(backend.port)],
        env={**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")},
    )

    async def session():
        async with stdio_client(params) as (read, write):
            async with mcp.ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name for t in (await s.list_tools()).tools}
                executed = await s.call_tool("execute_code", {"code": "print('via their mcp')"})
                scene = await s.call_tool("get_scene_info", {})
                return tools, executed, scene

    tools, executed, scene = asyncio.run(asyncio.wait_for(session(), 90))
    assert {"execute_code", "get_scene_info", "get_object_info"} <= tools
    is_error = executed.is_error if "is_error" in type(executed).model_fields else executed.isError
    assert not is_error
    assert "via their mcp" in json.dumps([c.model_dump() for c in executed.content])
    assert "Cube" in json.dumps([c.model_dump() for c in scene.content])
