"""commands/execute.py over the wire: params, base64 code, timeouts, sessions, queue limit."""

import base64
import json

import pytest


@pytest.mark.parametrize(
    "params,param",
    [
        ({}, "code"),
        ({"code": 5}, "code"),
        ({"code": None}, "code"),
        ({"code": "1", "timeout": "5"}, "timeout"),
        ({"code": "1", "timeout": 0}, "timeout"),
        ({"code": "1", "timeout": True}, "timeout"),
        ({"code": "1", "timeout": 10**9}, "timeout"),
        ({"code": "1", "_timeout_seconds": -1}, "_timeout_seconds"),
        ({"code": "1", "execution_mode": "later"}, "execution_mode"),
        ({"code": "1", "capture_output": "yes"}, "capture_output"),
        ({"code": "1", "session": 5}, "session"),
        ({"code": "1", "max_result_bytes": -1}, "max_result_bytes"),
        ({"code": "1", "max_result_bytes": 1.5}, "max_result_bytes"),
        ({"code": "!!!", "code_is_base64": True}, "code"),
        ({"code": base64.b64encode(b"\xff\xfe").decode(), "code_is_base64": True}, "code"),
        ({"code": "1", "code_is_base64": "yes"}, "code_is_base64"),
    ],
)
def test_invalid_params_name_the_param_and_nothing_runs(make_service, params, param):
    h = make_service()
    c = h.client()
    reply = c.call("execute_code", params)
    assert reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == param
    assert f"'{param}'" in reply["error"]["message"]
    assert h.service.jobs.all() == []


def test_base64_code(make_service):
    c = make_service().client()
    code = "s = 'ünïcode'\nprint(s)\nlen(s)"
    reply = c.execute(base64.b64encode(code.encode("utf-8")).decode("ascii"), code_is_base64=True)
    assert reply["status"] == "success" and reply["result"] == 7
    assert reply["output"]["stdout"] == "ünïcode\n"


def test_timeout_param_and_its_precedence(make_service):
    h = make_service(default_timeout=12.0)
    c = h.client()

    def timeout_of(**params):
        job_id = c.execute("1", execution_mode="async", **params)["result"]["job_id"]
        return c.call("get_job", {"job_id": job_id, "wait": 5})["result"]["timeout"]

    assert timeout_of() == 12.0
    assert timeout_of(timeout=2.5) == 2.5
    assert timeout_of(_timeout_seconds=99999) == 3600.0  # 1.3.3's override, capped at an hour
    assert timeout_of(_timeout_seconds=7) == 7
    assert timeout_of(timeout=3, _timeout_seconds=9) == 3


def test_max_result_bytes_is_capped_by_the_server_limit(make_service):
    c = make_service(max_result_bytes=2048).client()
    reply = c.execute("list(range(100000))", max_result_bytes=10**12)
    assert reply["status"] == "success"
    assert reply["result"][-1]["__truncated__"] is True
    assert len(json.dumps(reply["result"])) < 3 * 2048
    small = c.execute("'x' * 500", max_result_bytes=100)
    assert small["result"]["__truncated__"] is True and small["result"]["length"] == 500


def test_capture_output_false(make_service):
    c = make_service().client()
    reply = c.execute("print('not captured')\n3", capture_output=False)
    assert reply["result"] == 3 and reply["output"] == {"stdout": "", "stderr": "", "logs": []}


def test_named_sessions_are_shared_across_connections(make_service):
    h = make_service()
    a, b = h.client(), h.client()
    a.execute("shared = [1]", session="team")
    assert b.execute("shared.append(2)\nshared", session="team")["result"] == [1, 2]
    assert b.execute("shared")["error"]["type"] == "NameError"  # b's own namespace


def test_queue_full(make_service):
    h = make_service(max_pending_jobs=2)
    c = h.client()
    # Holds the main thread until the gate opens: both jobs are still pending at the third.
    running = c.execute("gate.wait()", execution_mode="async", timeout=60)["result"]["job_id"]
    c.execute("1", execution_mode="async")
    reply = c.execute("2", execution_mode="async")
    assert reply["status"] == "error" and reply["error"]["code"] == "queue_full"
    assert "limit 2" in reply["error"]["message"]
    h.gate.set()
    assert c.call("get_job", {"job_id": running, "wait": 60})["result"]["status"] == "success"
    assert c.execute("'room again'")["result"] == "room again"


def test_result_envelope_metadata(make_service):
    c = make_service().client()
    reply = c.execute("[i for i in range(3)]")
    assert reply["result"] == [0, 1, 2]
    meta = reply["metadata"]
    assert meta["job_id"].startswith("job-")
    assert meta["memory_before"] > 0 and meta["memory_after"] > 0
    assert reply["duration"] >= 0 and reply["traceback"] is None


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_standard_json_constants_are_a_parse_error_and_nothing_runs(make_service, literal):
    h = make_service()
    c = h.client()
    assert c.call("ping")["status"] == "success"  # vetted: a parse error does not close it (§1a)
    c.send_raw(b'{"id": 1, "type": "execute_code", "params": {"code": "ran = 1", "timeout": ' + literal + b'}}\n')
    reply = c.read_line()
    assert reply["status"] == "error" and reply["error"]["code"] == "parse_error"
    assert h.service.jobs.all() == []
    assert c.call("list_jobs")["status"] == "success"


def _job_states(client):
    return {j["job_id"]: (j["state"], j.get("status")) for j in client.call("list_jobs")["result"]["jobs"]}


@pytest.mark.parametrize("on_disconnect,expected", [("cancel", "cancelled"), ("finish", "success")])
def test_a_caller_that_disconnects_mid_call(make_service, poll, on_disconnect, expected):
    h = make_service(on_disconnect=on_disconnect)
    control = h.client()
    leaver = h.client()
    leaver_id = leaver.call("hello")["result"]["connection_id"]
    # Interruptible Python that runs until the gate opens (or its 60 s timeout: status "timeout").
    leaver.request("execute_code", {"code": "import time\nwhile not gate.is_set():\n    time.sleep(0.01)\n'done'",
                                    "timeout": 60})
    assert poll(lambda: any(state == "running" for state, _ in _job_states(control).values()))
    (connection,) = [conn for conn in list(h.service.server._connections) if conn.id == leaver_id]
    leaver.close()
    assert poll(connection.peer_gone)  # the server can see the caller is gone
    if on_disconnect == "finish":
        h.gate.set()  # "cancel" keeps it closed: only the cancel can end the job in time
    assert poll(lambda: all(state == "finished" for state, _ in _job_states(control).values()))
    (state, status), = _job_states(control).values()
    assert status == expected
    assert control.execute("1 + 1")["result"] == 2


def test_on_disconnect_setting():
    from bld_remote_mcp.engine import config

    assert config.from_env({}).on_disconnect == "finish"
    assert config.from_env({"BLD_REMOTE_MCP_ON_DISCONNECT": "Cancel"}).on_disconnect == "cancel"
    with pytest.raises(ValueError, match="one of finish, cancel"):
        config.from_env({"BLD_REMOTE_MCP_ON_DISCONNECT": "kill"})
