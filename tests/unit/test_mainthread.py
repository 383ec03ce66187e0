import threading
import types

import pytest

from bld_remote_mcp.engine import mainthread
from bld_remote_mcp.engine.mainthread import MainThreadCall, MainThreadQueue


def test_call_records_result_and_sets_done():
    call = MainThreadCall(lambda: 42)
    assert not call.done.is_set()
    call.run()
    assert call.done.is_set() and call.result == 42 and call.error is None


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyboardInterrupt(), SystemExit(3)])
def test_call_hands_any_exception_to_the_waiter(exc):
    def fail():
        raise exc

    call = MainThreadCall(fail)
    call.run()  # does not raise
    assert call.error is exc and call.done.is_set()


def test_abandoned_call_is_not_run():
    ran = []
    q = MainThreadQueue()
    call = q.submit(lambda: ran.append(1))
    call.abandoned = True
    assert q.run_pending() is True
    assert ran == [] and not call.done.is_set()


def test_run_pending_runs_everything_in_order():
    order = []
    q = MainThreadQueue()
    calls = [q.submit(lambda i=i: order.append(i) or i) for i in range(5)]
    assert q.qsize() == 5
    assert q.run_pending() is True
    assert order == [0, 1, 2, 3, 4]
    assert [c.result for c in calls] == [0, 1, 2, 3, 4]
    assert q.qsize() == 0
    assert q.run_pending() is True  # empty queue: nothing to do


def test_run_pending_respects_its_time_slice(monkeypatch):
    # Each call takes exactly 0.05 s of the queue's clock: a fake one, so the count is exact.
    now = [1000.0]
    monkeypatch.setattr(mainthread, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    def call():
        now[0] += 0.05

    q = MainThreadQueue()
    for _ in range(6):
        q.submit(call)
    assert q.run_pending(max_seconds=0.01) is True
    assert q.qsize() == 5  # one call ran, then the slice was over
    assert q.run_pending(max_seconds=0.12) is True
    assert q.qsize() == 2  # after 0.05 and 0.10 s the slice goes on; the third call, ending at 0.15 s, ends it
    assert q.run_pending() is True
    assert q.qsize() == 0


def test_run_pending_returns_false_once_a_stop_is_requested():
    ran = []
    q = MainThreadQueue()
    q.submit(lambda: ran.append("before"))
    q.request_stop(5)
    late = q.submit(lambda: ran.append("after"))
    assert q.run_pending() is False
    assert ran == ["before"] and q.stop_code == 5
    assert not late.done.is_set()
    assert q.run_pending() is False  # a stopped queue keeps saying so


def test_a_failing_call_does_not_stop_the_pump():
    q = MainThreadQueue()
    bad = q.submit(lambda: 1 / 0)
    good = q.submit(lambda: "ok")
    assert q.run_pending() is True
    assert isinstance(bad.error, ZeroDivisionError) and good.result == "ok"


def test_exception_escaping_run_is_logged_not_raised(caplog):
    class Exploding:
        def run(self):
            raise RuntimeError("outside the call's own handling")

    q = MainThreadQueue()
    q._queue.put(Exploding())
    after = q.submit(lambda: "still runs")
    with caplog.at_level("ERROR", logger="bld_remote_mcp"):
        assert q.run_pending() is True
    assert after.result == "still runs"
    assert "outside its own error handling" in caplog.text


def test_serve_forever_runs_calls_from_other_threads_and_returns_the_stop_code():
    q = MainThreadQueue()
    ran_on = []
    result = {}

    def main():
        result["code"] = q.serve_forever(wake_interval=0.05)

    server = threading.Thread(target=main)
    server.start()
    call = q.submit(lambda: ran_on.append(threading.get_ident()) or "done")
    assert call.done.wait(5) and call.result == "done"
    assert ran_on == [server.ident]
    q.request_stop(7)
    server.join(5)
    assert not server.is_alive()
    assert result["code"] == 7 and q.stop_code == 7


def test_serve_forever_runs_calls_queued_before_the_stop():
    q = MainThreadQueue()
    ran = []
    for i in range(3):
        q.submit(lambda i=i: ran.append(i))
    q.request_stop(0)
    never = q.submit(lambda: ran.append("never"))
    assert q.serve_forever(wake_interval=0.05) == 0
    assert ran == [0, 1, 2] and not never.done.is_set()


def test_serve_forever_wakes_at_once_for_a_queued_call():
    q = MainThreadQueue()
    # Woken only by calls: a loop that waited for its wake interval would take an hour.
    t = threading.Thread(target=q.serve_forever, kwargs={"wake_interval": 3600}, daemon=True)
    t.start()
    try:
        for _ in range(2):  # the second comes while the loop is back waiting after the first
            call = q.submit(lambda: None)
            assert call.done.wait(60)  # a hang guard, not a measurement
    finally:
        q.request_stop()
        t.join(60)
    assert not t.is_alive()


def test_serve_forever_returns_when_should_stop_says_so():
    q = MainThreadQueue()
    flag = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(code=q.serve_forever(should_stop=flag.is_set,
                                                                            wake_interval=0.02)), daemon=True)
    t.start()
    ran = q.submit(lambda: "served")
    assert ran.done.wait(60) and ran.result == "served"  # serving, not stopped yet
    flag.set()
    t.join(60)  # a hang guard: it returns at its next wake once the flag is up
    assert not t.is_alive()
    assert result["code"] == 0 and q.stop_code is None


def test_after_each_runs_on_the_draining_thread_after_every_call_and_cannot_stop_the_pump():
    seen = []
    q = MainThreadQueue(after_each=lambda: seen.append(("after", threading.get_ident())))
    q.submit(lambda: seen.append("one"))
    q.submit(lambda: 1 / 0)  # a failing call is followed by the hook too
    assert q.run_pending() is True
    me = threading.get_ident()
    assert seen == ["one", ("after", me), ("after", me)]

    def broken():
        raise RuntimeError("hook failed")

    q.after_each = broken
    later = q.submit(lambda: "still served")
    q.submit(lambda: None)
    assert q.run_pending() is True
    assert later.result == "still served"
