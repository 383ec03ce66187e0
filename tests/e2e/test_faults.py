"""Faults: clients that vanish mid-call, against real Blender (issue 6)."""

import json
import socket
import time


def _status(instance):
    with instance.client() as c:
        return c.call("status")["result"]


def _threads_and_rss(instance):
    with instance.client() as c:
        value = c.ok("import threading\nthreading.active_count()")["result"]
        rss = c.call("status")["result"]["rss_bytes"]
    return value, rss


def test_a_thousand_mid_call_disconnects_leak_nothing_and_every_job_ends(spawn):
    instance = spawn("bg")
    threads_before, rss_before = _threads_and_rss(instance)
    call = json.dumps({"id": 1, "type": "execute_code", "params": {"code": "import time\ntime.sleep(0.001)\nx = 1"}}).encode() + b"\n"
    with instance.client() as c:
        first = int(c.ok("1")["metadata"]["job_id"].rsplit("-", 1)[1])
    started = time.monotonic()
    with instance.client() as control:
        for i in range(1000):
            with instance.client() as caller:  # authenticated
                caller.send_raw(call)
                # ...and gone before the reply.
            if i % 20 == 19:
                # Keep under the pending-job limit (64): past it, calls are refused with
                # queue_full, which a client that left never sees.
                while control.call("status")["result"]["jobs"]["queued"] > 20:
                    time.sleep(0.005)
    elapsed = time.monotonic() - started  # reported below, not asserted: a measurement
    deadline = time.monotonic() + 120  # a hang guard: the queue drains long before, or never
    while time.monotonic() < deadline:
        status = _status(instance)
        if status["jobs"]["queued"] == 0 and status["jobs"]["running"] == 0 and status["connections"] <= 1:
            break
        time.sleep(0.1)
    assert status["jobs"]["queued"] == 0 and status["jobs"]["running"] == 0, status
    assert status["connections"] <= 1, "every dropped connection was cleaned up"
    with instance.client() as c:
        jobs = c.call("list_jobs")["result"]["jobs"]
    finished = [job for job in jobs if job["code_preview"] == "import time"]
    assert finished and all(job["state"] == "finished" and job["status"] == "success" for job in finished), \
        "abandoned jobs still ran to the end"
    with instance.client() as c:
        last = int(c.ok("1")["metadata"]["job_id"].rsplit("-", 1)[1])
    assert last == first + 1001, f"every abandoned call became a job (job-{first} .. job-{last})"
    threads_after, rss_after = _threads_and_rss(instance)
    assert threads_after <= threads_before + 1, (threads_before, threads_after)
    assert rss_after - rss_before < 32 * 1024 * 1024, (rss_before, rss_after)
    print(f"1000 mid-call disconnects in {elapsed:.1f} s; threads {threads_before}->{threads_after}; "
          f"RSS {rss_before / 2**20:.1f}->{rss_after / 2**20:.1f} MiB")


def _probe_latencies(instance, count):
    """Round trips of a trivial execute_code on an authenticated connection, in seconds."""
    timings = []
    with instance.client() as c:
        for _ in range(count):
            started = time.perf_counter()
            assert c.ok("1 + 1")["result"] == 2
            timings.append(time.perf_counter() - started)
    return sorted(timings)


def _open_idle(port, count, half_message):
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            break  # the kernel's backlog is full for a moment; the point is made with what we hold
        if half_message:
            sock.sendall(b'{"id": 1, "type": "execute_code", "params": {"code": "x' + b"y" * 4000)
        sockets.append(sock)
    return sockets


def test_thousands_of_idle_strangers_neither_lock_out_token_holders_nor_grow_memory(spawn):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3000
    if soft < wanted + 200 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted + 200), hard))
    count = min(wanted, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
    instance = spawn("bg", env={"BLD_REMOTE_MCP_AUTH_TIMEOUT": "3", "BLD_REMOTE_MCP_MAX_CONNECTIONS": "256"})
    baseline = _probe_latencies(instance, 200)
    rss_before = _status(instance)["rss_bytes"]
    idle = _open_idle(instance.port, count // 2, half_message=False)
    idle += _open_idle(instance.port, count - len(idle), half_message=True)
    try:
        assert len(idle) >= 1000, f"only {len(idle)} connections could be opened"
        during = _probe_latencies(instance, 200)
        status = _status(instance)
        # Strangers were evicted as they came: slots stay within the limit, and a client with
        # the token always got one.
        assert status["connections"] <= 256 + 1, status["connections"]
        assert status["rss_bytes"] - rss_before < 64 * 1024 * 1024, (rss_before, status["rss_bytes"])
        p50 = lambda xs: xs[len(xs) // 2]
        print(f"idle strangers: {len(idle)} connections; probe p50 {p50(baseline) * 1e3:.2f} ms before, "
              f"{p50(during) * 1e3:.2f} ms during; p99 {baseline[-2] * 1e3:.2f} / {during[-2] * 1e3:.2f} ms; "
              f"connections held {status['connections']}; RSS +{(status['rss_bytes'] - rss_before) / 2**20:.1f} MiB")
        # Not a timing test: the latencies are reported, not asserted. That the token holder was
        # never locked out is shown by its 200 calls above all succeeding.
        # Past the auth deadline every stranger is gone.
        # (Judged on the same reading that ended the wait: the connection of one status call
        # may still be counted while the next one asks. 60 s is a hang guard for a 3 s deadline.)
        deadline = time.monotonic() + 60
        while True:
            connections = _status(instance)["connections"]
            if connections <= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert connections <= 1, connections
    finally:
        for sock in idle:
            sock.close()
    assert instance.alive()
    with instance.client() as c:
        assert c.ok("import threading\nthreading.active_count()")["result"] < 20, "no thread was left behind"


def test_on_disconnect_cancel_stops_the_code_of_a_caller_that_left(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_ON_DISCONNECT": "cancel"})
    # Pure Python busy loop: the interrupt lands between bytecodes. Left alone it never ends (its
    # timeout is an hour away): only the cancel can end it within the test.
    call = json.dumps({"id": 1, "type": "execute_code", "params": {
        "code": "import time\nwhile True:\n    pass", "timeout": 3600}})
    with instance.client() as control:
        with instance.client() as caller:  # authenticated
            caller.send_raw(call.encode() + b"\n")
            deadline = time.monotonic() + 60  # a hang guard
            while not any(j["code_preview"] == "import time" and j["state"] == "running"
                          for j in control.call("list_jobs")["result"]["jobs"]):
                assert time.monotonic() < deadline, "the call never started"
                time.sleep(0.02)
        # ...and the caller is gone while its code runs.
        deadline = time.monotonic() + 60  # a hang guard
        while True:
            jobs = [j for j in control.call("list_jobs")["result"]["jobs"] if j["code_preview"] == "import time"]
            if jobs and jobs[0]["state"] == "finished":
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.05)
        assert jobs[0]["status"] == "cancelled"
        assert control.ok("6 * 7")["result"] == 42, "Blender's main thread is free again"
