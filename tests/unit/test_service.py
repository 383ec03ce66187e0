"""Service end to end in plain Python: a real server, queue, executor and capture.

Most tests use ``make_service``, whose "Blender main thread" is a helper thread (so interrupts
never reach pytest); one test serves on the real main thread to cover the SIGUSR1 path. Jobs
that must hold the main thread wait on the harness's ``gate`` (conftest.py), opened by the test
once it has seen what it checks: nothing here depends on how long anything takes.
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
    assert s["pid"] == os.getpid() and isinstance(s["uptime"], float)
    assert s["connections"] == 1 and s["queue_length"] == 0
    assert s["jobs"] == {"queued": 0, "running": 0, "finished": 2}
    assert s["sessions"] == {"connections": 1, "named": ["shared"]}
    assert s["rss_bytes"] > 0


def test_sync_execute_success_error_and_timeout(make_service):
    # A grace longer than any run: the timeout reply then comes from the job itself having ended
    # (not "stuck"), which shows the loop was stopped; left alone it never ends.
    c = make_service(stuck_grace=3600).client()
    ok = c.execute("print('out')\n2 ** 10")
    assert ok["status"] == "success" and ok["result"] == 1024 and ok["output"]["stdout"] == "out\n"
    assert set(ok) == {"id", "status", "result", "output", "duration", "error", "traceback", "metadata"}
    err = c.execute("print('partial')\n{}['k']")
    assert err["status"] == "error" and err["error"]["type"] == "KeyError" and err["error"]["line"] == 2
    assert err["output"]["stdout"] == "partial\n" and "KeyError" in err["traceback"]
    slow = c.execute("while True:\n    pass", timeout=0.3)
    assert slow["status"] == "timeout" and slow["error"]["code"] == "timeout"
    assert slow["error"]["type"] == "ExecutionTimeout" and "stuck" not in slow["error"]
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
    # The helper "main thread" has no SIGUSR1 handler: blocked in C on the gate, the code cannot
    # be broken into, like a render. It stays there until the test opens the gate.
    h = make_service(stuck_grace=0.2)
    c = h.client()
    reply = c.execute("print('before the call')\ngate.wait()\nprint('after')", timeout=0.2)
    job_id = reply["metadata"]["job_id"]
    # Answered while the code is still stuck: the gate is closed, so the job cannot have ended.
    assert not h.gate.is_set() and h.service.jobs.get(job_id).state == "running"
    assert reply["status"] == "timeout"
    assert reply["error"]["stuck"] is True and reply["error"]["code"] == "timeout"
    assert reply["metadata"]["still_running"] is True
    assert reply["output"]["stdout"] == "before the call\n"  # partial output of the running job
    assert c.call("ping")["status"] == "success"  # control commands still answer
    assert c.call("get_job", {"job_id": job_id})["result"]["state"] == "running"
    h.gate.set()  # the long call returns
    job = c.call("get_job", {"job_id": job_id, "wait": 60})["result"]
    assert job["state"] == "finished" and job["status"] == "timeout"
    assert "after" not in job["envelope"]["output"]["stdout"]  # interrupted as soon as the call returned


def test_sync_job_that_never_starts_is_cancelled(make_service):
    h = make_service()
    c = h.client()
    # The blocker holds the main thread until the gate opens, after the sync call was answered.
    blocker = c.execute("gate.wait()", execution_mode="async", timeout=60)["result"]["job_id"]
    reply = c.execute("never_started = True", timeout=0.2)
    assert reply["status"] == "timeout"
    assert reply["error"]["code"] == "busy" and "never started" in reply["error"]["message"]
    h.gate.set()
    assert c.call("get_job", {"job_id": blocker, "wait": 60})["result"]["status"] == "success"
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
    # The blocker holds the main thread until the gate opens, after the probe was answered.
    blocker = c.execute("gate.wait()", execution_mode="async", timeout=60)["result"]["job_id"]
    reply = h.client().call("t_probe")
    assert reply["status"] == "error" and reply["error"]["code"] == "busy"
    assert "within 0.2 s" in reply["error"]["message"]
    h.gate.set()
    c.call("get_job", {"job_id": blocker, "wait": 60})
    # Everything queued before this marker has been run or skipped once it has run.
    assert h.service.queue.submit(lambda: None).done.wait(60)
    assert main_thread_probe == []  # the abandoned call never ran
    # The 0.2 s limit made the busy reply above; the next probe must not race it on a slow machine.
    h.service.settings.default_timeout = 60.0
    assert c.call("t_probe")["result"] == "probed"  # the queue moved past the abandoned call
    assert len(main_thread_probe) == 1


def test_async_system_exit_shuts_the_service_down_with_its_code(make_service):
    h = make_service()
    c = h.client()
    # The code exits once the test has its reply and opens the gate.
    assert c.execute("gate.wait()\nraise SystemExit(4)", execution_mode="async", timeout=60)["status"] == "success"
    h.gate.set()
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
    # The blocker holds the main thread until the gate opens: `second` is still queued when the
    # shutdown is requested.
    blocker = c.execute("gate.wait()\n'first'", execution_mode="async", timeout=60)["result"]["job_id"]
    queued = c.execute("'second'", execution_mode="async")["result"]["job_id"]
    assert c.call("shutdown", {"exit_code": 2})["status"] == "success"
    refused = c.execute("refused_ran = True")
    assert refused["status"] == "error" and refused["error"]["code"] == "shutting_down"
    assert h.service.jobs.get(queued).state == "queued"
    h.gate.set()
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
    quit_called = threading.Event()

    def quit_app():
        quit_calls.append(threading.get_ident())
        quit_called.set()

    h = make_service(service_kwargs={"mode": "gui", "quit_app": quit_app})
    c = h.client()
    reply = c.call("shutdown")
    assert reply["result"] == {"message": "shutting down", "exit_code": 0}
    assert quit_called.wait(60)  # a hang guard: fails only if Blender is never told to quit
    assert quit_calls == [h.thread.ident]
    assert not h.loop_done.is_set()  # in the GUI, Blender's own loop goes on until it quits


def test_gui_mode_server_shutdown_keeps_blender_open(make_service):
    quit_calls = []
    h = make_service(service_kwargs={"mode": "gui", "quit_app": lambda: quit_calls.append(1)})
    c = h.client()
    assert c.call("server_shutdown")["result"] == {"message": "Server shutdown initiated"}
    assert c.read_until_closed() == b""
    # A quit would have been queued with the stop (service.request_shutdown): once a marker
    # queued after it has run, it would have run too.
    assert h.service.queue.submit(lambda: None).done.wait(60)
    assert quit_calls == [] and h.service.exit_code == 0
    assert not h.loop_done.is_set()


def test_cancel_job_method(make_service, poll):
    h = make_service()
    c = h.client()
    running = c.execute("while True:\n    pass", execution_mode="async", timeout=30)["result"]["job_id"]
    queued = c.execute("queued_ran = True", execution_mode="async")["result"]["job_id"]
    jobs = h.service.jobs
    assert h.service.cancel_job(jobs.get(queued)) is True
    assert poll(lambda: h.service.interrupter.running(jobs.get(running)))  # the code itself has started
    assert h.service.cancel_job(jobs.get(running)) is True
    assert jobs.get(running).wait(60)
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
    # A generous grace: the sleep is broken long before, or the reply says "stuck".
    service = Service(config.Settings(port=0, stuck_grace=30.0, auth=False), mode="background", blender_version="test",
                      addon_version="0", main_thread_ident=threading.main_thread().ident, capture_fds=False)
    results = {}
    try:
        port = service.start()
        assert signal.getsignal(signal.SIGUSR1) != old_handler  # installed on the main thread

        def client():
            try:
                c = connect(port)
                # `slept` gets the sleep's return value only if the sleep ran to its end: between
                # the two C calls (map, append) no Python code runs that an interrupt could stop.
                results["sleep"] = c.execute(
                    "import time\nslept = []\nlist(map(slept.append, map(time.sleep, [60])))", timeout=0.3)
                results["slept"] = c.execute("slept")
                results["loop"] = c.execute("while True:\n    pass", timeout=0.2)
                results["after"] = c.execute("'fine'")
                results["shutdown"] = c.call("shutdown", {"exit_code": 7})
            except BaseException as exc:  # reported by the assertions below
                results["error"] = repr(exc)
                service.queue.request_stop(99)

        thread = threading.Thread(target=client)
        thread.start()
        code = service.queue.serve_forever(wake_interval=0.05)
        thread.join(60)
    finally:
        service.stop()
        signal.signal(signal.SIGUSR1, old_handler)
    assert "error" not in results, results
    assert code == 7
    sleep = results["sleep"]
    assert sleep["status"] == "timeout" and "stuck" not in sleep["error"]
    assert results["slept"]["result"] == [], "the signal broke the sleep: it did not run to its end"
    assert results["loop"]["status"] == "timeout"
    assert results["after"]["result"] == "fine"
    assert results["shutdown"]["result"] == {"message": "shutting down", "exit_code": 7}


class SlowProbe:
    """A scene probe whose first snapshot lasts until the test releases it (a big scene): the job
    is 'running' meanwhile, and its code has not started."""

    def __init__(self):
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def take(self):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(60)
        return None

    def compare(self, before, after):
        return {}


def test_cancel_during_job_setup_is_reported_as_accepted(make_service):
    probe = SlowProbe()
    h = make_service(service_kwargs={"scene_probe": probe})
    c = h.client()
    job_id = c.execute("while True:\n    pass", execution_mode="async", timeout=30)["result"]["job_id"]
    job = h.service.jobs.get(job_id)
    try:
        assert probe.entered.wait(60)  # inside the slow snapshot, before the code starts
        assert job.state == "running" and not h.service.interrupter.running(job)
        accepted = h.service.cancel_job(job)
    finally:
        probe.release.set()
    assert job.wait(60) and job.status == "cancelled"
    assert accepted is True
