"""Runaway code, stuck C calls, async jobs and cancellation, against real Blender."""

import time

import pytest


from harness import CORE_BACKENDS

# One C call that holds the main thread for 4 s and cannot be interrupted, like a long render:
# with SIGUSR1 blocked, neither the asynchronous exception nor the signal can break into it.
STUCK_C_CALL = (
    "import signal, time\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
    "try:\n"
    "    time.sleep(4)\n"
    "finally:\n"
    "    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})\n"
)


def test_infinite_loop_is_stopped_and_next_call_works(client):
    start = time.monotonic()
    reply = client.execute("print('partial')\nwhile True:\n    pass", timeout=1)
    elapsed = time.monotonic() - start
    assert reply["status"] == "timeout"
    assert reply["error"]["code"] == "timeout" and reply["error"]["line"] in (2, 3)
    assert reply["output"]["stdout"] == "partial\n"
    assert elapsed < 1 + 1.5, elapsed
    assert "bld_remote_mcp/" not in reply["traceback"] and ".py\"" not in reply["traceback"], reply["traceback"]
    assert 'File "<bld-remote:' in reply["traceback"]
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
    start = time.monotonic()
    reply = client.execute(code, timeout=1)
    assert reply["status"] == "timeout", reply
    assert time.monotonic() - start < 1 + 1.5 + 1.5  # four swallowed re-sends at 0.25 s each
    assert client.ok("caught")["result"] >= 1


def test_blocking_sleep_is_interrupted(client):
    start = time.monotonic()
    reply = client.execute("import time\ntime.sleep(60)", timeout=1)
    assert reply["status"] == "timeout"
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("kind", CORE_BACKENDS)
def test_stuck_c_call_is_reported_and_control_commands_still_answer(spawn, kind):
    # Its own instance without the coverage tracer: under a tracer, client threads do not get to
    # run while the main thread sits in a C call, and this test is about exactly that timing.
    backend = spawn(kind, coverage=False)
    with backend.client() as c, backend.client() as control:
        start = time.monotonic()
        c.request("execute_code", {"code": STUCK_C_CALL, "timeout": 0.5})
        time.sleep(0.8)
        ping_start = time.monotonic()
        assert control.call("ping")["status"] == "success"
        assert time.monotonic() - ping_start < 0.5
        running = [j for j in control.call("list_jobs")["result"]["jobs"] if j["state"] == "running"]
        assert len(running) == 1
        reply = c.read_line(timeout=30)
        elapsed = time.monotonic() - start
        assert reply["status"] == "timeout"
        assert reply["error"]["stuck"] is True
        assert "C call" in reply["error"]["message"]
        assert reply["metadata"]["still_running"] is True
        assert elapsed < 0.5 + 1.0 + 1.0, elapsed  # timeout + grace, answered while still stuck
        job_id = reply["metadata"]["job_id"]
        finished = control.call("get_job", {"job_id": job_id, "wait": 30})["result"]
        assert finished["state"] == "finished" and finished["envelope"]["status"] == "timeout"
        assert c.ok("'alive'")["result"] == "alive"


def test_async_job_returns_at_once_and_is_followed_up(client):
    start = time.monotonic()
    submitted = client.call("execute_code", {"code": "import time\ntime.sleep(0.5)\nprint('done')\n21 * 2",
                                              "execution_mode": "async"})
    assert time.monotonic() - start < 0.4
    assert submitted["status"] == "success"
    job_id = submitted["result"]["job_id"]
    early = client.call("get_job", {"job_id": job_id})["result"]
    assert early["state"] in ("queued", "running") and early["envelope"] is None
    listed = client.call("list_jobs")["result"]["jobs"]
    assert job_id in [job["job_id"] for job in listed]
    final = client.call("get_job", {"job_id": job_id, "wait": 10})["result"]
    assert final["state"] == "finished"
    assert final["envelope"]["status"] == "success"
    assert final["envelope"]["result"] == 42
    assert final["envelope"]["output"]["stdout"] == "done\n"


def test_cancel_running_async_job(client):
    job_id = client.call("execute_code", {"code": "while True:\n    pass",
                                          "execution_mode": "async"})["result"]["job_id"]
    time.sleep(0.3)
    cancelled = client.call("cancel_job", {"job_id": job_id})["result"]
    assert cancelled["cancel_accepted"] is True
    final = client.call("get_job", {"job_id": job_id, "wait": 5})["result"]
    assert final["state"] == "finished" and final["envelope"]["status"] == "cancelled"
    assert client.ok("3")["result"] == 3


def test_cancel_queued_job_never_runs_it(client):
    blocker = client.call("execute_code", {"code": "import time\ntime.sleep(1)", "execution_mode": "async"})["result"]
    queued = client.call("execute_code", {"code": "ran_queued = True", "execution_mode": "async"})["result"]
    result = client.call("cancel_job", {"job_id": queued["job_id"]})["result"]
    assert result["cancel_accepted"] is True and result["envelope"]["status"] == "cancelled"
    client.call("get_job", {"job_id": blocker["job_id"], "wait": 10})
    assert client.execute("ran_queued")["error"]["type"] == "NameError"


def test_unknown_job_is_not_found(client):
    for command in ("get_job", "cancel_job"):
        reply = client.call(command, {"job_id": "job-does-not-exist"})
        assert reply["status"] == "error" and reply["error"]["code"] == "not_found"


def test_full_queue_is_a_clear_error(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_PENDING_JOBS": "2"})
    with instance.client() as c:
        for _ in range(2):
            reply = c.call("execute_code", {"code": "import time\ntime.sleep(1.5)", "execution_mode": "async"})
            assert reply["status"] == "success"
        reply = c.call("execute_code", {"code": "1", "execution_mode": "async"})
        assert reply["status"] == "error" and reply["error"]["code"] == "queue_full"
        assert "limit 2" in reply["error"]["message"]


def test_finished_jobs_are_kept_bounded(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_MAX_FINISHED_JOBS": "3", "BLD_REMOTE_MCP_MAX_PENDING_JOBS": "4"})
    with instance.client() as c:
        ids = [c.call("execute_code", {"code": f"{i}", "execution_mode": "async"})["result"]["job_id"]
               for i in range(4)]
        for job_id in ids:
            c.call("get_job", {"job_id": job_id, "wait": 10})
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
