"""The Blenders a run measures, all on the same binary:

* ours: bld-remote's addon, started by the e2e harness (background keep-alive, or GUI under a
  private Xvfb), untraced;
* theirs: blender-remote 1.3.3's addon from its PyPI package, started the way its CLI starts it
  (`--python` a script ending in its keep-alive loop, `BLD_REMOTE_MCP_START_NOW=1`), in a private
  user-scripts folder so nothing is installed into the user's Blender;
* bare: Blender with no addon, for the idle memory baseline."""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import Instance, Xvfb, blender_binary  # noqa: E402

from . import procs  # noqa: E402

# Every Blender this run started, so that the report (and the suite's test) can show none is left.
STARTED_PIDS = []


class OurBlender:
    protocol = "v1"
    bridge = "bld-remote"

    def __init__(self, kind, auth=True):
        env = {}  # default log level (INFO), as for theirs
        if not auth:
            env["BLD_REMOTE_MCP_AUTH"] = "off"
        self.kind = kind
        self.instance = Instance(kind, env=env, coverage=False)
        self.port, self.token, self.pid = self.instance.port, self.instance.token, self.instance.pid
        STARTED_PIDS.append(self.pid)
        self.state_dir = self.instance.env["BLD_REMOTE_STATE_DIR"]

    def stop(self):
        self.instance.stop()


def their_package_dir():
    spec = importlib.util.find_spec("blender_remote")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("blender-remote 1.3.3 is not installed in this Python (scripts/bootstrap.sh installs it)")
    return Path(list(spec.submodule_search_locations)[0])


def their_version():
    from importlib.metadata import version

    return version("blender-remote")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_answering(port, proc, timeout, log):
    """Their server is ready when it answers a 1.3.3 request (its keep-alive sleeps 2 s first)."""
    from .wire import LegacyConnection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"blender-remote's Blender exited ({proc.returncode}); see {log}")
        try:
            conn = LegacyConnection(port, timeout=5)
            try:
                if conn.request({"type": "get_scene_info", "params": {}}).get("status") == "success":
                    return
            finally:
                conn.close()
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"blender-remote's Blender did not answer on {port} within {timeout} s; see {log}")


class TheirBlender:
    protocol = "legacy"
    bridge = "blender-remote 1.3.3"

    def __init__(self, kind, log_dir, timeout=120):
        from blender_remote.cli.scripts import KEEPALIVE_SCRIPT  # their own keep-alive, as their CLI uses

        self.kind, self.token, self.xvfb = kind, None, None
        self.root = Path(tempfile.mkdtemp(prefix="bld-theirs-"))
        addons = self.root / "scripts" / "addons"
        addons.mkdir(parents=True)
        os.symlink(their_package_dir() / "addon" / "bld_remote_mcp", addons / "bld_remote_mcp")
        self.port = _free_port()
        (self.root / "tmp").mkdir()
        env = dict(os.environ, BLENDER_USER_SCRIPTS=str(self.root / "scripts"),
                   BLENDER_USER_CONFIG=str(self.root / "config"), TMPDIR=str(self.root / "tmp"),
                   BLD_REMOTE_MCP_PORT=str(self.port), BLD_REMOTE_MCP_START_NOW="1",
                   BLD_REMOTE_LOG_LEVEL="INFO")  # their CLI's default level
        for name in ("BLD_COVERAGE", "COVERAGE_PROCESS_START"):
            env.pop(name, None)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"theirs-{kind}.log"
        cmd = [blender_binary(), "--factory-startup", "-noaudio", "--addons", "bld_remote_mcp"]
        if kind == "bg":
            script = self.root / "keepalive.py"
            script.write_text(KEEPALIVE_SCRIPT)
            cmd[1:1] = ["--background"]
            cmd += ["--python", str(script)]
        else:
            self.xvfb = Xvfb(log_dir)
            env["DISPLAY"] = self.xvfb.display
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        STARTED_PIDS.append(self.pid)
        try:
            _wait_answering(self.port, self.proc, timeout, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.xvfb is not None:
            self.xvfb.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def bare_idle_rss_mib(settle=2.0):
    """RSS of a background Blender with no addon, idle in a sleep (the baseline for overheads)."""
    proc = subprocess.Popen(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python-expr",
         "import time\nprint('IDLE', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    STARTED_PIDS.append(proc.pid)
    try:
        for line in proc.stdout:
            if line.startswith(b"IDLE"):
                break
        time.sleep(settle)
        return procs.rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


_OVERHEAD_SCRIPT = """
import os, sys, time
def rss_kib():
    with open('/proc/self/status') as status:
        return next(int(line.split()[1]) for line in status if line.startswith('VmRSS:'))
time.sleep({settle})
before = rss_kib()
sys.path.insert(0, {addon_parent!r})
from bld_remote_mcp.blender import api
api.start_mcp_service(port=0)
time.sleep({settle})
after = rss_kib()
print('ADDON_RSS', before, after, flush=True)
api.stop_mcp_service()
"""


def addon_overhead_mib(runs=3, settle=2.0):
    """RSS our addon adds to a background Blender, measured inside one process (RSS before
    importing and starting it, then after, idle): two Blender processes differ by several MiB
    on their own, which would swamp the figure. Median of `runs` processes."""
    deltas = []
    script = _OVERHEAD_SCRIPT.format(settle=settle, addon_parent=str(REPO / "blender_addon"))
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bld-overhead-") as state:
            env = dict(os.environ, BLD_REMOTE_STATE_DIR=state)
            env.pop("BLD_COVERAGE", None)
            proc = subprocess.Popen([blender_binary(), "-b", "--factory-startup", "-noaudio", "--python-expr", script],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            STARTED_PIDS.append(proc.pid)
            try:
                out, _ = proc.communicate(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            line = next((raw for raw in out.splitlines() if raw.startswith(b"ADDON_RSS")), None)
            if line is None:
                raise RuntimeError(f"the overhead probe printed no figure: {out[-500:]!r}")
            before, after = map(int, line.split()[1:3])
            deltas.append((after - before) / 1024)
    deltas.sort()
    return round(deltas[len(deltas) // 2], 1), [round(d, 1) for d in deltas]


def blender_version_string():
    out = subprocess.run([blender_binary(), "--version"], capture_output=True, text=True, timeout=60).stdout
    return out.splitlines()[0].strip() if out else "unknown"
