"""The TCP server end to end, over real loopback sockets, against a real Service (plain Python)."""

import http.client
import json
import socket
import sys
import threading
import time

import pytest

from bld_remote_mcp.engine import config
from bld_remote_mcp.wire.tcp_server import PortInUse, TcpServer


def test_pipelined_requests_are_answered_in_order(make_service):
    c = make_service().client()
    batch = b"".join(
        json.dumps({"id": f"r{i}", "type": "execute_code", "params": {"code": f"{i} * 10"}}).encode() + b"\n"
        for i in range(20)
    ) + b'{"id": "last", "type": "ping"}\n'
    c.send_raw(batch)
    replies = [c.read_line() for _ in range(21)]
    assert [r["id"] for r in replies] == [f"r{i}" for i in range(20)] + ["last"]
    assert [r["result"] for r in replies[:20]] == [i * 10 for i in range(20)]
    assert replies[-1]["result"]["pong"] is True


def test_request_sent_one_byte_at_a_time(make_service):
    c = make_service().client()
    data = json.dumps({"id": 7, "type": "execute_code", "params": {"code": "'}' + '{'"}}).encode() + b"\n"
    for byte in data:
        c.send_raw(bytes([byte]))
    reply = c.read_line()
    assert reply["id"] == 7 and reply["result"] == "}{"


def _vetted(client):
    """A connection that has sent one well-formed message: garbage no longer closes it (§1a)."""
    assert client.call("ping")["status"] == "success"
    return client


def test_malformed_json_is_answered_at_once_and_the_connection_goes_on(make_service):
    # Answered when the newline arrives, not when the (long) idle limit drops the bytes: that
    # would be an `incomplete_message`, and only after the client's read had timed out.
    c = _vetted(make_service(idle_timeout=3600).client())
    c.send_raw(b'{"id": 1, "type": "execute_code", "params": {"code": "1"\n')
    reply = c.read_line()
    assert reply == {"id": None, "status": "error", "result": None, "error": reply["error"]}
    assert reply["error"]["code"] == "parse_error"
    assert c.call("ping")["status"] == "success"


def test_invalid_utf8_and_non_objects(make_service):
    c = _vetted(make_service().client())
    c.send_raw(b'{"id": 1, "type": "ping", "params": {"x": "\xff\xfe"}}\n')
    assert c.read_line()["error"]["code"] == "parse_error"
    c.send_raw(b"[1, 2, 3]\n")
    assert c.read_line()["error"]["code"] == "parse_error"
    c.send_raw(b'{"id": 3, "params": {}}\n')
    reply = c.read_line()
    assert reply["id"] == 3 and reply["error"]["code"] == "invalid_request"
    c.send_raw(b'{"id": 4, "type": "ping", "params": [1]}\n')
    reply = c.read_line()
    assert reply["id"] == 4 and reply["error"]["code"] == "invalid_request"
    c.send_raw(b'{"id": true, "type": "ping"}\n')
    assert c.read_line()["error"]["code"] == "invalid_request"
    assert c.call("ping")["status"] == "success"


def test_the_same_errors_on_a_fresh_connection_close_it(make_service):
    h = make_service(max_message_bytes=100_000)
    for data in (b'{"id": 1, "type": "execute_code", "params": {"code": "1"\n', b"[1, 2, 3]\n",
                 b'{"id": 1, "type": "ping", "params": {"x": "\xff\xfe"}}\n',
                 json.dumps({"id": 1, "type": "execute_code", "params": {"code": "#" + "x" * 200_000}}).encode() + b"\n"):
        c = h.client()
        try:
            c.send_raw(data)
        except OSError:
            pass  # closed while the oversized message was still being sent
        answer = c.read_until_closed()
        assert answer.count(b"\n") == 1 and json.loads(answer)["error"]["code"] in ("parse_error",
                                                                                   "message_too_large")


def test_unknown_command(make_service):
    reply = make_service().client().call("make_coffee")
    assert reply["status"] == "error" and reply["result"] is None
    assert reply["error"]["code"] == "unknown_command" and "make_coffee" in reply["error"]["message"]
    assert "execute_code" in reply["error"]["known"]


@pytest.mark.parametrize("chunk", [None, 4096])
def test_oversized_message_is_refused_nothing_runs_and_the_connection_goes_on(make_service, chunk):
    c = _vetted(make_service(max_message_bytes=100_000).client())
    big = json.dumps({"id": 1, "type": "execute_code", "params": {"code": "oversized_ran = 1  # " + "x" * 200_000}})
    data = big.encode() + b"\n"
    if chunk is None:
        c.send_raw(data)
    else:
        for i in range(0, len(data), chunk):
            c.send_raw(data[i:i + chunk])
    reply = c.read_line()
    assert reply["status"] == "error" and reply["error"]["code"] == "message_too_large"
    assert "100000" in reply["error"]["message"]
    assert c.execute("oversized_ran")["error"]["type"] == "NameError"


def test_oversized_legacy_message_is_answered_then_the_connection_closes(make_service):
    h = make_service(max_message_bytes=100_000)
    c = h.client()
    body = b'{"type": "execute_code", "params": {"code": "legacy_big_ran = 1  # ' + b"y" * 300_000 + b'"}}'
    sender = threading.Thread(target=lambda: _send_ignoring_reset(c, body))
    sender.start()
    reply = c.read_legacy()
    sender.join(5)
    assert reply["status"] == "error" and reply["code"] == "message_too_large"
    assert c.read_until_closed() == b""
    assert h.client().execute("legacy_big_ran")["error"]["type"] == "NameError"


def _send_ignoring_reset(client, data):
    try:
        client.send_raw(data)
    except OSError:  # the server may close before everything was sent
        pass


def test_incomplete_message_is_dropped_after_the_idle_limit(make_service):
    c = make_service(idle_timeout=0.3).client()
    partial = b'{"id": 9, "type": "execute_code", "params": {"code": "half_sent = 1"'
    c.send_raw(partial)
    reply = c.read_line()
    # Dropped by the idle limit (nothing else answers a message that never completes).
    assert reply["id"] is None and reply["error"]["code"] == "incomplete_message"
    assert f"idle limit ({len(partial)} bytes buffered)" in reply["error"]["message"]
    assert c.execute("half_sent")["error"]["type"] == "NameError"


def test_an_idle_connection_between_messages_is_kept(make_service):
    c = make_service(idle_timeout=0.2).client()
    assert c.call("ping")["status"] == "success"
    time.sleep(0.5)  # no partial message: the idle limit does not apply
    assert c.call("ping")["status"] == "success"


def test_http_request_is_refused_closed_and_nothing_runs(make_service, tmp_path):
    h = make_service()
    marker = tmp_path / "http_ran"
    body = json.dumps({"type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w').write('x')"}})
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
    conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 403
    assert b"not HTTP" in response.read()
    conn.close()
    # Jobs run one at a time in submission order: had the body been run, it ran before this one.
    assert h.client().execute("'after'")["result"] == "after"  # and the server itself is fine
    assert not marker.exists()


def test_http_get_split_across_packets_is_refused(make_service):
    c = make_service().client()
    c.send_raw(b"GE")
    time.sleep(0.05)
    c.send_raw(b"T / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = c.read_until_closed()
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_legacy_client_gets_raw_json_replies_without_newline(make_service):
    c = make_service().client()
    c.send_raw(json.dumps({"type": "execute_code", "params": {"code": "print('legacy hi')"}}).encode())
    reply = c.read_legacy()
    assert reply["status"] == "success"
    assert reply["result"]["executed"] is True and reply["result"]["result"] == "legacy hi\n"
    c.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):  # nothing after the object: no newline, no second reply
        c.sock.recv(10)
    assert c._buf == b""


def test_legacy_unknown_command_and_error_shapes(make_service):
    c = make_service().client()
    c.send_raw(b'{"type": "make_coffee", "params": {}}')
    assert c.read_legacy() == {"status": "error", "message": "Unknown command type: make_coffee"}
    c.send_raw(b'{"type": "execute_code", "params": {"code": "1/0"}}')
    reply = c.read_legacy()
    assert reply == {"status": "error", "message": "Code execution error: ZeroDivisionError: division by zero"}


def test_legacy_malformed_object_gets_a_legacy_error(make_service):
    c = make_service().client()
    c.send_raw(b'{"type": "ping", oops}')
    reply = c.read_legacy()
    assert reply["status"] == "error" and reply["code"] == "parse_error"
    assert "malformed JSON" in reply["message"]


def test_untyped_legacy_code_request(make_service):
    h = make_service()
    c = h.client()
    c.send_raw(b'{"code": "print(6 * 7)"}')
    assert c.read_legacy() == {"response": "OK", "message": "Code executed successfully",
                               "source": f"tcp://127.0.0.1:{h.port}", "output": "42\n"}


def test_v1_object_with_id_but_no_newline_gets_a_v1_line(make_service):
    c = make_service().client()
    c.send_raw(b'{"id": 11, "type": "ping"}')
    reply = c.read_line()
    assert reply["id"] == 11 and reply["status"] == "success"


def test_each_connection_has_its_own_id_and_namespace(make_service):
    h = make_service()
    a, b = h.client(), h.client()
    id_a = a.call("hello")["result"]["connection_id"]
    id_b = b.call("hello")["result"]["connection_id"]
    assert id_a != id_b
    a.execute("mine = 'a'")
    assert b.execute("mine")["error"]["type"] == "NameError"
    assert a.execute("mine")["result"] == "a"


def test_closing_a_connection_drops_its_namespace(make_service, poll):
    h = make_service()
    a = h.client()
    a.execute("x = 1")
    assert h.service.sessions.stats()["connections"] == 1
    a.close()
    assert poll(lambda: h.service.sessions.stats()["connections"] == 0)
    assert poll(lambda: h.service.server.connection_count() == 0)


def test_connection_limit_refuses_with_busy(make_service, poll):
    h = make_service(max_connections=2)
    a, b = h.client(), h.client()
    assert a.call("ping")["status"] == "success" and b.call("ping")["status"] == "success"
    c = h.client()
    reply = c.read_line()
    assert reply["error"]["code"] == "busy" and "limit 2" in reply["error"]["message"]
    assert c.read_until_closed() == b""
    b.close()
    assert poll(lambda: h.service.server.connection_count() == 1)
    assert h.client().call("ping")["status"] == "success"


def test_control_commands_answer_while_a_job_holds_the_main_thread(make_service):
    h = make_service()
    c = h.client()
    # The job holds the main thread until the gate opens, after the control commands answered:
    # had they waited for the main thread, they would never have answered.
    job = c.execute("gate.wait()", execution_mode="async", timeout=60)["result"]["job_id"]
    other = h.client()
    assert other.call("ping")["status"] == "success"
    status = other.call("status")["result"]
    assert status["jobs"]["running"] + status["jobs"]["queued"] == 1
    assert h.service.jobs.get(job).envelope is None  # still holding the main thread
    h.gate.set()
    assert c.call("get_job", {"job_id": job, "wait": 60})["result"]["status"] == "success"


def test_client_disconnecting_mid_message_does_not_hurt_the_server(make_service, poll):
    h = make_service()
    c = h.client()
    c.send_raw(b'{"id": 1, "type": "execute_code", "params": {"code": "never_r')
    c.close()
    assert poll(lambda: h.service.server.connection_count() == 0)
    assert h.client().call("ping")["status"] == "success"


def test_stop_closes_client_connections(make_service):
    h = make_service()
    c = h.client()
    assert c.call("ping")["status"] == "success"
    h.service.server.stop()
    assert c.read_until_closed() == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", h.port), timeout=1)
    h.service.server.stop()  # a second stop is harmless


def test_port_in_use_is_a_clear_error():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        server = TcpServer(config.Settings(port=port), service=None)
        with pytest.raises(PortInUse) as info:
            server.start()
        assert str(port) in str(info.value) and "BLD_REMOTE_MCP_PORT" in str(info.value)
    finally:
        holder.close()


def test_service_start_failure_undoes_the_output_capture():
    from bld_remote_mcp.engine.service import Service

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    before = (sys.stdout, sys.stderr)
    try:
        service = Service(config.Settings(port=holder.getsockname()[1], auth=False), mode="background", blender_version="t",
                          addon_version="0", main_thread_ident=threading.get_ident(), capture_fds=False)
        with pytest.raises(PortInUse):
            service.start()
        assert (sys.stdout, sys.stderr) == before
        assert not service.running
        service.interrupter._thread.join(2)
        assert not service.interrupter._thread.is_alive()
    finally:
        holder.close()
