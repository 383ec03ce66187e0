"""The 3D view's "BLD Remote" sidebar panel, its operators and the addon preferences, in Blender
3.4 with a window under Xvfb: the panel draws the server's state and the last calls, the
operators start, stop and cancel for real, the MCP config lands on the clipboard, and the
preferences survive a save and a reload."""

import base64
import json
import socket
import time
from pathlib import Path

from pngcheck import decode, distinct_colours

SHOW_SIDEBAR = """
import bpy
window = bpy.context.window_manager.windows[0]
area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
area.spaces[0].show_region_ui = True
region = next(r for r in area.regions if r.type == 'UI')
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, what, limit=30):
    deadline = time.monotonic() + limit
    while True:
        try:
            if predicate():
                return
        except (OSError, ConnectionError, AssertionError, KeyError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


RECORDER = """
labels = []
class Recorder:
    # Passes every call to the real layout and notes the text of each label.
    def __init__(self, layout):
        self._layout = layout
    def __getattr__(self, name):
        attr = getattr(self._layout, name)
        if name == 'label':
            def label(*args, **kwargs):
                labels.append(kwargs.get('text', ''))
                return attr(*args, **kwargs)
            return label
        if name in ('row', 'box', 'column'):
            return lambda *a, **k: Recorder(attr(*a, **k))
        return attr
"""


def test_panel_draws_server_state_and_last_calls(gui):
    """The panel's draw() run by Blender into a real layout (the 3D view's header, which is
    always drawn: the sidebar only draws the panels of its active tab)."""
    with gui.client() as c:
        assert c.execute("1 / 0")["status"] == "error"  # an error for the list of last calls
        c.ok("print('hello')")
        result = c.ok(SHOW_SIDEBAR + RECORDER + """
def draw_ours(header, context):
    bpy.types.VIEW3D_PT_bld_remote.draw(type('P', (), {'layout': Recorder(header.layout)})(), context)
bpy.types.VIEW3D_HT_header.append(draw_ours)
try:
    with bpy.context.temp_override(window=window, area=area):
        area.tag_redraw()
        bpy.ops.wm.redraw_timer(type='DRAW_WIN_SWAP', iterations=1)
finally:
    bpy.types.VIEW3D_HT_header.remove(draw_ours)
labels
""")["result"]
        status = c.call("status")["result"]
    assert f"Listening on 127.0.0.1:{gui.port}" in result, result
    assert "Token required" in result
    assert any(label.startswith("Clients connected: ") for label in result)
    assert "Last calls" in result
    assert "1 / 0" in result and "print('hello')" in result
    assert "ZeroDivisionError: division by zero" in result
    assert status["connections"] >= 1


def test_panel_screenshot_for_the_readme(gui, tmp_path):
    """A capture of the 3D view (bld-remote's own get_viewport_screenshot) with the sidebar open
    on the panel's draw(): a real picture of it. Blender 3.4 cannot switch sidebar tabs from
    Python, so the panel is drawn under the first tab for the capture."""
    with gui.client() as c:
        c.ok("import bpy\nbpy.ops.mesh.primitive_monkey_add(location=(0, 0, 1))")
        c.ok(SHOW_SIDEBAR + """
class VIEW3D_PT_bld_remote_capture(bpy.types.Panel):
    bl_space_type, bl_region_type, bl_category, bl_label = 'VIEW_3D', 'UI', 'Item', 'bld-remote'
    draw = bpy.types.VIEW3D_PT_bld_remote.draw
bpy.utils.register_class(VIEW3D_PT_bld_remote_capture)
""")
        try:
            shot = c.call("get_viewport_screenshot", {"max_size": 1280})["result"]
        finally:
            c.ok("bpy.utils.unregister_class(bpy.types.VIEW3D_PT_bld_remote_capture)\n" + SHOW_SIDEBAR
                 + "area.spaces[0].show_region_ui = False")
    data = base64.b64decode(shot["image_base64"])
    # Kept with the run's artifacts: the README's panel picture is this capture.
    artifacts = Path(__file__).resolve().parents[1] / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "panel.png").write_bytes(data)
    width, height, _channels, _rows = decode(data)
    assert width > 300 and height > 200
    assert distinct_colours(data) > 20, "a picture, not a blank"


def test_cancel_operator_stops_the_running_call_and_the_queued_ones(gui):
    # The running job presses the button once the second job is queued (it waits for that
    # event), so the cancel finds one call running and one queued, every run.
    press_when_queued = (
        "import bpy, time, bld_remote\n"
        "jobs = bld_remote.get_service().jobs\n"
        "for _ in range(2000):\n"
        "    if any(j.state == 'queued' for j in jobs.all()):\n"
        "        break\n"
        "    time.sleep(0.005)\n"
        "bpy.ops.bld_remote.cancel_running()\n"
        "for _ in range(200):\n"
        "    time.sleep(0.05)\n"
        "'finished'")
    with gui.client() as c:
        running = c.execute(press_when_queued, execution_mode="async", timeout=60)["result"]["job_id"]
        queued = c.execute("'never ran'", execution_mode="async")["result"]["job_id"]
        first = c.call("get_job", {"job_id": running, "wait": 20})["result"]
        second = c.call("get_job", {"job_id": queued, "wait": 20})["result"]
    assert first["status"] == "cancelled", first
    assert second["status"] == "cancelled" and second["started"] is None, second


def test_copy_mcp_config_puts_a_working_config_on_the_clipboard(gui):
    with gui.client() as c:
        text = c.ok("import bpy\nbpy.ops.bld_remote.copy_mcp_config()\nbpy.context.window_manager.clipboard")["result"]
    config = json.loads(text)
    assert config["mcpServers"]["blender"] == {"command": "bld-remote", "args": ["mcp", "--port", str(gui.port)]}


def test_stop_and_start_operators_stop_and_start_the_server(spawn):
    port = _free_port()
    instance = spawn("gui", port=port)
    token_file = instance.root / "state" / "tokens" / f"{port}.token"
    with instance.client() as c:
        # From timers: the server being stopped must not be the one answering this call.
        c.ok("import bpy\n"
             "bpy.app.timers.register(lambda: bpy.ops.bld_remote.stop_server() and None, first_interval=0.3)\n"
             "bpy.app.timers.register(lambda: bpy.ops.bld_remote.start_server() and None, first_interval=3.0)")

    def refused():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False

    _wait_for(lambda: _raises(refused, OSError), "the stop operator to close the port", limit=10)
    _wait_for(lambda: token_file.exists(), "the start operator to serve again")
    instance.token = token_file.read_text().strip()  # a new token for the new start
    with instance.client() as c:
        assert c.ok("6 * 7")["result"] == 42
        assert c.call("status")["result"]["port"] == port


def _raises(fn, exc):
    try:
        fn()
    except exc:
        return True
    return False


def test_preferences_log_level_and_port_survive_save_and_reload(spawn):
    instance = spawn("gui")
    with instance.client() as c:
        c.ok("bpy.app.timers.register(lambda: bpy.ops.preferences.addon_enable(module='bld_remote_mcp') and None,"
             " first_interval=0.2)")
    _wait_for(lambda: _prefs(instance) is not None, "the addon to be listed in the preferences")
    with instance.client() as c:
        c.ok("p = bpy.context.preferences.addons['bld_remote_mcp'].preferences\n"
             "p.log_level = 'WARNING'\np.port = 7123\n"
             "bpy.context.preferences.use_preferences_save = True\n"
             "bpy.ops.wm.save_userpref()")
        assert c.ok("import bld_remote, logging\nlogging.getLogger('bld_remote_mcp').level")["result"] in (
            logging_level("WARNING"),)
        # Reload from disk: the saved values come back.
        c.ok("p.log_level = 'DEBUG'\np.port = 1\n"
             "bpy.app.timers.register(lambda: bpy.ops.wm.read_userpref() and None, first_interval=0.2)")
    # Reading the preferences re-registers the addon (its server comes back on the same port).
    _wait_for(lambda: _prefs(instance) == ["WARNING", 7123], "the saved preferences to be read back")


def logging_level(name):
    import logging

    return getattr(logging, name)


def _prefs(instance):
    with instance.client() as c:
        reply = c.execute("p = bpy.context.preferences.addons['bld_remote_mcp'].preferences\n[p.log_level, p.port]")
    return reply["result"] if reply["status"] == "success" else None
