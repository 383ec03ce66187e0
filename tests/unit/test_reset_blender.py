"""reset_blender and status.blend_file over the wire, against a plain-Python service whose
"Blender" is a fake: ``load_baseline`` and ``blend_file_probe`` stand in for blender/baseline.py
(tested against real Blender in tests/e2e/test_reset_blender.py).

Jobs that must hold the main thread wait on the harness's gate, opened once the test has seen
what it checks; waits of 60 s are hang guards.
"""

import threading

import pytest

from bld_remote_mcp.engine.job_registry import RUNNING
from bld_remote_mcp.wire.replies import CommandError

HOLD = "import time\nwhile not gate.is_set():\n    time.sleep(0.01)"


class FakeBlender:
    """The open file and its objects, as baseline.load and baseline.open_file see them."""

    def __init__(self, file="", objects=5):
        self.file = file
        self.objects = objects
        self.loads = []  # (path, thread ident) of each load
        self.probe_fails = False

    def load(self, path):
        self.loads.append((path, threading.get_ident()))
        if path is not None and path.endswith(".bad"):
            raise RuntimeError(f"Error: File format is not supported in file '{path}'\n")
        self.file = path or ""
        self.objects = 3 if path is None else 7
        return self.objects

    def open_file(self):
        if self.probe_fails:
            raise AttributeError("'_RestrictData' object has no attribute 'filepath'")
        return self.file


@pytest.fixture
def blender():
    return FakeBlender()


def start(make_service, blender, mode="background", load=True, **settings):
    return make_service(service_kwargs={"mode": mode, "load_baseline": blender.load if load else None,
                                        "blend_file_probe": blender.open_file}, **settings)


def test_reset_drops_every_namespace_the_persist_store_and_the_jobs_queued_behind_it(make_service, blender, poll):
    h = start(make_service, blender)
    one, two, three = h.client(), h.client(), h.client()
    one.execute("a = 1")
    two.execute("b = 2")
    one.execute("s = 3", session="team")
    for key in ("k1", "k2"):
        one.call("put_persist_data", {"key": key, "data": [key]})
    blocker = one.execute(HOLD, execution_mode="async", timeout=60)["result"]["job_id"]
    assert poll(lambda: h.service.jobs.get(blocker).state == RUNNING)
    # Queued before the reset: runs before it (the main-thread queue is first come, first served).
    ahead = two.execute("ahead_ran = True", execution_mode="async")["result"]["job_id"]
    three.request("reset_blender")
    assert poll(lambda: h.service.queue.qsize() == 2)  # the job ahead, then the reset
    # Queued while the reset waits: cancelled by it, never run.
    behind = two.execute("behind_ran = True", execution_mode="async")["result"]["job_id"]
    h.gate.set()
    reply = three.read_line(timeout=60)
    assert reply["status"] == "success", reply
    forgotten = reply["result"].pop("jobs_forgotten")
    assert reply["result"] == {"reset": True, "file": None, "namespaces_dropped": 3, "persist_keys_dropped": 2,
                               "jobs_cancelled": 1, "objects": 3}
    assert blender.loads == [(None, h.thread.ident)]  # on the main thread

    # Finished jobs are forgotten, the one it cancelled among them: the blocker, the one ahead,
    # the one behind, and the sync calls before.
    assert forgotten >= 3, forgotten
    for job_id in (blocker, ahead, behind):
        assert one.call("get_job", {"job_id": job_id})["error"]["code"] == "not_found", job_id
    assert one.call("list_jobs")["result"]["jobs"] == []
    for client, code, session in ((one, "a", None), (two, "b", None), (one, "s", "team"), (two, "behind_ran", None)):
        params = {"session": session} if session else {}
        assert client.execute(code, **params)["error"]["type"] == "NameError", code
    assert one.call("get_persist_data", {"key": "k1"})["result"] == {"data": None, "found": False}
    status = one.call("status")["result"]
    assert status["blend_file"] == "" and status["jobs"]["queued"] == 0


def test_reset_to_a_file_loads_it_made_absolute(make_service, blender, tmp_path, monkeypatch):
    (tmp_path / "base.blend").write_bytes(b"BLENDER")
    monkeypatch.chdir(tmp_path)
    h = start(make_service, blender)
    c = h.client()
    c.execute("kept = 1")
    result = c.call("reset_blender", {"file": "base.blend"})["result"]
    path = str(tmp_path / "base.blend")
    assert result.pop("jobs_forgotten") == 1  # the `kept = 1` call
    assert result == {"reset": True, "file": path, "namespaces_dropped": 1, "persist_keys_dropped": 0,
                      "jobs_cancelled": 0, "objects": 7}
    assert blender.loads == [(path, h.thread.ident)]
    assert c.call("status")["result"]["blend_file"] == path
    # null is the factory startup scene, as no file at all.
    assert c.call("reset_blender", {"file": None})["result"]["file"] is None
    assert c.call("status")["result"]["blend_file"] == ""


def test_a_file_blender_cannot_read_resets_nothing(make_service, blender, tmp_path):
    bad = tmp_path / "broken.bad"
    bad.write_bytes(b"not a blend file")
    h = start(make_service, blender)
    c = h.client()
    c.execute("kept = 1")
    c.call("put_persist_data", {"key": "k", "data": 1})
    error = c.call("reset_blender", {"file": str(bad)})["error"]
    assert error["code"] == "invalid_params" and error["param"] == "file" and error["file"] == str(bad)
    assert error["message"] == (f"Blender could not open {bad} (File format is not supported in file '{bad}'); "
                                "nothing was reset")
    assert c.execute("kept")["result"] == 1
    assert c.call("get_persist_data", {"key": "k"})["result"]["found"] is True


def test_missing_empty_and_non_file_paths_are_refused_before_blender_is_asked(make_service, blender, tmp_path):
    h = start(make_service, blender)
    c = h.client()
    c.execute("kept = 1")
    missing = tmp_path / "missing.blend"
    error = c.call("reset_blender", {"file": str(missing)})["error"]
    assert error == {"code": "not_found", "message": f"no file at {missing}; nothing was reset", "file": str(missing)}
    error = c.call("reset_blender", {"file": str(tmp_path)})["error"]
    assert error["code"] == "invalid_params" and error["param"] == "file" and "is not a file" in error["message"]
    for wrong in ("", 3, ["a.blend"]):
        error = c.call("reset_blender", {"file": wrong})["error"]
        assert error["code"] == "invalid_params" and error["param"] == "file", wrong
    assert blender.loads == []
    assert c.execute("kept")["result"] == 1


@pytest.mark.parametrize("mode, load", [("gui", True), ("background", False)])
def test_a_blender_with_a_window_is_never_reset(make_service, blender, tmp_path, mode, load):
    h = start(make_service, blender, mode=mode, load=load)
    c = h.client()
    c.execute("kept = 1")
    (tmp_path / "x.blend").write_bytes(b"BLENDER")
    for params in ({}, {"file": str(tmp_path / "x.blend")}):
        error = c.call("reset_blender", params)["error"]
        assert error["code"] == "invalid_request" and error["mode"] == mode
        assert "reset_blender is refused in this Blender" in error["message"] and "reset_session" in error["message"]
    # The main-thread part refuses as well, should anything reach it.
    with pytest.raises(CommandError) as info:
        h.service.call_on_main(lambda: h.service.reset_blender(None))
    assert info.value.code == "invalid_request"
    assert blender.loads == []
    assert c.execute("kept")["result"] == 1


def test_reset_reached_from_inside_running_code_is_busy(make_service, blender):
    """Code that pumps the queue itself (bld_remote.step() in a job) could bring the reset into
    the middle of its own run: the file is never swapped under running code."""
    h = start(make_service, blender)
    job = h.service.jobs.create("bld_remote.step()", "sync", 30, {})
    h.service.jobs.start(job)
    with pytest.raises(CommandError) as info:
        h.service.reset_blender(None)
    assert info.value.code == "busy" and job.id in info.value.message
    assert blender.loads == []


def test_status_reports_the_file_the_main_thread_read_last(make_service, blender, tmp_path):
    first, other = str(tmp_path / "start.blend"), str(tmp_path / "other.blend")
    blender.file = first
    h = start(make_service, blender)
    c = h.client()
    assert c.call("status")["result"]["blend_file"] == first  # read at start
    blender.file = other  # changed behind the service's back, as a GUI user's File > Open
    assert c.call("status")["result"]["blend_file"] == first  # status never reads bpy itself
    c.execute("1")  # any main-thread call refreshes it afterwards
    assert c.call("status")["result"]["blend_file"] == other
    h.service.refresh_blend_file()  # what the load_post/save_post handlers call
    blender.probe_fails = True  # e.g. bpy.data restricted while addons register: the last value stays
    c.execute("1")
    assert c.call("status")["result"]["blend_file"] == other


def test_without_a_probe_blend_file_is_empty(make_service):
    assert make_service().client().call("status")["result"]["blend_file"] == ""
