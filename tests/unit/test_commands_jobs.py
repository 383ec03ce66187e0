"""commands/jobs.py over the wire: get_job (with wait), cancel_job, list_jobs.

A job that must still run while the test looks at it waits on the harness's ``gate``
(conftest.py) until the test opens it. How long a ``wait`` waited is never measured: what it was
asked to wait, and what it found, are recorded (``recorded_waits``). Read timeouts and ``wait``
values of 60 s are hang guards: they run out only when the awaited thing never happens.
"""

import threading

import pytest

from bld_remote_mcp.engine import job_registry


def start_async(c, code, **params):
    reply = c.execute(code, execution_mode="async", **params)
    assert reply["status"] == "success", reply
    assert reply["result"]["state"] == "queued"
    return reply["result"]["job_id"]


class RecordedWaits(list):
    """(job id, seconds asked, whether the job finished) of every Job.wait that returned, and
    ``entered``: (job id, seconds asked) of every one begun."""

    def __init__(self):
        super().__init__()
        self.entered = []


@pytest.fixture
def recorded_waits(monkeypatch):
    calls = RecordedWaits()
    wait = job_registry.Job.wait

    def recording(job, timeout):
        calls.entered.append((job.id, timeout))
        finished = wait(job, timeout)
        calls.append((job.id, timeout, finished))
        return finished

    monkeypatch.setattr(job_registry.Job, "wait", recording)
    return calls


def wait_until_running(c, job_id, poll):
    assert poll(lambda: c.call("get_job", {"job_id": job_id})["result"]["state"] == "running")


def test_get_job_with_wait_returns_the_finished_envelope(make_service, recorded_waits, poll):
    h = make_service()
    c = h.client()
    job_id = start_async(c, "import time\ngate.wait()\nprint('done')\n'value'", timeout=60)

    def open_the_gate_once_get_job_waits():
        poll(lambda: (job_id, 3600) in recorded_waits.entered)
        h.gate.set()

    opener = threading.Thread(target=open_the_gate_once_get_job_waits, daemon=True)
    opener.start()
    # An hour's wait: the reply comes when the job finishes during it, or the read times out (60 s).
    job = c.call("get_job", {"job_id": job_id, "wait": 3600}, read_timeout=60)["result"]
    opener.join(60)
    assert (job_id, 3600, True) in recorded_waits
    assert job["job_id"] == job_id and job["state"] == "finished" and job["status"] == "success"
    assert job["mode"] == "async" and job["code_preview"] == "import time"
    env = job["envelope"]
    assert env["result"] == "value" and env["output"]["stdout"] == "done\n"
    # time.time() stamps: a clock step may reorder them, so no order is asserted.
    assert all(isinstance(job[key], float) for key in ("created", "started", "finished"))


def test_get_job_without_wait_answers_at_once(make_service, recorded_waits):
    h = make_service()
    c = h.client()
    job_id = start_async(c, "gate.wait()", timeout=60)
    # Answered while the gate holds the job: it did not wait for the job's end.
    job = c.call("get_job", {"job_id": job_id})["result"]
    assert job["state"] in ("queued", "running") and job["envelope"] is None and job["status"] is None
    assert [call for call in recorded_waits if call[0] == job_id] == []
    h.gate.set()


def test_get_job_wait_returns_at_its_limit_for_a_running_job(make_service, recorded_waits, poll):
    h = make_service()
    c = h.client()
    job_id = start_async(c, "gate.wait()", timeout=60)
    wait_until_running(c, job_id, poll)
    job = c.call("get_job", {"job_id": job_id, "wait": 0.2})["result"]
    assert job["state"] == "running" and job["envelope"] is None
    assert (job_id, 0.2, False) in recorded_waits  # waited its 0.2 s, and the job had not ended
    h.gate.set()


def test_get_job_errors(make_service):
    c = make_service().client()
    reply = c.call("get_job", {"job_id": "job-999"})
    assert reply["error"]["code"] == "not_found" and reply["error"]["job_id"] == "job-999"
    reply = c.call("get_job", {})
    assert reply["error"] == {"code": "invalid_params", "message": "missing required param 'job_id'",
                              "param": "job_id"}
    job_id = start_async(c, "1")
    for bad in (-1, 4000, "soon", True):
        reply = c.call("get_job", {"job_id": job_id, "wait": bad})
        assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "wait", bad


def test_cancel_a_running_job(make_service, poll):
    c = make_service().client()
    job_id = start_async(c, "print('looping')\nwhile True:\n    pass", timeout=60)
    # Wait until the code itself runs: its first print is there.
    assert poll(lambda: c.call("get_job", {"job_id": job_id, "stdout_offset": 0})["result"]["stdout"]["text"])
    view = c.call("cancel_job", {"job_id": job_id})["result"]
    assert view["cancel_accepted"] is True and view["job_id"] == job_id
    job = c.call("get_job", {"job_id": job_id, "wait": 60})["result"]
    assert job["status"] == "cancelled"
    assert job["envelope"]["error"]["code"] == "cancelled"
    assert job["envelope"]["output"]["stdout"] == "looping\n"


def test_cancel_a_queued_job_means_it_never_runs(make_service):
    h = make_service()
    c = h.client()
    blocker = start_async(c, "gate.wait()", timeout=60)  # holds the main thread until the gate opens
    queued = start_async(c, "queued_ran = True")
    view = c.call("cancel_job", {"job_id": queued})["result"]
    assert view["cancel_accepted"] is True
    assert view["state"] == "finished" and view["status"] == "cancelled"
    assert view["envelope"]["error"]["message"] == "job was cancelled before it started"
    h.gate.set()
    assert c.call("get_job", {"job_id": blocker, "wait": 60})["result"]["status"] == "success"
    assert c.execute("queued_ran")["error"]["type"] == "NameError"


def test_cancel_a_finished_job_is_not_accepted(make_service):
    c = make_service().client()
    job_id = start_async(c, "1")
    c.call("get_job", {"job_id": job_id, "wait": 60})
    view = c.call("cancel_job", {"job_id": job_id})["result"]
    assert view["cancel_accepted"] is False and view["status"] == "success"
    assert c.call("cancel_job", {"job_id": "job-0"})["error"]["code"] == "not_found"


def test_list_jobs_shows_summaries_of_all_jobs(make_service):
    h = make_service()
    a, b = h.client(), h.client()
    first = start_async(a, "x = 1\ny = 2")
    a.call("get_job", {"job_id": first, "wait": 60})
    second = b.execute("'sync'")["metadata"]["job_id"]
    jobs = a.call("list_jobs")["result"]["jobs"]
    assert [j["job_id"] for j in jobs] == [first, second]
    assert [j["mode"] for j in jobs] == ["async", "sync"]
    assert all(j["state"] == "finished" and j["status"] == "success" for j in jobs)
    assert jobs[0]["code_preview"] == "x = 1"
    assert "envelope" not in jobs[0]


def test_many_async_jobs_run_in_submission_order(make_service):
    c = make_service().client()
    ids = [start_async(c, f"order.append({i})" if i else "order = [0]") for i in range(10)]
    for job_id in ids:
        assert c.call("get_job", {"job_id": job_id, "wait": 60})["result"]["status"] == "success"
    assert c.execute("order")["result"] == list(range(10))


def test_get_job_streams_stdout_of_a_running_job_from_an_offset(make_service, poll):
    h = make_service()
    c = h.client()
    job_id = start_async(c, "print('first')\ngate.wait()\nprint('second')", timeout=60)
    seen, offset = "", 0

    def poll_stdout():
        nonlocal seen, offset, job
        job = c.call("get_job", {"job_id": job_id, "wait": 0.05, "stdout_offset": offset})["result"]
        seen += job["stdout"]["text"]
        offset = job["stdout"]["offset"]
        return "first" in seen

    job = None
    assert poll(poll_stdout)
    assert seen == "first\n" and job["state"] == "running", "the print arrives while the job still runs"
    h.gate.set()
    job = c.call("get_job", {"job_id": job_id, "wait": 60, "stdout_offset": offset})["result"]
    assert job["state"] == "finished"
    assert job["stdout"] == {"text": "second\n", "offset": len("first\nsecond\n")}
    again = c.call("get_job", {"job_id": job_id, "stdout_offset": 1000})["result"]
    assert again["stdout"] == {"text": "", "offset": 1000}
    assert "stdout" not in c.call("get_job", {"job_id": job_id})["result"], "only when asked"


def test_get_job_refuses_a_bad_stdout_offset(make_service):
    c = make_service().client()
    job_id = start_async(c, "1")
    for bad in (-1, "3", 1.5, True):
        reply = c.call("get_job", {"job_id": job_id, "stdout_offset": bad})
        assert reply["status"] == "error" and reply["error"]["code"] == "invalid_params"
        assert reply["error"]["param"] == "stdout_offset"


def test_stdout_since_skips_whole_chunks_and_cuts_inside_one():
    import types

    from bld_remote_mcp.commands.jobs import stdout_since

    running = types.SimpleNamespace(envelope=None, output=types.SimpleNamespace(
        stdout=types.SimpleNamespace(chunks=["abc", "de", "fgh"])))
    assert stdout_since(running, 0) == {"text": "abcdefgh", "offset": 8}
    assert stdout_since(running, 3) == {"text": "defgh", "offset": 8}
    assert stdout_since(running, 4) == {"text": "efgh", "offset": 8}
    assert stdout_since(running, 8) == {"text": "", "offset": 8}
    assert stdout_since(running, 20) == {"text": "", "offset": 20}
    queued = types.SimpleNamespace(envelope=None, output=None)
    assert stdout_since(queued, 5) == {"text": "", "offset": 5}


def test_async_submit_with_wait_replies_with_the_finished_job_in_one_round_trip(make_service):
    c = make_service().client()
    reply = c.execute("print('hi')\n6 * 7", execution_mode="async", wait=60, stdout_offset=0)
    job = reply["result"]
    # The caller waited for it: listed as a sync call (docs/protocol.md §6).
    assert job["state"] == "finished" and job["status"] == "success" and job["mode"] == "sync"
    assert c.execute("1", execution_mode="async")["result"]["job_id"] in [
        j["job_id"] for j in c.call("list_jobs")["result"]["jobs"] if j["mode"] == "async"]
    assert job["envelope"]["result"] == 42 and job["envelope"]["output"]["stdout"] == "hi\n"
    assert job["stdout"] == {"text": "hi\n", "offset": 3}
    # Delivered with the reply: the finished-job limit may prune it first, like a fetched one.
    assert c.call("get_job", {"job_id": job["job_id"]})["result"]["envelope"]["result"] == 42


def test_async_submit_wait_ends_at_its_limit_and_the_job_goes_on(make_service, recorded_waits):
    h = make_service()
    c = h.client()
    job = c.execute("print('a', flush=True)\ngate.wait()\n'late'", execution_mode="async", timeout=60,
                    wait=0.2, stdout_offset=0)["result"]
    assert (job["job_id"], 0.2, False) in recorded_waits  # waited its 0.2 s; the gate held the job
    assert job["state"] in ("queued", "running") and job["envelope"] is None
    assert job["stdout"]["text"] in ("", "a\n")
    h.gate.set()
    later = c.call("get_job", {"job_id": job["job_id"], "wait": 60, "stdout_offset": job["stdout"]["offset"]})
    assert later["result"]["envelope"]["result"] == "late"
    assert job["stdout"]["text"] + later["result"]["stdout"]["text"] == "a\n"


def test_async_submit_without_wait_keeps_its_short_reply(make_service):
    c = make_service().client()
    reply = c.execute("1", execution_mode="async")
    assert set(reply["result"]) == {"job_id", "state"}


def test_wait_and_stdout_offset_are_checked_before_any_job_is_made(make_service):
    service = make_service()
    c = service.client()
    before = c.call("list_jobs")["result"]["jobs"]
    for params, name in (({"wait": 1}, "wait"), ({"stdout_offset": 0}, "stdout_offset"),
                         ({"execution_mode": "async", "wait": -1}, "wait"),
                         ({"execution_mode": "async", "wait": "soon"}, "wait"),
                         ({"execution_mode": "async", "stdout_offset": -2}, "stdout_offset")):
        reply = c.execute("open('/tmp/should-not-run', 'w')", **params)
        assert reply["status"] == "error" and reply["error"]["code"] == "invalid_params", params
        assert reply["error"]["param"] == name, params
    assert c.call("list_jobs")["result"]["jobs"] == before
