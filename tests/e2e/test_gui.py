"""Blender 3.4 with a window (under Xvfb): the timer path, screenshots, file loads, quitting."""

import base64
import time

from pngcheck import decode, distinct_colours


def test_gui_serves_through_the_timer(gui):
    with gui.client() as c:
        hello = c.call("hello")["result"]
        assert hello["mode"] == "gui" and hello["pid"] == gui.pid
        reply = c.ok("import bld_remote\n(bpy.app.background, bld_remote.is_mcp_service_up(), bld_remote.get_mcp_service_port())")
        assert reply["result"] == [False, True, gui.port]
        c.ok("gui_value = 10")
        assert c.ok("gui_value * 2")["result"] == 20


def test_gui_captures_the_3d_view(gui):
    with gui.client() as c:
        result = c.call("get_viewport_screenshot", {"max_size": 320})["result"]
    assert result["source"] == "viewport"
    data = base64.b64decode(result["image_base64"])
    width, height, _channels, _rows = decode(data)
    assert max(width, height) == 320 and (width, height) == (result["width"], result["height"])
    assert distinct_colours(data) > 20, "the capture is blank"


def test_gui_timeout_stops_runaway_code(gui):
    with gui.client() as c:
        reply = c.execute("while True:\n    pass", timeout=1)
        assert reply["status"] == "timeout"
        # The loop never ends on its own: a job that finished was stopped by its timeout. (Its
        # own record, not the reply: on a loaded machine the 1 s stuck grace may answer first.)
        job = c.call("get_job", {"job_id": reply["metadata"]["job_id"], "wait": 60})["result"]
        assert job["state"] == "finished" and job["envelope"]["status"] == "timeout", job
        assert "stuck" not in job["envelope"]["error"]
        assert c.ok("'responsive'")["result"] == "responsive"


def test_gui_survives_loading_another_file(gui, tmp_path):
    path = tmp_path / "other.blend"
    with gui.client() as c:
        c.ok(f"bpy.ops.mesh.primitive_monkey_add()\nbpy.ops.wm.save_as_mainfile(filepath={str(path)!r}, copy=True)")
        loaded = c.ok(f"bpy.ops.wm.open_mainfile(filepath={str(path)!r})")
        assert any("other.blend" in rec["message"] for rec in loaded["output"]["logs"])
    with gui.client() as c:
        assert "Suzanne" in c.ok("[o.name for o in bpy.data.objects]")["result"]
        assert c.call("get_scene_info")["result"]["file"].endswith("other.blend")


def test_gui_control_commands_answer_during_a_long_job(gui, tmp_path):
    gate = tmp_path / "gate"
    with gui.client() as worker, gui.client() as control:
        # Holds the main thread (interruptible Python) until the test creates the gate file.
        worker.request("execute_code", {"code": f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n"
                                                "    time.sleep(0.01)", "timeout": 60})
        deadline = time.monotonic() + 60  # a hang guard
        while control.call("status")["result"]["jobs"]["running"] != 1:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        assert control.call("ping")["status"] == "success"  # answered while the job holds the main thread
        gate.touch()
        assert worker.read_line(timeout=60)["status"] == "success"


def test_gui_sys_exit_quits_blender(spawn):
    instance = spawn("gui")
    with instance.client() as c:
        reply = c.execute("import sys\nsys.exit(0)")
        assert reply["status"] == "success" and reply["metadata"]["system_exit"] == 0
    assert instance.wait_exit(30) is not None


def test_gui_server_shutdown_keeps_blender_open(spawn):
    from wire_client import legacy_call

    instance = spawn("gui", env={"BLD_REMOTE_MCP_AUTH": "off"})
    assert legacy_call(instance.port, {"type": "server_shutdown", "params": {}})["status"] == "success"
    time.sleep(1.0)
    assert instance.alive(), "a GUI Blender must stay open after server_shutdown (1.3.3 behaviour)"


UNDO_ONCE = (
    "window = bpy.context.window_manager.windows[0]\n"
    "with bpy.context.temp_override(window=window, screen=window.screen):\n"
    "    bpy.ops.ed.undo()\n"
)


def test_gui_each_execute_code_that_changes_the_scene_is_one_undo_step(gui):
    with gui.client() as c:
        names = lambda: set(c.ok("[o.name for o in bpy.data.objects]")["result"])
        before = names()
        # Three operators and a direct data edit in one call...
        first = c.ok("bpy.ops.mesh.primitive_cube_add()\nbpy.ops.mesh.primitive_monkey_add()\n"
                     "bpy.ops.mesh.primitive_uv_sphere_add()\nbpy.context.active_object.name = 'AgentSphere'")
        assert first["metadata"]["undo_step"] is True
        assert "undo_step" not in c.ok("len(bpy.data.objects)")["metadata"], "a look changes nothing: no step"
        second = c.ok("bpy.ops.mesh.primitive_cone_add()")
        assert second["metadata"]["undo_step"] is True
        assert len(names() - before) == 4
        # ...are taken back by one Ctrl-Z each, newest first (undo=False: the undo itself is no step).
        c.ok(UNDO_ONCE, undo=False)
        assert len(names() - before) == 3 and "AgentSphere" in names()
        c.ok(UNDO_ONCE, undo=False)
        assert names() == before


def test_gui_addon_disable_enable_and_script_reload_keep_the_server(spawn):
    instance = spawn("gui")

    def server_state():
        with instance.client() as c:
            return c.ok(
                "import threading, bld_remote\n"
                "names = [t.name for t in threading.enumerate()]\n"
                "(id(bld_remote.get_service()), names.count('bld-remote-accept'),"
                " sum(n.startswith('bld-remote-client') for n in names))"
            )["result"]

    def after(action):
        before = server_state()
        with instance.client() as c:
            # From a timer, not from inside the call: the server being stopped must not be the
            # one answering.
            c.ok("def act():\n    " + action + "\nbpy.app.timers.register(act, first_interval=0.3)")
        deadline = time.monotonic() + 60  # a hang guard: the loop waits for the new service itself
        while True:
            try:
                state = server_state()
                if state[0] != before[0]:
                    return before, state
            except (OSError, ConnectionError):
                pass  # stopped, not yet back
            assert time.monotonic() < deadline, f"the server did not come back after {action}"
            time.sleep(0.2)

    for action in ("bpy.ops.preferences.addon_disable(module='bld_remote_mcp'); "
                   "bpy.ops.preferences.addon_enable(module='bld_remote_mcp')",
                   "bpy.ops.script.reload()"):
        before, state = after(action)
        # A new service on the same port with the same token (the client above reconnected
        # with the token it read at the start), one accept thread, only our own client thread.
        assert state[1] == 1 and state[2] == 1, (action, state)
    with instance.client() as c:
        assert c.call("status")["result"]["port"] == instance.port
        assert c.ok("6 * 7")["result"] == 42


def test_gui_auth_preference_turns_the_token_off_and_on_for_the_running_server(spawn):
    from wire_client import Client

    instance = spawn("gui")
    token_file = instance.root / "state" / "tokens" / f"{instance.port}.token"

    def tokenless_ping():
        with Client(instance.port) as c:
            return c.call("ping")

    def set_auth(value):
        with instance.client() as c:
            prefs = c.ok("p = bpy.context.preferences.addons['bld_remote_mcp'].preferences\n(p.auth, p.port)")
            assert prefs["result"][1] == 6688
            # From a timer: the change restarts the server that answers this very call.
            c.ok(f"def flip():\n    p.auth = {value}\nbpy.app.timers.register(flip, first_interval=0.2)")

    def wait_for(predicate):
        deadline = time.monotonic() + 60  # a hang guard: fails only if it never happens
        while True:
            try:
                if predicate():
                    return
            except (OSError, ConnectionError, AssertionError, KeyError):
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)

    # Blender's --addons (how the harness loads it) does not list the addon in the preferences;
    # enabling it as a user does makes its preferences appear (the server comes back, same port).
    with instance.client() as c:
        c.ok("bpy.app.timers.register(lambda: bpy.ops.preferences.addon_enable(module='bld_remote_mcp') and None,"
             " first_interval=0.2)")

    def listed_in_preferences():
        with instance.client() as c:
            return c.ok("bpy.context.preferences.addons['bld_remote_mcp'].preferences.auth")["result"] is True

    wait_for(listed_in_preferences)
    assert tokenless_ping()["error"]["code"] == "unauthorized"
    set_auth(False)
    wait_for(lambda: tokenless_ping()["status"] == "success")
    assert not token_file.exists(), "no token, no token file"
    with Client(instance.port) as c:
        assert c.call("status")["result"]["auth"] is False
    instance.token = None
    with Client(instance.port) as c:
        c.ok("def flip():\n    bpy.context.preferences.addons['bld_remote_mcp'].preferences.auth = True\n"
             "bpy.app.timers.register(flip, first_interval=0.2)")
    wait_for(lambda: token_file.exists() and tokenless_ping()["error"]["code"] == "unauthorized")
    instance.token = token_file.read_text().strip()
    with instance.client() as c:
        assert c.ok("6 * 7")["result"] == 42 and c.call("status")["result"]["port"] == instance.port
