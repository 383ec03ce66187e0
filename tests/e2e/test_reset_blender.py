"""reset_blender and status.blend_file against real Blender.

Headless: every version of the matrix (Debian's 3.4, bpy 4.2, 4.5, 5.0 and 5.3), each in a
Blender of this module's own (a reset drops every namespace and the persist store, which the
shared instances' other tests must keep); each test starts from a reset of its own. GUI: the
refusal, in the shared GUI Blender, whose scene must come out of it untouched.

Nothing here measures how long anything took. The job that holds the main thread waits for a
file the test creates; waits of 60 s are hang guards.
"""

import time

import pytest

from harness import CORE_BACKENDS, Instance

FACTORY_OBJECTS = ["Camera", "Cube", "Light"]


@pytest.fixture(scope="module", params=CORE_BACKENDS)
def worker(request):
    instance = Instance(request.param)
    yield instance
    instance.stop()


def until_exists(path):
    """Job code that runs (interruptible Python) until the test creates ``path``."""
    return f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.01)\n"


def wait_until(predicate, what):
    deadline = time.monotonic() + 60  # a hang guard
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def object_names(client):
    return client.ok("sorted(o.name for o in bpy.data.objects)")["result"]


def reset(client, **params):
    reply = client.call("reset_blender", params)
    assert reply["status"] == "success", reply
    return reply["result"]


def test_reset_brings_back_the_factory_scene_with_nothing_of_earlier_clients(worker, tmp_path):
    gate = tmp_path / "gate"
    with worker.client() as one, worker.client() as two, worker.client() as control, worker.client() as watcher:
        reset(control)
        one.ok("bpy.ops.mesh.primitive_monkey_add()\nbpy.data.objects['Cube'].name = 'Renamed'\nmine = 1")
        two.ok("theirs = 2")
        one.ok("shared = 3", session="team")
        one.call("put_persist_data", {"key": "left-behind", "data": {"secret": True}})
        assert object_names(two) == ["Camera", "Light", "Renamed", "Suzanne"]

        # A job holds the main thread; the reset waits behind it, and a job queued after the
        # reset is cancelled by it without ever running.
        blocker = one.execute(until_exists(gate), execution_mode="async", timeout=60)["result"]["job_id"]
        wait_until(lambda: watcher.call("get_job", {"job_id": blocker})["result"]["state"] == "running",
                   "the blocking job never started")
        control.request("reset_blender")
        wait_until(lambda: watcher.call("status")["result"]["queue_length"] == 1, "the reset was never queued")
        behind = two.execute("ran_after_all = True", execution_mode="async")["result"]["job_id"]
        assert watcher.call("status")["result"]["queue_length"] == 2
        gate.touch()
        reply = control.read_line(timeout=60)
        assert reply["status"] == "success", reply
        # Every finished job is forgotten: the blocker, the one cancelled, and the sync calls.
        assert reply["result"]["jobs_forgotten"] >= 2, reply
        assert {k: v for k, v in reply["result"].items() if k != "jobs_forgotten"} == {
            "reset": True, "file": None, "namespaces_dropped": 3, "persist_keys_dropped": 1,
            "jobs_cancelled": 1, "objects": 3}
        for job_id in (blocker, behind):
            gone = watcher.call("get_job", {"job_id": job_id})
            assert gone["status"] == "error" and gone["error"]["code"] == "not_found", gone
        assert watcher.call("list_jobs")["result"]["jobs"] == []

        status = watcher.call("status")["result"]
        assert status["sessions"] == {"connections": 0, "named": []}
        assert status["blend_file"] == "" and status["jobs"]["queued"] == 0
        assert watcher.call("get_persist_data", {"key": "left-behind"})["result"] == {"data": None, "found": False}
        for client, name, params in ((one, "mine", {}), (two, "theirs", {}), (two, "shared", {"session": "team"}),
                                     (two, "ran_after_all", {})):
            reply = client.execute(name, **params)
            assert reply["status"] == "error" and reply["error"]["type"] == "NameError", (name, reply)
        assert object_names(one) == FACTORY_OBJECTS

        # The addon goes on as before the load: its handlers are persistent, and a Cycles render
        # works (Debian's 3.4 has no denoiser: the render guard must still be there to turn it off).
        handlers = one.ok("[(h.__module__, h.__name__) for name in ('load_post', 'save_post', 'render_pre') "
                          "for h in getattr(bpy.app.handlers, name)]")["result"]
        assert ["bld_remote_mcp.blender.baseline", "_on_file_change"] in handlers, handlers
        assert ["bld_remote_mcp.blender.render_guards", "_before_render"] in handlers, handlers
        render = one.execute(
            "s = bpy.context.scene\ns.render.engine = 'CYCLES'\ns.cycles.samples = 1\n"
            "s.render.resolution_x = s.render.resolution_y = 16\nbpy.ops.render.render()\n"
            "bpy.data.images['Render Result'].name", timeout=120)
        assert render["status"] == "success", render
        assert control.call("ping")["status"] == "success"


def test_reset_to_a_saved_file_and_the_files_it_refuses(worker, tmp_path):
    base = tmp_path / "base.blend"
    with worker.client() as c, worker.client() as watcher:
        reset(c)
        assert watcher.call("status")["result"]["blend_file"] == ""
        c.ok(f"bpy.ops.mesh.primitive_monkey_add()\nbpy.context.object.name = 'Baseline'\n"
             f"bpy.ops.wm.save_as_mainfile(filepath={str(base)!r})")
        assert watcher.call("status")["result"]["blend_file"] == str(base)  # refreshed after the call
        c.ok("bpy.ops.mesh.primitive_cone_add()\nbpy.context.object.name = 'Later'\nlater = 1")
        c.call("put_persist_data", {"key": "k", "data": 1})

        result = reset(c, file=str(base))
        assert result.pop("jobs_forgotten") >= 0
        assert result == {"reset": True, "file": str(base), "namespaces_dropped": 1, "persist_keys_dropped": 1,
                          "jobs_cancelled": 0, "objects": 4}
        assert object_names(c) == ["Baseline", "Camera", "Cube", "Light"]
        assert watcher.call("status")["result"]["blend_file"] == str(base)

        # Files it cannot load: an error that says so, and nothing reset.
        c.ok("still_here = 'yes'")
        missing = tmp_path / "missing.blend"
        error = c.call("reset_blender", {"file": str(missing)})["error"]
        assert error["code"] == "not_found" and error["file"] == str(missing), error
        assert "nothing was reset" in error["message"]
        broken = tmp_path / "broken.blend"
        broken.write_bytes(base.read_bytes()[:3000])  # a .blend cut short
        error = c.call("reset_blender", {"file": str(broken)})["error"]
        assert error["code"] == "invalid_params" and error["param"] == "file" and error["file"] == str(broken), error
        assert str(broken) in error["message"] and "nothing was reset" in error["message"]
        junk = tmp_path / "junk.blend"
        junk.write_bytes(b"not a blend file")
        error = c.call("reset_blender", {"file": str(junk)})["error"]
        assert error["code"] == "invalid_params" and error["param"] == "file", error
        assert c.ok("still_here")["result"] == "yes"
        assert object_names(c) == ["Baseline", "Camera", "Cube", "Light"]
        assert watcher.call("status")["result"]["blend_file"] == str(base)

        # The server answers afterwards, and the factory scene is one more reset away.
        assert watcher.call("ping")["status"] == "success"
        assert reset(c)["objects"] == 3
        assert object_names(c) == FACTORY_OBJECTS
        assert watcher.call("status")["result"]["blend_file"] == ""


def test_a_gui_blender_refuses_reset_blender_and_keeps_its_scene(gui, tmp_path):
    with gui.client() as c:
        c.ok("bpy.ops.mesh.primitive_cone_add()\nbpy.context.object.name = 'KeepMe'\ngui_probe = 41")
        try:
            before = c.ok("(bpy.data.filepath, sorted(o.name for o in bpy.data.objects))")["result"]
            assert "KeepMe" in before[1]
            c.call("put_persist_data", {"key": "gui-reset-probe", "data": 1})
            for params in ({}, {"file": before[0] or str(tmp_path / "x.blend")}):
                error = c.call("reset_blender", params)["error"]
                assert error["code"] == "invalid_request" and error["mode"] == "gui", error
                assert "refused" in error["message"]
            assert c.ok("(bpy.data.filepath, sorted(o.name for o in bpy.data.objects))")["result"] == before
            assert c.ok("gui_probe + 1")["result"] == 42
            assert c.call("get_persist_data", {"key": "gui-reset-probe"})["result"]["found"] is True
            assert c.call("status")["result"]["blend_file"] == before[0]
        finally:
            c.call("remove_persist_data", {"key": "gui-reset-probe"})
            c.ok("bpy.data.objects.remove(bpy.data.objects['KeepMe'])")


def test_gui_status_sees_a_save_made_outside_any_call(gui, tmp_path):
    """A GUI user's File > Save happens outside every call of ours: the save_post handler
    refreshes blend_file (here a timer saves, and only client-thread `status` calls follow)."""
    path = tmp_path / "saved-by-the-user.blend"
    with gui.client() as c:
        assert c.call("status")["result"]["blend_file"] == c.ok("bpy.data.filepath")["result"]
        c.ok("def _save():\n"
             f"    bpy.ops.wm.save_as_mainfile(filepath={str(path)!r})\n"
             "bpy.app.timers.register(_save, first_interval=0.2)")
        wait_until(lambda: c.call("status")["result"]["blend_file"] == str(path),
                   "status never showed the file saved outside a call")
        assert path.exists()
