"""Stops runaway code on the thread that runs jobs (Blender's main thread).

Pure module (no bpy). Measured on Blender 3.4 (see docs): an asynchronous exception set with
``PyThreadState_SetAsyncExc`` stops pure-Python loops; a SIGUSR1 handler on the main thread also
breaks blocking sleeps. Neither stops a long C call (a render) until it returns.

The exceptions derive from BaseException so that ``except Exception:`` in user code does not
swallow them, and they are re-sent every ``resend_interval`` seconds (by default
``timeline.INTERRUPT_RESEND_SECS``) while the job still runs, because ``except BaseException:``
swallows one.
"""

import ctypes
import signal
import threading
import time

from .timeline import INTERRUPT_RESEND_SECS


class ExecutionInterrupted(BaseException):
    """Raised inside user code to stop it. Never caught by ``except Exception``."""

    reason = "interrupted"


class ExecutionTimeout(ExecutionInterrupted):
    reason = "timeout"


class ExecutionCancelled(ExecutionInterrupted):
    reason = "cancelled"


class _Absorbed(BaseException):
    """Sent to ourselves to consume a stale interrupt (see Interrupter._absorb_pending)."""


def _set_async_exc(thread_ident, exc_class):
    """Schedule ``exc_class`` in the thread (None clears a pending one). Returns threads changed."""
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_ident), ctypes.py_object(exc_class) if exc_class is not None else None
    )


class Interrupter:
    """Deadlines and cancellation for the job running on ``thread_ident``.

    ``begin``/``end`` bracket a job on the running thread; ``cancel`` may be called from any
    thread. One daemon thread watches the deadline of the current job.
    """

    def __init__(self, thread_ident, resend_interval=INTERRUPT_RESEND_SECS, poll_interval=0.05):
        self.thread_ident = thread_ident
        self.resend_interval = resend_interval
        # The watchdog polls for deadlines instead of being woken at every job start and end:
        # two context switches per job saved (measured: a third of the server's CPU per request)
        # against deadlines noticed up to this late.
        self.poll_interval = poll_interval
        # Re-entrant: a signal handler on the main thread may cancel while the main thread holds it.
        self._cond = threading.Condition(threading.RLock())
        self._token = None  # the running job, or None
        self._deadline = None
        self._requested = None  # exception class requested for the running job
        self._fired = False  # an async exception was sent to the running job
        self._signal_ready = False
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="bld-remote-watchdog", daemon=True)
        self._thread.start()

    # -- signal support (main thread only) -------------------------------------------------
    def install_signal_handler(self):
        """Lets an interrupt break blocking C calls that honour EINTR (time.sleep, select)."""
        if not hasattr(signal, "SIGUSR1") or threading.get_ident() != threading.main_thread().ident:
            return False
        if threading.get_ident() != self.thread_ident:
            return False
        signal.signal(signal.SIGUSR1, self._on_signal)
        # Restart ordinary system calls (file I/O) instead of failing them with EINTR.
        signal.siginterrupt(signal.SIGUSR1, False)
        self._signal_ready = True
        return True

    def _on_signal(self, signum, frame):
        requested = self._requested
        if self._token is not None and requested is not None:
            raise requested()

    # -- job bracket ------------------------------------------------------------------------
    def begin(self, token, timeout):
        with self._cond:
            self._token = token
            self._requested = None
            self._deadline = time.monotonic() + timeout if timeout is not None else None

    def end(self, token):
        """Called on the job's thread once its code returned. Clears any pending interrupt."""
        with self._cond:
            if self._token is not token:
                return
            self._token = None
            self._requested = None
            self._deadline = None
            if self._fired:
                self._absorb_pending()
                self._fired = False

    def _absorb_pending(self):
        """Make sure no interrupt sent to the finished job is raised later, elsewhere.

        Clearing with ``SetAsyncExc(None)`` would leave CPython's eval breaker signalled for good
        when nothing was pending (3.11: every later bytecode pays for it, traced threads stall).
        Instead, replace whatever may be pending with a marker and let it be raised right here:
        raising is what resets the breaker. Runs on the job's thread, under the lock, so the
        watchdog cannot send another one meanwhile.
        """
        try:
            # Inside the try: under a tracer the marker is raised as the call returns.
            _set_async_exc(self.thread_ident, _Absorbed)
            for _ in range(1_000_000):  # backward jumps check the eval breaker
                pass
        except _Absorbed:
            return
        _set_async_exc(self.thread_ident, None)  # not reached in practice

    def running(self, token):
        return self._token is token

    def cancel(self, token, exc_class=ExecutionCancelled):
        """Stop ``token`` if it is the running job. Returns whether it was."""
        with self._cond:
            if self._token is not token:
                return False
            self._requested = exc_class
            self._deadline = time.monotonic()
            self._cond.notify_all()
            return True

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- watchdog -------------------------------------------------------------------------
    def _fire(self, exc_class):
        self._fired = True
        _set_async_exc(self.thread_ident, exc_class)
        if self._signal_ready:
            try:
                signal.pthread_kill(self.thread_ident, signal.SIGUSR1)
            except (OSError, ValueError, AttributeError):
                pass

    def _watch(self):
        with self._cond:
            while not self._closed:
                if self._token is None or self._deadline is None:
                    self._cond.wait(self.poll_interval)
                    continue
                delay = self._deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(min(delay, self.poll_interval))
                    continue
                if self._requested is None:
                    self._requested = ExecutionTimeout
                self._fire(self._requested)
                # Re-send until the job ends: user code may swallow one with `except BaseException`.
                self._deadline = time.monotonic() + self.resend_interval
