"""Following async jobs: get_job (optionally waiting), cancel_job, list_jobs."""

from ..engine.timeline import MAX_WAIT_SECS
from ..wire import errors, params
from ..wire.replies import CommandError
from . import command


def _job(ctx, p):
    job_id = params.get(p, "job_id", (str,))
    job = ctx.service.jobs.get(job_id)
    if job is None:
        raise CommandError(errors.NOT_FOUND, f"no job {job_id!r} (finished jobs are kept for a bounded time)",
                           job_id=job_id)
    return job


def job_view(job):
    view = job.summary()
    view["envelope"] = job.envelope
    if job.envelope is not None:
        job.delivered = True
    return view


def stdout_since(job, offset):
    """The job's captured stdout from character ``offset`` on, while it runs or once finished.

    Lets a client stream a long job's prints (MCP progress notifications) by polling with the
    offset it has reached. Reading the chunk list from this thread is safe: the job only appends.
    """
    if job.envelope is not None:
        text = job.envelope.get("output", {}).get("stdout", "")
        return {"text": text[offset:], "offset": max(len(text), offset)}
    if job.output is None:
        return {"text": "", "offset": offset}
    # Polled every fraction of a second while a job may print megabytes: skip the chunks
    # before ``offset`` by their lengths instead of joining everything each time.
    chunks = list(job.output.stdout.chunks)
    seen = 0
    for index, chunk in enumerate(chunks):
        if seen + len(chunk) > offset:
            tail = chunk[offset - seen:] + "".join(chunks[index + 1:])
            return {"text": tail, "offset": offset + len(tail)}
        seen += len(chunk)
    return {"text": "", "offset": max(seen, offset)}


def stdout_offset_param(p):
    """The optional `stdout_offset` param (get_job, async execute_code)."""
    offset = params.get(p, "stdout_offset", (int,), None)
    if offset is not None and offset < 0:
        raise CommandError(errors.INVALID_PARAMS, f"param 'stdout_offset' must be >= 0, got {offset}", param="stdout_offset")
    return offset


def view_after_wait(job, wait, offset):
    """The job's view once it finished or `wait` seconds passed, with its stdout from `offset`
    on when asked: the reply of get_job, and of an async execute_code given `wait`."""
    if wait:
        job.wait(wait)
    view = job_view(job)
    if offset is not None:
        view["stdout"] = stdout_since(job, offset)
    return view


@command("get_job")
def get_job(ctx, p):
    job = _job(ctx, p)
    wait = params.number(p, "wait", 0, minimum=0, maximum=MAX_WAIT_SECS)
    return view_after_wait(job, wait, stdout_offset_param(p))


@command("cancel_job")
def cancel_job(ctx, p):
    job = _job(ctx, p)
    accepted = ctx.service.cancel_job(job)
    view = job_view(job)
    view["cancel_accepted"] = accepted
    return view


@command("list_jobs")
def list_jobs(ctx, _params):
    return {"jobs": [job.summary() for job in ctx.service.jobs.all()]}
