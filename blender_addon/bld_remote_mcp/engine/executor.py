"""Runs one job on the thread that owns bpy and builds its reply envelope.

Pure module: the scene probe (bpy) is injected, so the whole execution path (capture, timeout,
SystemExit, serialization, tracebacks) is unit-tested with plain Python.

The envelope (docs/protocol.md):
``{status, result, output{stdout, stderr, logs}, duration, error, traceback, metadata}``.
"""

import logging
import time

from . import code_runner, memory
from .interrupt import ExecutionCancelled, ExecutionInterrupted, ExecutionTimeout
from ..wire import errors
from ..wire.serialize import to_json_safe

log = logging.getLogger("bld_remote_mcp")

EMPTY_OUTPUT = {"stdout": "", "stderr": "", "logs": []}


def envelope(status, result=None, output=None, duration=0.0, error=None, tb=None, metadata=None):
    return {
        "status": status,
        "result": result,
        "output": output if output is not None else dict(EMPTY_OUTPUT),
        "duration": duration,
        "error": error,
        "traceback": tb,
        "metadata": metadata or {},
    }


def cancelled_before_start(job, code=errors.CANCELLED, message="job was cancelled before it started"):
    return envelope("cancelled", error={"code": code, "message": message}, metadata={"job_id": job.id})


def _exit_code(exc):
    """The process exit code Python would use for this SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code
    return 1


class Executor:
    def __init__(self, capture, interrupter, registry, scene_probe=None, max_result_bytes=64 * 1024 * 1024,
                 guard=None, undo_step=None, checkpoint=None):
        self.capture = capture
        # GUI: callable(label) pushing one undo step after a call that changed the scene. None
        # in background mode, where Blender keeps no undo history.
        self.undo_step = undo_step
        # callable(job) -> path of a copy of the open file saved before a `checkpoint` call.
        self.checkpoint = checkpoint
        self.guard = guard  # guard.Guard watching the code while it runs, or None (guard mode off)
        self.interrupter = interrupter
        self.registry = registry
        self.scene_probe = scene_probe  # object with take() and compare(before, after), or None
        self.max_result_bytes = max_result_bytes

    def _end_interrupt(self, job):
        # An interrupt sent just as the code finished can land here: retry until cleared.
        while True:
            try:
                self.interrupter.end(job)
                return
            except ExecutionInterrupted:
                continue

    def run(self, job):
        """Run ``job`` now, on this thread; records its envelope in the registry."""
        if not self.registry.start(job):  # cancelled while queued
            return
        options = job.options
        checkpoint = None
        if options.get("checkpoint"):
            try:
                if self.checkpoint is None:
                    raise RuntimeError("checkpoints are not available in this Blender")
                checkpoint = self.checkpoint(job)
            except Exception as exc:
                # The caller asked for a safety net before risky code: no net, no run.
                self.registry.finish(job, envelope("error", error={
                    "code": errors.CHECKPOINT_FAILED, "type": type(exc).__name__,
                    "message": f"the checkpoint could not be saved, so the code was not run: {exc}"},
                    metadata={"job_id": job.id}))
                return
        capture_output = options.get("capture_output", True)
        probe = self.scene_probe
        before = probe.take() if probe is not None else None
        memory_before = memory.rss_bytes()
        out = None
        value = None
        failure = None
        start = time.perf_counter()
        try:
            compiled = code_runner.compile_user_code(job.code)
            if capture_output:
                out = self.capture.begin()
                job.output = out
            self.interrupter.begin(job, job.timeout)
            if job.cancel_requested:  # cancel_job arrived while the code was being compiled
                self.interrupter.cancel(job)
            if self.guard is not None:
                self.guard.watch()
            try:
                value = code_runner.run(compiled, options["namespace"])
            except BaseException as exc:  # user code may raise anything, SystemExit included
                failure = exc
            finally:
                if self.guard is not None:
                    self.guard.unwatch()
            self._end_interrupt(job)
        except BaseException as exc:
            # A SyntaxError from compiling, or an interrupt that landed in our own bookkeeping
            # just after the user's code ended: the user's own exception, if any, is the story.
            if failure is None:
                failure = exc
            self._end_interrupt(job)
        finally:
            duration = time.perf_counter() - start
            if out is not None:
                self.capture.end(out)
        metadata = {"job_id": job.id, "memory_before": memory_before, "memory_after": memory.rss_bytes()}
        if checkpoint is not None:
            metadata["checkpoint"] = checkpoint
        if probe is not None:
            try:
                metadata.update(probe.compare(before, probe.take()))
            except Exception as exc:  # e.g. the code loaded another file; never lose the reply
                metadata["scene_error"] = f"{type(exc).__name__}: {exc}"
        self._push_undo_step(job, metadata)
        output = out.as_dict() if out is not None else dict(EMPTY_OUTPUT)
        result_env = self._envelope(job, value, failure, output, duration, metadata)
        if self.guard is not None and self.guard.refused:
            self._report_refusals(result_env, self.guard.refused)
        self.registry.finish(job, result_env)

    def _push_undo_step(self, job, metadata):
        """One undo step per call that changed the scene (as the probe sees it), so Ctrl-Z in
        Blender takes back one agent call. Calls that changed nothing push none: Blender keeps
        32 steps, and no-op steps would push the user's own history out."""
        if self.undo_step is None or not job.options.get("undo", True):
            return
        if not metadata.get("scene_changed", "scene_error" in metadata):
            return
        first_line = next((line.strip() for line in job.code.splitlines() if line.strip()), "")
        try:
            self.undo_step(f"bld-remote: {first_line[:48]}")
            metadata["undo_step"] = True
        except Exception as exc:  # no window to push from: report, never lose the reply
            metadata["undo_error"] = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _report_refusals(result_env, refused):
        """Guard mode refused something during this call: say what, whatever became of it.

        A failed call is blamed on the last refusal even when a library wrapped it (urllib
        turns it into URLError); a call that succeeded (the code caught it, or Python's import
        machinery skipped a .pyc write) lists them in its metadata.
        """
        result_env["metadata"]["guard_refused"] = list(refused)
        if result_env["status"] == "error" and result_env["error"].get("code") == errors.EXECUTION_ERROR:
            result_env["error"]["code"] = errors.GUARD_REFUSED
            result_env["error"]["refused"] = refused[-1]

    def _envelope(self, job, value, failure, output, duration, metadata):
        if failure is None:
            try:
                result = to_json_safe(value, job.options.get("max_result_bytes", self.max_result_bytes))
            except Exception as exc:  # a value whose attributes raise while being read
                result = {"__type__": type(value).__name__, "error": f"could not serialize: {exc}"}
            return envelope("success", result, output, duration, metadata=metadata)
        if isinstance(failure, SystemExit):
            job.system_exit = _exit_code(failure)
            metadata["system_exit"] = job.system_exit
            return envelope("success", None, output, duration, metadata=metadata)
        tb = code_runner.format_exception(failure)
        line = code_runner.user_line(failure)
        if isinstance(failure, ExecutionTimeout):
            error = {
                "code": errors.TIMEOUT,
                "type": "ExecutionTimeout",
                "message": f"execution exceeded its timeout of {job.timeout:g} s and was stopped",
                "line": line,
            }
            return envelope("timeout", None, output, duration, error, tb, metadata)
        if isinstance(failure, ExecutionCancelled):
            error = {"code": errors.CANCELLED, "type": "ExecutionCancelled", "message": "execution was cancelled",
                     "line": line}
            return envelope("cancelled", None, output, duration, error, tb, metadata)
        error = code_runner.describe_error(failure)
        if isinstance(failure, SyntaxError):
            tb = "".join(code_runner.traceback.format_exception_only(type(failure), failure))
        return envelope("error", None, output, duration, error, tb, metadata)
