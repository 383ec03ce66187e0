"""execute_code: run Python in Blender, sync (reply is the envelope) or async (reply is a job id)."""

import base64
import binascii

from ..engine.job_registry import QueueFull
from ..engine.timeline import LEGACY_TIMEOUT_CAP_SECS, MAX_WAIT_SECS
from ..wire import errors, params
from ..wire.replies import CommandError
from . import Envelope, command
from .jobs import stdout_offset_param, view_after_wait


def _code(p):
    code = params.get(p, "code", (str,))
    if params.get(p, "code_is_base64", (bool,), False):
        try:
            code = base64.b64decode(code.encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise CommandError(errors.INVALID_PARAMS, f"param 'code' is not valid base64 UTF-8: {exc}", param="code")
    return code


def _timeout(ctx, p):
    settings = ctx.service.settings
    if "timeout" in p:
        return params.number(p, "timeout", minimum=0.001, maximum=settings.max_timeout)
    if "_timeout_seconds" in p:  # 1.3.3's override, capped as it was there
        value = params.number(p, "_timeout_seconds", minimum=0.001)
        return min(value, LEGACY_TIMEOUT_CAP_SECS)
    return settings.default_timeout


def _async_wait(p, mode):
    """`wait` (and `stdout_offset`) of an async call: reply once the job ends or `wait` seconds
    pass, with the job's view as `get_job` gives it. A quick job then costs one round trip
    instead of a submit and a poll (how `bld-remote mcp` runs every call)."""
    wait = params.number(p, "wait", 0, minimum=0, maximum=MAX_WAIT_SECS) if "wait" in p else None
    offset = stdout_offset_param(p)
    for name, value in (("wait", wait), ("stdout_offset", offset)):
        if value is not None and mode != "async":
            raise CommandError(errors.INVALID_PARAMS, f"param '{name}' applies only to execution_mode 'async'", param=name)
    return wait, offset


@command("execute_code")
def execute_code(ctx, p):
    code = _code(p)
    mode = params.choice(p, "execution_mode", ("sync", "async"), "sync")
    wait, offset = _async_wait(p, mode)
    timeout = _timeout(ctx, p)
    capture_output = params.get(p, "capture_output", (bool,), True)
    session = params.get(p, "session", (str,), None)
    service = ctx.service
    max_result = params.get(p, "max_result_bytes", (int,), service.settings.max_result_bytes)
    if max_result < 0:
        raise CommandError(errors.INVALID_PARAMS, "param 'max_result_bytes' must be >= 0", param="max_result_bytes")
    options = {
        "undo": params.get(p, "undo", (bool,), True),
        "checkpoint": params.get(p, "checkpoint", (bool,), False),
        "max_result_bytes": min(max_result, service.settings.max_result_bytes),
        "capture_output": capture_output,
        "namespace": service.sessions.namespace(ctx.connection.id, session),
        "session": session,
    }
    try:
        job = service.jobs.create(code, mode, timeout, options)
    except QueueFull as exc:
        raise CommandError(errors.QUEUE_FULL, str(exc))
    # An async submit that waits for its job (how `bld-remote mcp` runs every call) has a caller
    # waiting for the result: listed as sync (it still runs as an async job).
    job.caller_waits = wait is not None
    service.submit_job(job)
    if mode == "async":
        if wait is None and offset is None:
            return {"job_id": job.id, "state": job.state}
        return view_after_wait(job, wait, offset)
    envelope = service.wait_for_sync_job(job, ctx.connection)
    job.delivered = not job.detached  # a stuck job's final envelope is still to be fetched
    if job.system_exit is not None and not job.detached:
        exit_code = job.system_exit
        ctx.after_reply.append(lambda: service.request_shutdown(exit_code, quit_blender=True))
    return Envelope(envelope)
