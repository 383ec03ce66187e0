"""Runaway code, stuck C calls, async jobs and cancellation, against real Blender.

Nothing here measures how long anything took. A job that must still be running while the test
looks at it waits for a gate the test opens: a file (``until_exists``: interruptible Python) or a
byte on a socket (the stuck C call). Where the shared instances' 1 s stuck grace could turn a
timeout reply into a "stuck" one on a loaded machine, the job's own record (``final_envelope``)
is checked, not the reply. Waits of 60 s are hang guards: they run out only when the awaited
thing never happens.
"""

import socket
import time

import pytest


from harness import CORE_BACKENDS

# One C call that holds the main thread until the test sends a byte on `gate` (a socket the
# caller connected in an earlier call) and cannot be interrupted, like a long render: with
# SIGUSR1 blocked, neither the asynchronous exception nor the signal can break into it.
STUCK_C_CALL = (
    "import signal\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
    "try:\n"
    "    gate.recv(1)\n"
    "finally:\n"
    "    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})\n"
)


def until_exists(path):
    """Job code that runs (interruptible Python) until the test creates ``path``."""
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.01)\n"


def final_envelope(client, reply):
    """The envelope the job of a sync ``reply`` finished with: the reply itself, unless the
    stuck grace ran out first (then the job is followed until it ends)."""
    job = client.call("get_job", {"job_id": reply["metadata"]["job_id"], "wait": 60})["result"]
    assert job["state"] == "finished", job
    return job["envelope"]


def wait_until_running(client, job_id):
    deadline = time.monotonic() + 60  # a hang guard
    while client.call("get_job", {"job_id": job_id})["result"]["state"] != "running":
        assert time.monotonic() < deadline, f"{job_id} never started"
        time.sleep(0.02)


def test_infinite_loop_is_stopped_and_next_call_works(client):
    reply = client.execute("print('partial')\nwhile True:\n    pass", timeout=1)
    assert reply["status"] == "timeout" and reply["error"]["code"] == "timeout"
    # The loop never ends on its own: a job that finished was stopped by its timeout.
    envelope = final_envelope(client, reply)
    assert envelope["status"] == "timeout" and "stuck" not in envelope["error"]
    assert envelope["error"]["code"] == "timeout" and envelope["error"]["line"] in (2, 3)
    assert envelope["output"]["stdout"] == "partial\n"
    traceback = envelope["traceback"]
    assert "bld_remote_mcp/" not in traceback and ".py\"" not in traceback, traceback
    assert 'File "<bld-remote:' in traceback
    assert client.ok("1 + 1")["result"] == 2


def test_code_that_swallows_base_exception_is_still_stopped(client):
    code = (
        "caught = 0\n"
        "while True:\n"
        "    try:\n"
        "        while True:\n"
        "            pass\n"
        "    except BaseException:\n"
        "        caught += 1\n"
        "        if caught > 3:\n"
        "            break\n"
        "while True:\n"
        "    try:\n"
        "        pass\n"
        "    except Exception:\n"
        "        pass\n"
    )
    reply = client.execute(code, timeout=1)
    assert reply["status"] == "timeout", reply
    # Neither loop ends on its own: the re-sent interrupts got through `except BaseException`.
    envelope = final_envelope(client, reply)
    assert envelope["status"] == "timeout" and envelope["error"]["code"] == "timeout", envelope
    assert client.ok("caught")["result"] >= 1


def test_blocking_sleep_is_interrupted(client):
    # `slept` gets the sleep's return value only if the sleep ran to its end: between the two C
    # calls (map, append) no Python code runs that an interrupt could stop.
    reply = client.execute("import time\nslept = []\nlist(map(slept.append, map(time.sleep, [60])))", timeout=1)
    assert reply["status"] == "timeout"
    assert final_envelope(client, reply)["status"] == "timeout"
    assert client.ok("slept")["result"] == [], "the sleep was broken, not run to its end"


@pytest.mark.parametrize("kind", CORE_BACKENDS)
def test_stuck_c_call_is_reported_and_control_commands_still_answer(spawn, kind):
    # Its own instance without the coverage tracer: under a tracer, client threads do not get to
    # run while the main thread sits in a C call, and this test is about exactly that timing.
    backend = spawn(kind, coverage=False)
    with socket.create_server(("127.0.0.1", 0)) as listener, backend.client() as c, \
            backend.client() as control:
        # Connected in a call of its own: the stuck call itself is only the C call.
        c.ok(f"import socket\ngate = socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}))")
        listener.settimeout(60)
        peer, _ = listener.accept()  # the test's end of `gate`
        with peer:
            c.request("execute_code", {"code": STUCK_C_CALL, "timeout": 1})
            reply = c.read_line(timeout=60)
            # Answered while still stuck: the call cannot return before the byte it waits for,
            # which is only sent below.
            assert reply["status"] == "timeout"
            assert reply["error"]["stuck"] is True
            assert "C call" in reply["error"]["message"]
            assert reply["metadata"]["still_running"] is True
            job_id = reply["metadata"]["job_id"]
            assert control.call("ping")["status"] == "success"  # control commands still answer
            running = [j for j in control.call("list_jobs")["result"]["jobs"] if j["state"] == "running"]
            assert [j["job_id"] for j in running] == [job_id]
            peer.sendall(b"x")  # the long C call returns
            finished = control.call("get_job", {"job_id": job_id, "wait": 60})["result"]
        assert finished["state"] == "finished" and finished["envelope"]["status"] == "timeout"
        assert c.ok("gate.close()\n'alive'")["result"] == "alive"


def test_async_job_returns_at_once_and_is_followed_up(client, tmp_path):
    gate = tmp_path / "gate"
    submitted = client.call("execute_code", {"code": until_exists(gate) + "print('done')\n21 * 2",
                                              "execution_mode": "async", "timeout": 60})
    # Answered while the job waits for the gate, which only the test opens (below).
    assert submitted["status"] == "success"
    job_id = submitted["result"]["job_id"]
    early = client.call("get_job", {"job_id": job_id})["result"]
    assert early["state"] in ("queued", "running") and early["envelope"] is None
    listed = client.call("list_jobs")["result"]["jobs"]
    assert job_id in [job["job_id"] for job in listed]
    gate.touch()
    final = client.call("get_job", {"job_id": job_id, "wait": 60})["result"]
    assert final["state"] == "finished"
    assert final["envelope"]["status"] == "success"
    assert final["envelope"]["result"] == 42
    assert final["envelope"]["output"]["stdout"] == "done\n"


def test_cancel_running_async_job(client):
    job_id = client.call("execute_code", {"code": "while True:\n    pass",
                                          "execution_mode": "async", "timeout": 120})["result"]["job_id"]
    wait_until_running(client, job_id)
    cancelled = client.call("cancel_job", {"job_id": job_id})["result"]
    assert cancelled["cancel_accepted"] is True
    final = client.call("get_job", {"job_id": job_id, "wait": 60})["result"]
    assert final["state"] == "finished" and final["envelope"]["status"] == "cancelled"
    assert client.ok("3")["result"] == 3


def test_cancel_queued_job_never_runs_it(client, tmp_path):
    gate = tmp_path / "gate"
    # The blocker holds Blender's main thread until the gate opens, after the cancel.
    blocker = client.call("execute_code", {"code": until_exists(gate), "execution_mode": "async",
                                           "timeout": 60})["result"]
    queued = client.call("execute_code", {"code": "ran_queued = True", "execution_mode": "async"})["result"]
    result = client.call("cancel_job", {"job_id": queued["job_id"]})["result"]
    assert result["cancel_accepted"] is True and result["envelope"]["status"] == "cancelled"
    gate.touch()
    assert client.call("get_job", {"job_id": blocker["job_id"], "wait": 60})["result"]["status"] == "success"
    assert client.execute("ran_queued")["error"]["type"] == "NameError"


def test_unknown_job_is_not_found(client):
    for command in ("get_job", "cancel_job"):
        reply = client.call(command, {"job_id": "job-does-not-exist"})
        assert reply["status"] == "error" and reply["error"]["code"] == "not_found"


def test_full_queue_is_a_clear_error(spawn, tmp_path):
    gate = tmp_path / "gate"
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_PENDING_JOBS": "2"})
    with instance.client() as c:
        try:
            for _ in range(2):  # both pending until the gate opens
                reply = c.call("execute_code", {"code": until_exists(gate), "execution_mode": "async",
                                                "timeout": 60})
                assert reply["status"] == "success"
            reply = c.call("execute_code", {"code": "1", "execution_mode": "async"})
            assert reply["status"] == "error" and reply["error"]["code"] == "queue_full"
            assert "limit 2" in reply["error"]["message"]
        finally:
            gate.touch()


def test_finished_jobs_are_kept_bounded(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_FINISHED_JOBS": "3", "BLD_REMOTE_MCP_MAX_PENDING_JOBS": "4"})
    with instance.client() as c:
        ids = [c.call("execute_code", {"code": f"{i}", "execution_mode": "async"})["result"]["job_id"]
               for i in range(4)]
        for job_id in ids:
            c.call("get_job", {"job_id": job_id, "wait": 60})
        for i in range(4):  # later creations prune the oldest finished jobs
            c.ok(f"{i}")
        kept = [job["job_id"] for job in c.call("list_jobs")["result"]["jobs"]]
        assert len(kept) <= 3 + 4
        assert c.call("get_job", {"job_id": ids[0]})["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", CORE_BACKENDS)
def test_sys_exit_replies_first_then_exits_with_its_code(spawn, kind):
    instance = spawn(kind)
    with instance.client() as c:
        reply = c.execute("print('bye')\nimport sys\nsys.exit(3)")
        assert reply["status"] == "success"
        assert reply["metadata"]["system_exit"] == 3
        assert reply["output"]["stdout"] == "bye\n"
    assert instance.wait_exit(20) == 3


def test_caught_system_exit_does_not_stop_blender(client):
    reply = client.ok("try:\n    raise SystemExit(4)\nexcept SystemExit:\n    pass\n'still here'")
    assert reply["result"] == "still here" and "system_exit" not in reply["metadata"]


def test_async_sys_exit_shuts_down(spawn):
    instance = spawn("bg")
    with instance.client() as c:
        reply = c.call("execute_code", {"code": "import sys; sys.exit(5)", "execution_mode": "async"})
        assert reply["status"] == "success"
    assert instance.wait_exit(20) == 5


def test_shutdown_command_replies_then_exits(spawn):
    instance = spawn("bg")
    with instance.client() as c:
        reply = c.call("shutdown")
        assert reply["status"] == "success"
    assert instance.wait_exit(20) == 0
