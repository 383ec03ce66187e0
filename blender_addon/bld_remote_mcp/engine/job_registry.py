"""Jobs: one ``execute_code`` call each, sync or async, and the registry that keeps them.

Pure module (no bpy). A job is queued, then running, then finished with an envelope
(success, error, timeout or cancelled). Finished jobs are kept for a bounded time and count
so that async callers can fetch the result; a bounded number may wait or run at once.
"""

import itertools
import threading
import time

QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"


class QueueFull(Exception):
    pass


class Job:
    def __init__(self, job_id, code, mode, timeout, options):
        self.id = job_id
        self.code = code
        self.mode = mode  # "sync" | "async"
        self.caller_waits = False  # an async submission with `wait`: listed as sync
        self.timeout = timeout
        self.options = options  # dict: capture_output, namespace, max_result_bytes, ...
        self.state = QUEUED
        self.created = time.time()
        self.started = None
        self.finished = None
        self.envelope = None
        self.system_exit = None  # exit code when the code raised SystemExit
        self.cancel_requested = False
        self.detached = False  # a sync caller stopped waiting (stuck job): nobody gets its reply
        self.output = None  # JobOutput while running (for partial output of a stuck job)
        self.started_monotonic = None
        self.retired_at = None  # registry clock time when it finished (for retention)
        # Its envelope reached a caller (the sync reply, or a get_job after it finished): such
        # jobs make way first when the finished-job limit is reached.
        self.delivered = False
        self._done = threading.Event()

    @property
    def status(self):
        return self.envelope["status"] if self.envelope else None

    def mark_running(self):
        self.state = RUNNING
        self.started = time.time()
        self.started_monotonic = time.monotonic()

    def mark_finished(self, envelope):
        self.envelope = envelope
        self.state = FINISHED
        self.finished = time.time()
        self._done.set()

    def wait(self, timeout):
        return self._done.wait(timeout)

    def is_done(self):
        return self._done.is_set()

    def summary(self):
        first_line = next((line for line in self.code.splitlines() if line.strip()), "")
        return {
            "job_id": self.id,
            "state": self.state,
            "mode": "sync" if self.caller_waits else self.mode,
            "status": self.status,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "timeout": self.timeout,
            "code_preview": first_line[:120],
        }


class JobRegistry:
    def __init__(self, max_pending=64, max_finished=256, finished_ttl=3600.0, clock=time.time, instance_id=None):
        # Job ids name the server start they belong to (job-<instance>-<n>): an id never means
        # another job after Blender restarts on the same port (docs/protocol.md §6).
        self.prefix = f"job-{instance_id}-" if instance_id else "job-"
        self.max_pending = max_pending
        self.max_finished = max_finished
        self.finished_ttl = finished_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs = {}  # id -> Job, insertion order = creation order
        self._ids = itertools.count(1)
        self._pending = 0  # jobs queued or running
        self._last_prune = clock()

    def create(self, code, mode, timeout, options):
        with self._lock:
            self._maybe_prune()
            if self._pending >= self.max_pending:
                raise QueueFull(
                    f"{self._pending} jobs are already queued or running (limit {self.max_pending}); "
                    "wait for some to finish or cancel them"
                )
            job = Job(f"{self.prefix}{next(self._ids)}", code, mode, timeout, options)
            self._jobs[job.id] = job
            self._pending += 1
            return job

    def finish(self, job, envelope):
        """Record the end of a job (exactly once)."""
        with self._lock:
            if job.is_done():
                return False
            self._retire(job, envelope)
            return True

    def _retire(self, job, envelope):
        # Caller holds the lock.
        job.mark_finished(envelope)
        job.retired_at = self._clock()
        self._pending -= 1

    def start(self, job):
        """Move a queued job to running; False if it was cancelled meanwhile."""
        with self._lock:
            if job.is_done():
                return False
            job.mark_running()
            return True

    def cancel_if_queued(self, job, envelope):
        """Finish a job that has not started yet. False if it already runs or ended."""
        with self._lock:
            if job.state != QUEUED or job.is_done():
                return False
            job.cancel_requested = True
            self._retire(job, envelope)
            return True

    def cancel_all_queued(self, envelope_for):
        """Finish every job that has not started, each with ``envelope_for(job)``. Returns them."""
        with self._lock:
            queued = [job for job in self._jobs.values() if job.state == QUEUED and not job.is_done()]
            for job in queued:
                job.cancel_requested = True
                self._retire(job, envelope_for(job))
            return queued

    def forget_finished(self):
        """Drop every finished job (their code, output and results); returns how many. For
        ``reset_blender``: the next agent on this Blender must not read the last one's jobs."""
        with self._lock:
            finished = [job_id for job_id, job in self._jobs.items() if job.state == FINISHED]
            for job_id in finished:
                del self._jobs[job_id]
            return len(finished)

    def get(self, job_id):
        with self._lock:
            self._maybe_prune()
            return self._jobs.get(job_id)

    def all(self):
        with self._lock:
            self._prune()
            return list(self._jobs.values())

    def running(self):
        with self._lock:
            return [job for job in self._jobs.values() if job.state == RUNNING]

    def _maybe_prune(self):
        # Pruning walks every job: do it when the count limit is exceeded, or once a second for TTLs.
        now = self._clock()
        if len(self._jobs) > self.max_finished + self.max_pending or now - self._last_prune > 1.0:
            self._prune()

    def _prune(self):
        now = self._clock()
        self._last_prune = now
        finished = [job for job in self._jobs.values() if job.state == FINISHED]
        expired = [job for job in finished if job.retired_at is not None and now - job.retired_at > self.finished_ttl]
        excess = len(finished) - len(expired) - self.max_finished
        for job in expired:
            del self._jobs[job.id]
        if excess > 0:
            # Delivered results go first, oldest first; an async result nobody fetched yet goes
            # only when there are more of those than the limit. Under load (hundreds of sync
            # calls a second) the count limit must not take an async caller's answer away.
            kept = [j for j in finished if j.id in self._jobs]
            kept.sort(key=lambda j: not j.delivered)  # stable: creation order within each group
            for job in kept[:excess]:
                del self._jobs[job.id]
