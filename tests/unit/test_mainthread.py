import threading
import time

import pytest

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


def test_run_pending_respects_its_time_slice():
    q = MainThreadQueue()
    for _ in range(4):
        q.submit(lambda: time.sleep(0.05))
    assert q.run_pending(max_seconds=0.01) is True
    assert q.qsize() == 3  # one call ran, then the slice was over
    assert q.run_pending(max_seconds=0.12) is True
    assert q.qsize() in (0, 1)
    q.run_pending()
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
    t = threading.Thread(target=q.serve_forever, kwargs={"wake_interval": 10})
    t.start()
    try:
        time.sleep(0.05)
        start = time.monotonic()
        call = q.submit(lambda: None)
        assert call.done.wait(5)
        assert time.monotonic() - start < 1.0
    finally:
        q.request_stop()
        t.join(5)


def test_serve_forever_returns_when_should_stop_says_so():
    q = MainThreadQueue()
    flag = threading.Event()
    threading.Timer(0.1, flag.set).start()
    start = time.monotonic()
    assert q.serve_forever(should_stop=flag.is_set, wake_interval=0.02) == 0
    assert time.monotonic() - start < 2.0
    assert q.stop_code is None
