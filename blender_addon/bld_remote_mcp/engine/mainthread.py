"""The one queue through which every bpy call reaches Blender's main thread.

Pure module (no bpy). Background Blender has no event loop and its timers never fire, so the
keep-alive script blocks in ``serve_forever`` (a blocking get: no polling latency floor). In the
GUI a timer calls ``run_pending`` with a time slice so the UI stays responsive.
"""

import logging
import queue
import threading
import time

log = logging.getLogger("bld_remote_mcp")


class _Stop:
    def __init__(self, code):
        self.code = code


class MainThreadCall:
    """A function to run on the main thread, with its outcome for the waiting thread."""

    __slots__ = ("fn", "done", "result", "error", "abandoned")

    def __init__(self, fn):
        self.fn = fn
        self.done = threading.Event()
        self.result = None
        self.error = None
        self.abandoned = False  # the caller gave up waiting: do not run it any more

    def run(self):
        if self.abandoned:
            return
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed to the waiting thread, which decides
            self.error = exc
        finally:
            self.done.set()


class MainThreadQueue:
    def __init__(self, after_each=None):
        self._queue = queue.SimpleQueue()
        self.stop_code = None
        # Called on the main thread after every call run (the service refreshes what it keeps
        # of Blender's state there, for the threads that may not touch bpy).
        self.after_each = after_each

    def submit(self, fn):
        """Queue ``fn`` (no arguments) for the main thread; returns its MainThreadCall."""
        call = MainThreadCall(fn)
        self._queue.put(call)
        return call

    def qsize(self):
        return self._queue.qsize()

    def request_stop(self, code=0):
        """Make ``serve_forever`` return ``code`` once the calls queued before this have run."""
        self._queue.put(_Stop(code))

    def _run(self, item):
        if isinstance(item, _Stop):
            self.stop_code = item.code
            return False
        try:
            item.run()
            if self.after_each is not None:
                self.after_each()
        except BaseException:  # a stray interrupt landing between jobs must not kill the pump
            log.exception("main-thread call failed outside its own error handling")
        return True

    def run_pending(self, max_seconds=None):
        """Run queued calls until the queue is empty or ``max_seconds`` have passed.

        Returns False once a stop was requested.
        """
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return self.stop_code is None
            if not self._run(item):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return True

    def serve_forever(self, should_stop=lambda: False, wake_interval=0.5):
        """Block, running calls as they come, until a stop request. Returns the stop code."""
        while self.stop_code is None:
            try:
                # The timeout only lets signal handlers and should_stop() run: a queued call
                # wakes the loop at once.
                item = self._queue.get(timeout=wake_interval)
            except queue.Empty:
                if should_stop():
                    break
                continue
            except BaseException:  # an interrupt meant for a job that already ended
                continue
            if not self._run(item):
                break
        return self.stop_code if self.stop_code is not None else 0
