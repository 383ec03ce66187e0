"""The background keep-alive loop: READY line, signals, and 1.3.3-style keep-alive scripts."""

import signal
import subprocess
import time

import pytest
from harness import ADDON_DIR, REPO, blender_binary
from wire_client import Client


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_loop_cleanly(spawn, sig):
    instance = spawn("bg")
    with instance.client() as c:
        assert c.call("ping")["status"] == "success"
    instance.proc.send_signal(sig)
    assert instance.wait_exit(10) == 0


def test_sigterm_during_runaway_code(spawn):
    instance = spawn("bg")
    with instance.client() as c, instance.client() as control:
        c.request("execute_code", {"code": "while True:\n    pass", "timeout": 300})
        deadline = time.monotonic() + 60  # a hang guard
        while control.call("status")["result"]["jobs"]["running"] != 1:  # the code runs
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        instance.proc.send_signal(signal.SIGTERM)
        reply = c.read_line(timeout=60)
        assert reply["status"] == "cancelled"
    assert instance.wait_exit(60) == 0


def test_ready_line_is_printed_exactly_once(bg):
    lines = [line for line in bg.stdout_path.read_text().splitlines() if line.startswith("READY")]
    assert lines == [f"READY port={bg.port}"]


def test_a_133_style_keepalive_script_still_works(tmp_path):
    """Scripts written for 1.3.3: enable the addon, start the service, call step() in a loop."""
    scripts = tmp_path / "scripts" / "addons"
    scripts.mkdir(parents=True)
    (scripts / "bld_remote_mcp").symlink_to(ADDON_DIR)
    script = tmp_path / "legacy_keepalive.py"
    script.write_text(
        "import time, bld_remote\n"
        "bld_remote.start_mcp_service()\n"
        "print('LEGACY-PORT', bld_remote.get_mcp_service_port(), flush=True)\n"
        "while True:\n"
        "    bld_remote.step()\n"
        "    time.sleep(0.05)\n"
    )
    import os

    from harness import coverage_env

    env = {**os.environ, "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"), "BLENDER_USER_CONFIG": str(tmp_path / "cfg"),
           "BLD_REMOTE_MCP_PORT": "0", "BLD_REMOTE_MCP_AUTH": "off", **coverage_env()}
    proc = subprocess.Popen(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--addons", "bld_remote_mcp", "--python", str(script)],
        cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        port = None
        for line in proc.stdout:
            if line.startswith("LEGACY-PORT"):
                port = int(line.split()[1])
                break
        assert port, "the legacy keep-alive script did not start the service"
        with Client(port) as c:
            assert c.ok("import bld_remote\nbld_remote.get_status()['running']")["result"] is True
            assert c.ok("6 * 7")["result"] == 42
            assert c.call("server_shutdown")["status"] == "success"
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_now_at_registration_in_background(tmp_path):
    """BLD_REMOTE_MCP_START_NOW=1 starts the server when Blender registers the addon."""
    scripts = tmp_path / "scripts" / "addons"
    scripts.mkdir(parents=True)
    (scripts / "bld_remote_mcp").symlink_to(ADDON_DIR)
    script = tmp_path / "probe.py"
    script.write_text("import bld_remote\nprint('UP', bld_remote.is_mcp_service_up(), flush=True)\n")
    import os

    from harness import coverage_env

    env = {**os.environ, "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts"), "BLENDER_USER_CONFIG": str(tmp_path / "cfg"),
           "BLD_REMOTE_MCP_PORT": "0", "BLD_REMOTE_MCP_START_NOW": "1", **coverage_env()}
    proc = subprocess.run(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--addons", "bld_remote_mcp", "--python", str(script)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120,
    )
    assert "UP True" in proc.stdout, proc.stdout + proc.stderr

