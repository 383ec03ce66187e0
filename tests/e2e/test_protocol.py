"""Wire protocol v1 and bad input, against real Blender."""

import http.client
import json
import os
import socket
import time

from harness import blender_version_of
from wire_client import Client, legacy_call


def test_hello_describes_the_server(backend):
    with backend.client() as c:
        hello = c.call("hello")
    assert hello["status"] == "success"
    result = hello["result"]
    assert result["protocol_version"] == 2
    assert result["server"] == "bld-remote"
    assert result["addon_version"].count(".") == 2
    assert result["mode"] == "background"
    assert result["pid"] == backend.pid
    assert result["port"] == backend.port
    assert result["blender_version"].startswith(blender_version_of(backend.kind))


def test_pipelined_requests_are_all_answered_in_order(client):
    batch = b"".join(
        json.dumps({"id": f"r{i}", "type": "execute_code", "params": {"code": f"{i} * 10"}}).encode() + b"\n"
        for i in range(20)
    )
    client.send_raw(batch)
    replies = [client.read_line() for _ in range(20)]
    assert [r["id"] for r in replies] == [f"r{i}" for i in range(20)]
    assert [r["result"] for r in replies] == [i * 10 for i in range(20)]


def test_request_split_into_single_bytes(client):
    data = json.dumps({"id": 7, "type": "ping", "params": {}}).encode() + b"\n"
    for byte in data:
        client.send_raw(bytes([byte]))
    reply = client.read_line(timeout=5)
    assert reply["id"] == 7 and reply["result"]["pong"] is True


def test_malformed_json_gets_an_error_at_once_and_the_connection_goes_on(client):
    client.send_raw(b'{"id": 1, "type": "execute_code", "params": {"code": "1"\n')
    # At once, when its newline arrives: waiting for more bytes would end in the idle limit's
    # `incomplete_message` (30 s), not a parse_error.
    reply = client.read_line(timeout=60)
    assert reply["status"] == "error" and reply["error"]["code"] == "parse_error"
    assert client.call("ping")["status"] == "success"


def test_not_an_object_and_missing_type(client):
    client.send_raw(b"[1, 2, 3]\n")
    assert client.read_line(timeout=5)["error"]["code"] == "parse_error"
    client.send_raw(b'{"id": 3, "params": {}}\n')
    reply = client.read_line(timeout=5)
    assert reply["id"] == 3 and reply["error"]["code"] == "invalid_request"
    client.send_raw(b'{"id": 4, "type": "ping", "params": [1]}\n')
    assert client.read_line(timeout=5)["error"]["code"] == "invalid_request"


def test_invalid_utf8_is_a_parse_error(client):
    client.send_raw(b'{"id": 1, "type": "ping", "params": {"x": "\xff\xfe"}}\n')
    assert client.read_line(timeout=5)["error"]["code"] == "parse_error"
    assert client.call("ping")["status"] == "success"


def test_non_strict_json_constants_are_refused(client):
    client.send_raw(b'{"id": 2, "type": "put_persist_data", "params": {"key": "k", "data": NaN}}\n')
    assert client.read_line(timeout=5)["error"]["code"] == "parse_error"
    assert client.call("get_persist_data", {"key": "k"})["result"]["found"] is False


def test_unknown_command_is_an_error_never_a_success(client):
    reply = client.call("make_coffee")
    assert reply["status"] == "error"
    assert reply["error"]["code"] == "unknown_command"
    assert "make_coffee" in reply["error"]["message"]
    assert "execute_code" in reply["error"]["known"]


def test_oversized_message_is_refused_and_the_connection_goes_on(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": "100000"})
    with instance.client() as c:
        marker = "oversized_ran"
        big = json.dumps({"id": 1, "type": "execute_code", "params": {"code": f"{marker} = 1  # " + "x" * 200000}})
        c.send_raw(big.encode() + b"\n")
        reply = c.read_line(timeout=10)
        assert reply["error"]["code"] == "message_too_large"
        assert "100000" in reply["error"]["message"]
        assert c.execute(marker)["error"]["type"] == "NameError"  # nothing ran, connection still usable


def test_oversized_legacy_message_is_refused_then_closed(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": "100000", "BLD_REMOTE_MCP_AUTH": "off"})
    with instance.client() as c:
        c.send_raw(json.dumps({"type": "execute_code", "params": {"code": "x = '" + "y" * 200000 + "'"}}).encode())
        data = c.read_until_closed(timeout=10)  # the error, then the server closes this connection
    reply = json.loads(data)
    assert reply["status"] == "error" and reply["code"] == "message_too_large"
    with instance.client() as c:
        assert c.call("ping")["status"] == "success"


def test_incomplete_message_is_dropped_after_the_idle_limit(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_IDLE_TIMEOUT": "1"})
    with instance.client() as c:
        partial = b'{"id": 9, "type": "execute_code", "params": {"code": "half_sent = 1"'
        c.send_raw(partial)
        reply = c.read_line(timeout=60)  # a hang guard for the 1 s limit
        assert reply["id"] is None and reply["error"]["code"] == "incomplete_message"
        assert f"idle limit ({len(partial)} bytes buffered)" in reply["error"]["message"]
        assert c.execute("half_sent")["error"]["type"] == "NameError"


def test_http_request_is_refused_and_nothing_runs(backend, tmp_path):
    marker = tmp_path / "http_ran"
    body = json.dumps({"type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w').write('x')"}})
    conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
    conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 403
    assert b"not HTTP" in response.read()
    conn.close()
    with backend.client() as c:  # the server is fine
        # Jobs run one at a time in submission order: had the body been run, it ran before this.
        assert c.ok("'after'")["result"] == "after"
    assert not marker.exists()


def until_exists(path):
    """Job code that holds Blender's main thread (interruptible Python) until ``path`` exists."""
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.01)\n"


def wait_for(predicate, what):
    deadline = time.monotonic() + 60  # a hang guard: fails only if it never happens
    while not predicate():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def test_control_commands_answer_while_a_job_holds_the_main_thread(backend, tmp_path):
    gate = tmp_path / "gate"
    with backend.client() as worker, backend.client() as control:
        worker.request("execute_code", {"code": until_exists(gate), "timeout": 60})
        wait_for(lambda: control.call("status")["result"]["jobs"]["running"] == 1, "the job runs")
        # Answered while the job holds the main thread: the gate is only opened below.
        for command in ("ping", "hello", "list_jobs", "status"):
            reply = control.call(command)
            assert reply["status"] == "success", reply
        status = control.call("status")["result"]
        assert status["jobs"]["running"] == 1
        gate.touch()
        assert worker.read_line(timeout=60)["status"] == "success"


def test_main_thread_command_waits_for_a_running_job(backend, tmp_path):
    gate = tmp_path / "gate"
    with backend.client() as worker, backend.client() as other, backend.client() as control:
        worker.request("execute_code", {"code": until_exists(gate), "timeout": 60})
        wait_for(lambda: control.call("status")["result"]["jobs"]["running"] == 1, "the job runs")
        other.request("get_scene_info")
        # It waits in the main-thread queue behind the job, which holds the main thread until
        # the gate opens.
        wait_for(lambda: control.call("status")["result"]["queue_length"] == 1, "get_scene_info is queued")
        gate.touch()
        assert other.read_line(timeout=60)["status"] == "success"
        assert worker.read_line(timeout=60)["status"] == "success"


def test_legacy_and_v1_share_the_port(legacy_backend):
    backend = legacy_backend
    reply = legacy_call(backend.port, {"type": "execute_code", "params": {"code": "print('legacy {{ ok')"}})
    assert reply == {"status": "success", "result": reply["result"]}
    assert reply["result"]["result"] == "legacy {{ ok\n"
    with backend.client() as c:
        assert c.call("ping")["status"] == "success"


def test_non_loopback_bind_needs_explicit_opt_in(bg):
    import subprocess

    from harness import KEEPALIVE, REPO, blender_binary

    proc = subprocess.run(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python", str(KEEPALIVE), "--",
         "--port", "0", "--host", "0.0.0.0"],
        cwd=str(REPO), capture_output=True, timeout=120,
        env={**os.environ, "BLD_REMOTE_MCP_ALLOW_REMOTE": ""},
    )
    assert proc.returncode == 2
    assert b"BLD_REMOTE_MCP_ALLOW_REMOTE" in proc.stderr
    assert b"READY" not in proc.stdout


def test_port_from_environment(spawn):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    instance = spawn("bg", port=port)
    assert instance.port == port
    with Client(port, token=instance.token) as c:
        assert c.call("hello")["result"]["port"] == port


def test_taken_port_is_reported(bg):
    import subprocess

    from harness import KEEPALIVE, REPO, blender_binary

    proc = subprocess.run(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python", str(KEEPALIVE), "--",
         "--port", str(bg.port)],
        cwd=str(REPO), capture_output=True, timeout=120,
    )
    assert proc.returncode == 2
    assert b"cannot listen on 127.0.0.1:" in proc.stderr
    with bg.client() as c:  # the holder is unaffected
        assert c.call("ping")["status"] == "success"


def test_a_browser_style_fetch_never_runs_code_even_with_auth_off(legacy_backend, tmp_path):
    """What a web page could send to 127.0.0.1: a `fetch` POST whose body is a valid v1 line
    (text/plain, so no CORS preflight), from Node's fetch (undici, the browser Fetch API), against
    a server with authentication off. The HTTP request line is seen first: nothing runs."""
    import shutil
    import subprocess

    marker = tmp_path / "fetch_ran"
    line = json.dumps({"id": 1, "type": "execute_code",
                       "params": {"code": f"open({str(marker)!r}, 'w').write('x')"}}) + "\n"
    script = (
        "const [port, body] = process.argv.slice(1);"
        "fetch(`http://127.0.0.1:${port}/`, {method: 'POST', body, headers: {'Content-Type': 'text/plain'}})"
        ".then(async r => console.log(JSON.stringify({status: r.status, text: await r.text()})))"
        ".catch(e => console.log(JSON.stringify({error: String(e.cause || e)})));"
    )
    node = shutil.which("node")
    assert node, "Node is part of the test environment (scripts/bootstrap.sh)"
    for _ in range(2):  # twice: a keep-alive reuse must not slip through either
        out = subprocess.run([node, "-e", script, str(legacy_backend.port), line], capture_output=True,
                             text=True, timeout=30)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result.get("status") == 403 and "Nothing was run" in result["text"], result
    with legacy_backend.client() as c:
        # Jobs run one at a time in submission order: had the body been run, it ran before this.
        assert c.ok("'after'")["result"] == "after"
    assert not marker.exists()
