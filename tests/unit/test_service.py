"""Service end to end in plain Python: a real server, queue, executor and capture.

Most tests use ``make_service``, whose "Blender main thread" is a helper thread (so interrupts
never reach pytest); one test serves on the real main thread to cover the SIGUSR1 path.
"""

import os
import signal
import sys
import threading
import time

import pytest

from bld_remote_mcp.commands import COMMANDS, Command
from bld_remote_mcp.engine import config
from bld_remote_mcp.engine.service import Service


def test_hello(make_service):
    h = make_service()
    reply = h.client().call("hello")
    assert reply["status"] == "success" and reply["error"] is None
    r = reply["result"]
    assert r["protocol_version"] == 2 and r["server"] == "bld-remote"
    assert (r["blender_version"], r["addon_version"], r["mode"], r["port"]) == ("test", "0", "background", h.port)
    assert r["pid"] == os.getpid() and isinstance(r["connection_id"], int)


def test_status_reports_the_service(make_service):
    h = make_service()
    c = h.client()
    c.execute("x = 1")
    c.execute("y = 1", session="shared")
    s = c.call("status")["result"]
    assert s["running"] is True and s["mode"] == "background" and s["port"] == h.port
    assert s["pid"] == os.getpid() and s["uptime"] >= 0
    assert s["connections"] == 1 and s["queue_length"] == 0
    assert s["jobs"] == {"queued": 0, "running": 0, "finished": 2}
    assert s["sessions"] == {"connections": 1, "named": ["shared"]}
    assert s["rss_bytes"] > 0


def test_sync_execute_success_error_and_timeout(make_service):
    c = make_service().client()
    ok = c.execute("print('out')\n2 ** 10")
    assert ok["status"] == "success" and ok["result"] == 1024 and ok["output"]["stdout"] == "out\n"
    assert set(ok) == {"id", "status", "result", "output", "duration", "error", "traceback", "metadata"}
    err = c.execute("print('partial')\n{}['k']")
    assert err["status"] == "error" and err["error"]["type"] == "KeyError" and err["error"]["line"] == 2
    assert err["output"]["stdout"] == "partial\n" and "KeyError" in err["traceback"]
    start = time.monotonic()
    slow = c.execute("while True:\n    pass", timeout=0.3)
    assert slow["status"] == "timeout" and slow["error"]["code"] == "timeout"
    assert time.monotonic() - start < 3
    assert c.execute("'still alive'")["result"] == "still alive"


@pytest.fixture
def without_tracer():
    """Run a test with no trace function (coverage, debugger), restoring it afterwards.

    Under a tracer CPython 3.11 stalls other traced threads while an asynchronous exception waits
    for a thread blocked in C; this test is about that timing, so it runs untraced.
    """
    saved = sys.gettrace(), threading.gettrace()
    sys.settrace(None)
    threading.settrace(None)
    yield
    sys.settrace(saved[0])
    threading.settrace(saved[1])


def test_code_stuck_in_a_long_call_gets_a_stuck_timeout_and_finishes_later(without_tracer, make_service):
    # The helper "main thread" has no SIGUSR1 handler: time.sleep cannot be broken, like a render.
    h = make_service(stuck_grace=0.2)
    c = h.client()
    start = time.monotonic()
    reply = c.execute("print('before sleep')\nimport time\ntime.sleep(1.5)\nprint('after')", timeout=0.2)
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 1.3  # timeout + grace, well before the sleep ends
    assert reply["status"] == "timeout"
    assert reply["error"]["stuck"] is True and reply["error"]["code"] == "timeout"
    assert reply["metadata"]["still_running"] is True
    assert reply["output"]["stdout"] == "before sleep\n"  # partial output of the running job
    job_id = reply["metadata"]["job_id"]
    assert c.call("ping")["status"] == "success"  # control commands still answer
    job = c.call("get_job", {"job_id": job_id, "wait": 5})["result"]
    assert job["state"] == "finished" and job["status"] == "timeout"
    assert "after" not in job["envelope"]["output"]["stdout"]  # interrupted as soon as the sleep returned


def test_sync_job_that_never_starts_is_cancelled(make_service):
    h = make_service()
    c = h.client()
    blocker = c.execute("import time\ntime.sleep(0.6)", execution_mode="async", timeout=5)["result"]["job_id"]
    reply = c.execute("never_started = True", timeout=0.2)
    assert reply["status"] == "timeout"
    assert reply["error"]["code"] == "busy" and "never started" in reply["error"]["message"]
    assert c.call("get_job", {"job_id": blocker, "wait": 5})["result"]["status"] == "success"
    assert c.execute("never_started")["error"]["type"] == "NameError"
    job = c.call("get_job", {"job_id": reply["metadata"]["job_id"]})["result"]
    assert job["state"] == "finished" and job["started"] is None


@pytest.fixture
def main_thread_probe(monkeypatch):
    """A test-only main-thread command that records where (and whether) it ran."""
    ran = []

    def probe(ctx, params):
        ran.append(threading.get_ident())
        return "probed"

    monkeypatch.setitem(COMMANDS, "t_probe", Command("t_probe", probe, True))
    return ran


def test_main_thread_commands_run_on_the_main_thread(make_service, main_thread_probe):
    h = make_service()
    assert h.client().call("t_probe")["result"] == "probed"
    assert main_thread_probe == [h.thread.ident]


def test_busy_main_thread_gives_busy_and_the_abandoned_call_never_runs(make_service, main_thread_probe):
    h = make_service(default_timeout=0.2)
    c = h.client()
    blocker = c.execute("import time\ntime.sleep(0.6)", execution_mode="async", timeout=5)["result"]["job_id"]
    reply = h.client().call("t_probe")
    assert reply["status"] == "error" and reply["error"]["code"] == "busy"
    assert "within 0.2 s" in reply["error"]["message"]
    c.call("get_job", {"job_id": blocker, "wait": 5})
    assert c.call("t_probe")["result"] == "probed"  # the queue moved past the abandoned call
    assert len(main_thread_probe) == 1


def test_async_system_exit_shuts_the_service_down_with_its_code(make_service):
    h = make_service()
    c = h.client()
    c.execute("import time", execution_mode="async")
    assert c.execute("time.sleep(0.2)\nraise SystemExit(4)", execution_mode="async")["status"] == "success"
    assert h.wait_loop_done() == 4
    assert h.service.exit_code == 4
    assert c.read_until_closed() == b""


def test_async_system_exit_still_delivers_the_job_id_reply(make_service, monkeypatch):
    from bld_remote_mcp.wire import tcp_server

    original_send = tcp_server.Connection.send

    def slow_send(self, reply, style):
        time.sleep(0.2)  # the client thread is slow to get the GIL back, as under load
        return original_send(self, reply, style)

    monkeypatch.setattr(tcp_server.Connection, "send", slow_send)
    h = make_service()
    reply = h.client().execute("raise SystemExit(4)", execution_mode="async")
    assert reply["status"] == "success" and reply["result"]["job_id"]
    assert h.wait_loop_done() == 4


def test_sync_system_exit_replies_first_then_shuts_down(make_service):
    h = make_service()
    c = h.client()
    reply = c.execute("print('bye')\nimport sys\nsys.exit(3)")
    assert reply["status"] == "success" and reply["metadata"]["system_exit"] == 3
    assert reply["output"]["stdout"] == "bye\n"
    assert h.wait_loop_done() == 3
    with pytest.raises(OSError):
        c.call("ping", read_timeout=2)


def test_after_a_shutdown_request_new_requests_are_refused_and_queued_work_still_runs(make_service):
    h = make_service()
    c = h.client()
    blocker = c.execute("import time\ntime.sleep(0.4)\n'first'", execution_mode="async")["result"]["job_id"]
    queued = c.execute("'second'", execution_mode="async")["result"]["job_id"]
    assert c.call("shutdown", {"exit_code": 2})["status"] == "success"
    refused = c.execute("refused_ran = True")
    assert refused["status"] == "error" and refused["error"]["code"] == "shutting_down"
    assert h.wait_loop_done() == 2
    jobs = h.service.jobs
    assert jobs.get(blocker).envelope["result"] == "first"
    assert jobs.get(queued).envelope["result"] == "second"
    assert all(job.code != "refused_ran = True" for job in jobs.all())


def test_request_shutdown_only_once(make_service):
    h = make_service()
    h.service.request_shutdown(5)
    h.service.request_shutdown(9)
    assert h.wait_loop_done() == 5 and h.service.exit_code == 5


def test_gui_mode_shutdown_quits_blender_on_the_main_thread(make_service):
    quit_calls = []
    h = make_service(service_kwargs={"mode": "gui", "quit_app": lambda: quit_calls.append(threading.get_ident())})
    c = h.client()
    reply = c.call("shutdown")
    assert reply["result"] == {"message": "shutting down", "exit_code": 0}
    deadline = time.monotonic() + 5
    while not quit_calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert quit_calls == [h.thread.ident]
    assert not h.loop_done.is_set()  # in the GUI, Blender's own loop goes on until it quits


def test_gui_mode_server_shutdown_keeps_blender_open(make_service):
    quit_calls = []
    h = make_service(service_kwargs={"mode": "gui", "quit_app": lambda: quit_calls.append(1)})
    c = h.client()
    assert c.call("server_shutdown")["result"] == {"message": "Server shutdown initiated"}
    assert c.read_until_closed() == b""
    time.sleep(0.2)
    assert quit_calls == [] and h.service.exit_code == 0
    assert not h.loop_done.is_set()


def test_cancel_job_method(make_service):
    h = make_service()
    c = h.client()
    running = c.execute("while True:\n    pass", execution_mode="async", timeout=30)["result"]["job_id"]
    queued = c.execute("queued_ran = True", execution_mode="async")["result"]["job_id"]
    jobs = h.service.jobs
    assert h.service.cancel_job(jobs.get(queued)) is True
    deadline = time.monotonic() + 5
    while not h.service.interrupter.running(jobs.get(running)):  # the code itself has started
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert h.service.cancel_job(jobs.get(running)) is True
    assert jobs.get(running).wait(5)
    assert jobs.get(running).status == "cancelled" and jobs.get(queued).status == "cancelled"
    assert h.service.cancel_job(jobs.get(running)) is False
    assert c.execute("queued_ran")["error"]["type"] == "NameError"


def test_stop_is_idempotent_and_restores_stdout(make_service):
    import sys

    before = sys.stdout
    h = make_service()
    assert sys.stdout is not before
    h.service.stop()
    h.service.stop()
    assert sys.stdout is before
    assert h.service.running is False


def test_serving_on_the_real_main_thread(connect):
    """The production layout: jobs run on the main thread, SIGUSR1 breaks a blocking sleep."""
    old_handler = signal.getsignal(signal.SIGUSR1)
    service = Service(config.Settings(port=0, stuck_grace=3.0, auth=False), mode="background", blender_version="test",
                      addon_version="0", main_thread_ident=threading.main_thread().ident, capture_fds=False)
    results = {}
    try:
        port = service.start()
        assert signal.getsignal(signal.SIGUSR1) != old_handler  # installed on the main thread

        def client():
            try:
                c = connect(port)
                start = time.monotonic()
                results["sleep"] = c.execute("import time\ntime.sleep(10)", timeout=0.3)
                results["elapsed"] = time.monotonic() - start
                results["loop"] = c.execute("while True:\n    pass", timeout=0.2)
                results["after"] = c.execute("'fine'")
                results["shutdown"] = c.call("shutdown", {"exit_code": 7})
            except BaseException as exc:  # reported by the assertions below
                results["error"] = repr(exc)
                service.queue.request_stop(99)

        thread = threading.Thread(target=client)
        thread.start()
        code = service.queue.serve_forever(wake_interval=0.05)
        thread.join(10)
    finally:
        service.stop()
        signal.signal(signal.SIGUSR1, old_handler)
    assert "error" not in results, results
    assert code == 7
    sleep = results["sleep"]
    assert sleep["status"] == "timeout" and "stuck" not in sleep["error"]
    assert results["elapsed"] < 2.5
    assert results["loop"]["status"] == "timeout"
    assert results["after"]["result"] == "fine"
    assert results["shutdown"]["result"] == {"message": "shutting down", "exit_code": 7}


class SlowProbe:
    """A scene probe whose snapshot takes a while (a big scene): the job is 'running' meanwhile."""

    def __init__(self):
        self.calls = 0

    def take(self):
        self.calls += 1
        if self.calls == 1:
            time.sleep(0.4)
        return None

    def compare(self, before, after):
        return {}


def test_cancel_during_job_setup_is_reported_as_accepted(make_service):
    h = make_service(service_kwargs={"scene_probe": SlowProbe()})
    c = h.client()
    job_id = c.execute("while True:\n    pass", execution_mode="async", timeout=30)["result"]["job_id"]
    job = h.service.jobs.get(job_id)
    deadline = time.monotonic() + 5
    while job.state == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.1)  # inside the slow snapshot, before the code starts
    accepted = h.service.cancel_job(job)
    assert job.wait(5) and job.status == "cancelled"
    assert accepted is True
