"""Interrupter. Asynchronous exceptions and SIGUSR1 aimed at the main thread run in a subprocess
(pytest's own main thread must not receive them); a few checks use a helper thread in-process.

No check measures how long anything took: what was stopped, by what and where is observed
instead (the loops never end on their own; ``sleep_then_note`` tells a sleep that ran to its end
from one that was broken)."""

import threading

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

def sleep_then_note(seconds, notes):
    # time.sleep, then notes.append(its None), with no Python bytecode in between (map and
    # list.append are C): notes == [None] if and only if the sleep ran to its end, [] if an
    # interrupt broke into it (an asynchronous exception alone never can: it waits for bytecode).
    list(map(notes.append, map(time.sleep, [seconds])))

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
it.begin(tok, 0.3)
try:
    try:
        while True:  # never ends on its own: reaching the handler means it was stopped
            pass
    except Exception:
        caught_by_exception = True
except ExecutionTimeout as exc:
    kind = type(exc).__name__
end_safely(it, tok)
emit({"kind": kind, "caught_by_exception": caught_by_exception, "running": it.running(tok)})
""")
    assert data["kind"] == "ExecutionTimeout"
    assert data["caught_by_exception"] is False
    assert data["running"] is False


def test_code_that_swallows_one_interrupt_is_stopped_by_the_resend(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident(), resend_interval=0.2)
tok = object()
swallowed = []
stopped = None
it.begin(tok, 0.2)
try:
    try:
        while True:
            pass
    except BaseException as exc:
        swallowed.append(type(exc).__name__)
    while True:  # only a second interrupt can end this one
        pass
except ExecutionTimeout as exc:
    stopped = type(exc).__name__
end_safely(it, tok)
emit({"swallowed": swallowed, "stopped": stopped})
""")
    assert data["swallowed"] == ["ExecutionTimeout"]
    assert data["stopped"] == "ExecutionTimeout"  # the re-send


def test_sigusr1_breaks_a_blocking_sleep_when_the_handler_is_installed(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
installed = it.install_signal_handler()
tok = object()
notes = []
it.begin(tok, 0.2)
try:
    sleep_then_note(20, notes)  # far longer than the 0.2 s timeout (the run is bounded at 30 s)
    kind = None
except ExecutionTimeout as exc:
    kind = type(exc).__name__
end_safely(it, tok)
spin(0.2)  # no stray interrupt or signal once the job ended
emit({"installed": installed, "kind": kind, "notes": notes})
""")
    assert data["installed"] is True
    assert data["kind"] == "ExecutionTimeout"
    assert data["notes"] == [], "the sleep was broken, not run to its end"


def test_without_the_signal_handler_a_sleep_is_only_stopped_once_it_returns(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
notes = []
it.begin(tok, 0.1)
kind = None
try:
    sleep_then_note(0.5, notes)
    while True:  # the interrupt, due since the sleep, stops the code at once here
        pass
except ExecutionTimeout as exc:
    kind = type(exc).__name__
end_safely(it, tok)
emit({"kind": kind, "notes": notes})
""")
    assert data["kind"] == "ExecutionTimeout"
    assert data["notes"] == [None]  # the sleep ran to its end: no signal broke it


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
looping = threading.Event()
def canceller():
    looping.wait()
    results["other"] = it.cancel(other)
    results["running_before"] = it.running(tok)
    results["accepted"] = it.cancel(tok)
it.begin(tok, None)  # no deadline: only the cancel can stop it
threading.Thread(target=canceller).start()
try:
    looping.set()  # the cancel comes once the code is inside this try
    while True:
        pass
except ExecutionCancelled as exc:
    results["kind"] = type(exc).__name__
end_safely(it, tok)
results["running_after"] = it.running(tok)
results["cancel_after_end"] = it.cancel(tok)
emit(results)
""")
    assert data["kind"] == "ExecutionCancelled"
    assert data["other"] is False
    assert data["running_before"] is True and data["accepted"] is True
    assert data["running_after"] is False and data["cancel_after_end"] is False


def test_cancel_can_request_a_specific_exception(run_py):
    data = run_case(run_py, """
it = Interrupter(threading.get_ident())
tok = object()
looping = threading.Event()
it.begin(tok, None)
threading.Thread(target=lambda: looping.wait() and it.cancel(tok, ExecutionTimeout)).start()
try:
    looping.set()  # the cancel comes once the code is inside this try
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
sent = []
fire = it._fire
def counting_fire(exc_class):  # the watchdog's sends: the third opens the gate
    fire(exc_class)
    sent.append(exc_class.__name__)
    if len(sent) == 3:
        it.resend_interval = 3600  # no fourth while the interrupt that lands is handled
        gate.release()
it._fire = counting_fire
it.begin(tok, 0.05)
try:
    gate.acquire()  # blocked in C until three interrupts were sent: none can be delivered yet
    while True:
        pass
except ExecutionTimeout as exc:
    kind = type(exc).__name__
end_safely(it, tok)
spin(0.3)
emit({"kind": kind, "running": it.running(tok), "sent": sent})
""")
    assert data == {"kind": "ExecutionTimeout", "running": False, "sent": ["ExecutionTimeout"] * 3}


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
# The second job's deadline is far away: only the cancel below may stop it, so a timeout here
# would be a leftover of the first job.
it.begin(second, 3600)
looping = threading.Event()
threading.Thread(target=lambda: looping.wait() and it.cancel(second)).start()
try:
    looping.set()
    while True:
        pass
except ExecutionInterrupted as exc:
    kind = type(exc).__name__
end_safely(it, second)
emit(kind)
""")
    assert data == "ExecutionCancelled"


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
    result = {}

    def job():
        it = Interrupter(threading.get_ident())
        result["signal"] = it.install_signal_handler()  # not the main thread: refused
        tok = object()
        it.begin(tok, 0.2)
        try:
            while True:  # never ends on its own
                pass
        except ExecutionTimeout as exc:
            result["kind"] = type(exc).__name__
        while True:
            try:
                it.end(tok)
                break
            except ExecutionInterrupted:
                continue
        it.close()
        it._thread.join(2)
        result["watchdog_alive"] = it._thread.is_alive()

    t = threading.Thread(target=job, daemon=True)
    t.start()
    t.join(60)  # a hang guard: the loop never ends unless it is stopped
    assert not t.is_alive()
    assert result["signal"] is False
    assert result["kind"] == "ExecutionTimeout"
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
