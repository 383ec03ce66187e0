"""Interrupter. Asynchronous exceptions and SIGUSR1 aimed at the main thread run in a subprocess
(pytest's own main thread must not receive them); a few checks use a helper thread in-process."""

import threading
import time

import pytest

from bld_remote_mcp.engine import interrupt
from bld_remote_mcp.engine.interrupt import ExecutionCancelled, ExecutionInterrupted, ExecutionTimeout, Interrupter

PRELUDE = """
import threading, time, signal
from bld_remote_mcp.engine.interrupt import (ExecutionCancelled, ExecutionInterrupted, ExecutionTimeout,
                                      Interrupter)

def end_safely(it, tok):
    # As the executor does: an interrupt sent just as the code finished may land here.
    while True:
        try:
            it.end(tok)
            return
        except ExecutionInterrupted:
            continue

def spin(seconds):
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n
"""


def run_case(run_py, body):
    res = run_py(PRELUDE + body, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.data


def test_exception_hierarchy_escapes_except_exception():
    for cls, reason in ((ExecutionTimeout, "timeout"), (ExecutionCancelled, "cancelled")):
        assert issubclass(cls, ExecutionInterrupted) and issubclass(cls, BaseException)
        assert not issubclass(cls, Exception)
        assert cls.reason == reason


def test_busy_loop_on_the_main_thread_is_stopped_after_its_timeout(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
caught_by_exception = False
t0 = time.monotonic()
it.begin(tok, 0.3)
try:
    try:
        while True:
            pass
    except Exception:
        caught_by_exception = True
except ExecutionTimeout as exc:
    kind = type(exc).__name__
elapsed = time.monotonic() - t0
end_safely(it, tok)
emit({"kind": kind, "elapsed": elapsed, "caught_by_exception": caught_by_exception})
""")
    assert data["kind"] == "ExecutionTimeout"
    assert data["caught_by_exception"] is False
    assert 0.25 <= data["elapsed"] < 2.0


def test_code_that_swallows_one_interrupt_is_stopped_by_the_resend(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident(), resend_interval=0.2)
tok = object()
swallowed = 0
t0 = time.monotonic()
it.begin(tok, 0.2)
try:
    try:
        while True:
            pass
    except BaseException:
        swallowed += 1
        swallowed_at = time.monotonic() - t0
    while True:
        pass
except ExecutionTimeout:
    stopped_at = time.monotonic() - t0
end_safely(it, tok)
emit({"swallowed": swallowed, "swallowed_at": swallowed_at, "stopped_at": stopped_at})
""")
    assert data["swallowed"] == 1
    assert 0.15 <= data["swallowed_at"] < 1.0
    assert data["stopped_at"] - data["swallowed_at"] >= 0.1  # the second send, one interval later
    assert data["stopped_at"] < 2.5


def test_sigusr1_breaks_a_blocking_sleep_when_the_handler_is_installed(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
installed = it.install_signal_handler()
tok = object()
t0 = time.monotonic()
it.begin(tok, 0.2)
try:
    time.sleep(10)
    kind = None
except ExecutionTimeout as exc:
    kind = type(exc).__name__
elapsed = time.monotonic() - t0
end_safely(it, tok)
spin(0.2)  # no stray interrupt or signal once the job ended
emit({"installed": installed, "kind": kind, "elapsed": elapsed})
""")
    assert data["installed"] is True
    assert data["kind"] == "ExecutionTimeout"
    assert data["elapsed"] < 2.0


def test_without_the_signal_handler_a_sleep_is_only_stopped_once_it_returns(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
t0 = time.monotonic()
it.begin(tok, 0.1)
kind = None
try:
    time.sleep(0.5)
    spin(5)
except ExecutionTimeout as exc:
    kind = type(exc).__name__
elapsed = time.monotonic() - t0
end_safely(it, tok)
emit({"kind": kind, "elapsed": elapsed})
""")
    assert data["kind"] == "ExecutionTimeout"
    assert 0.45 <= data["elapsed"] < 3.0  # the sleep ran to its end: no signal broke it


def test_signal_handler_refuses_other_threads(run_py):
    data = run_case(run_py, """
main = threading.get_ident()
results = {}
def worker():
    results["worker"] = Interrupter(threading.get_ident()).install_signal_handler()
t = threading.Thread(target=worker); t.start(); t.join()
# On the main thread, but the interrupter watches another thread: refused too.
results["main_for_other"] = Interrupter(main + 1).install_signal_handler()
results["handler_untouched"] = signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
emit(results)
""")
    assert data == {"worker": False, "main_for_other": False, "handler_untouched": True}


def test_cancel_from_another_thread_stops_the_job(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok, other = object(), object()
results = {}
def canceller():
    time.sleep(0.15)
    results["other"] = it.cancel(other)
    results["running_before"] = it.running(tok)
    results["accepted"] = it.cancel(tok)
t0 = time.monotonic()
it.begin(tok, None)  # no deadline: only the cancel can stop it
threading.Thread(target=canceller).start()
try:
    while True:
        pass
except ExecutionCancelled as exc:
    results["kind"] = type(exc).__name__
results["elapsed"] = time.monotonic() - t0
end_safely(it, tok)
results["running_after"] = it.running(tok)
results["cancel_after_end"] = it.cancel(tok)
emit(results)
""")
    assert data["kind"] == "ExecutionCancelled"
    assert data["other"] is False
    assert data["running_before"] is True and data["accepted"] is True
    assert 0.1 <= data["elapsed"] < 2.0
    assert data["running_after"] is False and data["cancel_after_end"] is False


def test_cancel_can_request_a_specific_exception(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
it.begin(tok, None)
threading.Timer(0.1, it.cancel, (tok, ExecutionTimeout)).start()
try:
    while True:
        pass
except ExecutionInterrupted as exc:
    kind = type(exc).__name__
end_safely(it, tok)
emit(kind)
""")
    assert data == "ExecutionTimeout"


def test_interrupts_resent_during_a_c_call_do_not_escape_after_end(run_py):
    # The job sits in a C call past its deadline while the watchdog keeps re-sending; once it
    # returns and the job ends, nothing may be raised later, outside the job.
    data = run_case(run_py, """
it = Interrupter(threading.get_ident(), resend_interval=0.01)
tok = object()
gate = threading.Lock()
gate.acquire()
it.begin(tok, 0.05)
try:
    gate.acquire(timeout=0.3)  # blocked in C: the interrupts cannot be delivered yet
    spin(5)
    kind = None
except ExecutionTimeout as exc:
    kind = type(exc).__name__
end_safely(it, tok)
spin(0.3)
emit({"kind": kind, "running": it.running(tok)})
""")
    assert data == {"kind": "ExecutionTimeout", "running": False}


def test_no_deadline_means_no_interrupt(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
it.begin(tok, None)
spin(0.3)
end_safely(it, tok)
emit("finished")
""")
    assert data == "finished"


def test_no_stray_interrupt_after_end_and_a_new_job_gets_its_own_deadline(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident(), resend_interval=0.05)
first, second = object(), object()
it.begin(first, 0.1)
try:
    while True:
        pass
except ExecutionTimeout:
    pass
end_safely(it, first)
spin(0.2)  # would be hit by a re-send if the watchdog still targeted the first job
it.begin(second, 0.5)
t0 = time.monotonic()
try:
    while True:
        pass
except ExecutionTimeout:
    second_elapsed = time.monotonic() - t0
end_safely(it, second)
emit(second_elapsed)
""")
    assert 0.45 <= data < 2.0


def test_end_with_another_token_does_not_clear_the_running_job():
    it = Interrupter(thread_ident=threading.get_ident() + 12345)  # targets no real thread
    try:
        tok, stale = object(), object()
        it.begin(tok, None)
        it.end(stale)
        assert it.running(tok)
        it.end(tok)
        assert not it.running(tok)
    finally:
        it.close()


def test_helper_thread_job_is_stopped_without_touching_the_main_thread():
    started = threading.Event()
    result = {}

    def job():
        it = Interrupter(threading.get_ident())
        result["signal"] = it.install_signal_handler()  # not the main thread: refused
        tok = object()
        it.begin(tok, 0.2)
        started.set()
        t0 = time.monotonic()
        try:
            while True:
                pass
        except ExecutionTimeout:
            result["elapsed"] = time.monotonic() - t0
        while True:
            try:
                it.end(tok)
                break
            except ExecutionInterrupted:
                continue
        it.close()
        it._thread.join(2)
        result["watchdog_alive"] = it._thread.is_alive()

    t = threading.Thread(target=job)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert result["signal"] is False
    assert 0.15 <= result["elapsed"] < 2.0
    assert result["watchdog_alive"] is False


def test_set_async_exc_on_an_unknown_thread_changes_nothing():
    assert interrupt._set_async_exc(threading.get_ident() + 987654, None) == 0


@pytest.mark.parametrize("exc", [ExecutionTimeout, ExecutionCancelled])
def test_exceptions_are_not_caught_by_except_exception(exc):
    with pytest.raises(exc):
        try:
            raise exc()
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail("caught by except Exception")
