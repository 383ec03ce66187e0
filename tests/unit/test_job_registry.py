import threading
import time

import pytest

from bld_remote_mcp.engine.job_registry import FINISHED, QUEUED, RUNNING, Job, JobRegistry, QueueFull


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def env(status="success"):
    return {"status": status}


def make(registry, code="x = 1", mode="async", timeout=5.0):
    return registry.create(code, mode, timeout, {"namespace": {}})


# -- Job ---------------------------------------------------------------------------------------
def test_job_lifecycle_and_events():
    job = Job("job-1", "print(1)", "sync", 3.0, {})
    assert (job.state, job.status, job.started, job.finished) == (QUEUED, None, None, None)
    assert job.started_monotonic is None
    assert not job.wait(0) and not job.is_done()
    before = time.monotonic()
    job.mark_running()
    assert job.state == RUNNING and job.started is not None
    assert before <= job.started_monotonic <= time.monotonic()
    assert not job.is_done()
    job.mark_finished(env("error"))
    assert job.state == FINISHED and job.status == "error" and job.is_done() and job.wait(0)
    # time.time() stamps: a clock step may reorder them, so no order is asserted.
    assert all(isinstance(t, float) for t in (job.created, job.started, job.finished))


def test_finish_from_another_thread_releases_a_waiter():
    job = Job("job-1", "x", "sync", 1.0, {})
    released = []
    waiter = threading.Thread(target=lambda: released.append(job.wait(60)), daemon=True)
    waiter.start()
    # Until the waiter is blocked inside wait (its Event's condition holds one waiter), so that
    # the finish below releases a waiting thread rather than one that finds it already done.
    deadline = time.monotonic() + 60  # a hang guard
    while not job._done._cond._waiters:
        assert time.monotonic() < deadline and waiter.is_alive()
        time.sleep(0.001)
    job.mark_finished(env("cancelled"))
    waiter.join(60)
    assert released == [True]


def test_summary_previews_the_first_non_blank_line():
    job = Job("job-9", "\n   \n" + "a" * 200 + "\nsecond", "async", 2.5, {})
    summary = job.summary()
    assert summary["job_id"] == "job-9" and summary["mode"] == "async" and summary["timeout"] == 2.5
    assert summary["code_preview"] == "a" * 120
    assert summary["state"] == QUEUED and summary["status"] is None
    assert Job("j", "", "sync", 1, {}).summary()["code_preview"] == ""


# -- registry ----------------------------------------------------------------------------------
def test_ids_are_unique_and_increasing():
    reg = JobRegistry()
    ids = [make(reg).id for _ in range(3)]
    assert ids == ["job-1", "job-2", "job-3"]
    assert reg.get("job-2").id == "job-2"
    assert reg.get("job-99") is None


def test_queue_full_past_max_pending_and_a_finished_job_frees_a_slot():
    reg = JobRegistry(max_pending=2)
    a, b = make(reg), make(reg)
    with pytest.raises(QueueFull, match="limit 2"):
        make(reg)
    reg.start(a)  # running still counts as pending
    with pytest.raises(QueueFull):
        make(reg)
    assert reg.finish(a, env())
    c = make(reg)
    assert c.state == QUEUED
    with pytest.raises(QueueFull):
        make(reg)
    assert reg.cancel_if_queued(b, env("cancelled"))
    make(reg)


def test_finish_happens_exactly_once():
    reg = JobRegistry(max_pending=1)
    job = make(reg)
    reg.start(job)
    assert reg.finish(job, env("success")) is True
    assert reg.finish(job, env("error")) is False
    assert job.status == "success"  # the first envelope stays
    # The pending count was decremented once only: exactly one new job fits.
    make(reg)
    with pytest.raises(QueueFull):
        make(reg)


def test_start_refuses_a_job_cancelled_while_queued():
    reg = JobRegistry()
    job = make(reg)
    assert reg.cancel_if_queued(job, env("cancelled")) is True
    assert job.cancel_requested and job.state == FINISHED and job.status == "cancelled"
    assert reg.start(job) is False
    assert job.state == FINISHED


def test_cancel_if_queued_refuses_running_and_finished_jobs():
    reg = JobRegistry()
    running = make(reg)
    reg.start(running)
    assert reg.cancel_if_queued(running, env("cancelled")) is False
    assert running.state == RUNNING and not running.cancel_requested
    reg.finish(running, env())
    assert reg.cancel_if_queued(running, env("cancelled")) is False
    assert running.status == "success"


def test_running_lists_only_running_jobs():
    reg = JobRegistry()
    a, b, c = make(reg), make(reg), make(reg)
    reg.start(b)
    reg.start(c)
    reg.finish(c, env())
    assert reg.running() == [b]
    assert reg.all() == [a, b, c]


def test_finished_jobs_are_pruned_by_count_oldest_first_and_active_jobs_stay():
    reg = JobRegistry(max_pending=10, max_finished=2)
    queued = make(reg)
    finished = []
    for _ in range(5):
        job = make(reg)
        reg.start(job)
        reg.finish(job, env())
        finished.append(job)
    remaining = reg.all()
    assert remaining == [queued, finished[3], finished[4]]
    assert reg.get(finished[0].id) is None


def test_count_pruning_also_happens_on_create_once_the_table_is_large():
    clock = FakeClock(time.time())
    reg = JobRegistry(max_pending=2, max_finished=3, clock=clock)  # clock frozen: no TTL pass
    for _ in range(20):
        job = make(reg)
        reg.finish(job, env())
    # create() prunes when the table exceeds max_finished + max_pending.
    assert len(reg._jobs) <= 3 + 2 + 1


def test_finished_jobs_expire_after_the_ttl():
    clock = FakeClock(time.time())
    reg = JobRegistry(max_finished=100, finished_ttl=60.0, clock=clock)
    old = make(reg)
    reg.finish(old, env())
    active = make(reg)
    clock.advance(30)
    assert reg.get(old.id) is old and old in reg.all()
    clock.advance(31)
    assert reg.all() == [active]
    assert reg.get(old.id) is None


def test_ttl_pruning_runs_on_create_at_most_once_a_second():
    clock = FakeClock(time.time())
    reg = JobRegistry(max_finished=100, finished_ttl=10.0, clock=clock)
    old = make(reg)
    reg.finish(old, env())
    clock.advance(20)
    make(reg)  # more than a second since the last prune: expired jobs go
    assert reg.get(old.id) is None


def test_ttl_uses_the_injected_clock_consistently():
    clock = FakeClock(1000.0)
    reg = JobRegistry(max_finished=100, finished_ttl=60.0, clock=clock)
    job = make(reg)
    reg.finish(job, env())
    clock.advance(61)
    assert reg.all() == []


def test_concurrent_creates_respect_the_limit():
    reg = JobRegistry(max_pending=50)
    created, refused = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(20):
            try:
                job = make(reg)
            except QueueFull:
                with lock:
                    refused.append(1)
            else:
                with lock:
                    created.append(job)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 50 and len(refused) == 8 * 20 - 50
    assert len({job.id for job in created}) == 50


def test_at_the_count_limit_delivered_results_make_way_before_unfetched_ones():
    reg = JobRegistry(max_pending=10, max_finished=3)
    unfetched = make(reg)
    reg.finish(unfetched, env())
    delivered = []
    for _ in range(5):
        job = make(reg)
        reg.finish(job, env())
        job.delivered = True
        delivered.append(job)
    remaining = reg.all()
    assert unfetched in remaining, "the oldest, but nobody has its result yet"
    assert remaining == [unfetched, delivered[3], delivered[4]]


def test_cancel_all_queued_finishes_only_the_jobs_not_started():
    reg = JobRegistry(max_pending=10)
    running, done, queued_a, queued_b = (make(reg) for _ in range(4))
    reg.start(running)
    reg.start(done)
    reg.finish(done, env())
    cancelled = reg.cancel_all_queued(lambda job: {"status": "cancelled", "job": job.id})
    assert cancelled == [queued_a, queued_b]
    for job in cancelled:
        assert job.state == FINISHED and job.cancel_requested and job.envelope == {"status": "cancelled", "job": job.id}
        assert reg.start(job) is False  # its turn on the main thread comes: it never runs
    assert running.state == RUNNING and done.status == "success"
    assert reg.cancel_all_queued(lambda job: env("cancelled")) == []
    # They no longer count as pending: the slots are free again.
    for _ in range(8):
        make(reg)


def test_forget_finished_drops_only_finished_jobs():
    reg = JobRegistry(max_pending=10)
    running, done, queued = (make(reg) for _ in range(3))
    reg.start(running)
    reg.start(done)
    reg.finish(done, env())
    assert reg.forget_finished() == 1
    assert reg.get(done.id) is None
    assert reg.get(running.id) is running and reg.get(queued.id) is queued
    assert reg.forget_finished() == 0
