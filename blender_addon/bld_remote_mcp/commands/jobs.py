"""Following async jobs: get_job (optionally waiting), cancel_job, list_jobs."""

from .. import params
from ..replies import CommandError
from . import command


def _job(ctx, p):
    job_id = params.get(p, "job_id", (str,))
    job = ctx.service.jobs.get(job_id)
    if job is None:
        raise CommandError("not_found", f"no job {job_id!r} (finished jobs are kept for a bounded time)",
                           job_id=job_id)
    return job


def job_view(job):
    view = job.summary()
    view["envelope"] = job.envelope
    return view


@command("get_job")
def get_job(ctx, p):
    job = _job(ctx, p)
    wait = params.number(p, "wait", 0, minimum=0, maximum=3600)
    if wait:
        job.wait(wait)
    return job_view(job)


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
