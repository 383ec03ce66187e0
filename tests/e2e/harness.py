"""Starts isolated, real Blender processes with the addon; ``Instance.client()`` talks to one
through the shared wire client (tests/support/wire_client.py).

Every instance gets its own temp dirs (user config, scripts, TMPDIR), port 0 (the chosen port is
read from the process output, so tests never race for ports), and is stopped by the PID this
harness started — never by name.

Backends:
* ``bg``   Debian's Blender 3.4 in background mode, through keepalive.py.
* ``bpy42``, ``bpy45``, ``bpy5``, ``bpy53``: PyPI ``bpy`` 4.2.23 LTS, 4.5.15 LTS, 5.0.1 and 5.3.0
  (Blender as a Python module; 5.3 on Python 3.13), through keepalive.py.
* ``gui``  Blender 3.4 with a window under a private Xvfb, the addon enabled via ``--addons``
           and started at registration by BLD_REMOTE_MCP_START_NOW=1 (the timer path).
"""

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADDON_DIR = REPO / "blender_addon" / "bld_remote_mcp"
KEEPALIVE = ADDON_DIR / "keepalive.py"
ARTIFACTS = REPO / "tests" / ".artifacts"

# The wire client shared with the unit tests and the benchmarks.
sys.path.insert(0, str(REPO / "tests" / "support"))
from wire_client import Client  # noqa: E402

_READY = re.compile(rb"READY port=(\d+)")
_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
_instance_ids = itertools.count(1)


class HarnessError(RuntimeError):
    pass


def blender_binary():
    path = os.environ.get("BLENDER_BIN") or shutil.which("blender")
    if not path:
        raise HarnessError("Blender not found: install it (apt-get install blender) or set BLENDER_BIN")
    return path


# The PyPI `bpy` backends: kind -> (venv made by scripts/bootstrap.sh, Blender version). With
# Debian's 3.4 binary (`bg`, `gui`) they are the tested versions: 3.4, 4.2 LTS, 4.5 LTS, 5.0 and
# the newest 5.x (5.3, which needs Python 3.13).
BPY_VENVS = {
    "bpy42": (".venv-bpy42", "4.2.23"),
    "bpy45": (".venv-bpy45", "4.5.15"),
    "bpy5": (".venv-bpy5", "5.0.1"),
    "bpy53": (".venv-bpy53", "5.3.0"),
}


def blender_version_of(kind):
    """The Blender version a backend runs (major.minor[.patch]): 3.4 for Debian's binary."""
    return "3.4" if kind in ("bg", "gui") else BPY_VENVS[kind][1]


# Every version of the matrix: the core tests run on each (conftest's `backend` fixture).
CORE_BACKENDS = ("bg",) + tuple(BPY_VENVS)


def bpy_python(kind="bpy5"):
    """The Python of a `bpy` backend (BLD_<KIND>_PYTHON overrides it)."""
    venv, version = BPY_VENVS[kind]
    path = os.environ.get(f"BLD_{kind.upper()}_PYTHON") or str(REPO / venv / "bin" / "python")
    if not Path(path).exists():
        raise HarnessError(f"no Python with bpy {version} at {path}: run scripts/bootstrap.sh")
    return path


def bpy5_python():
    return bpy_python("bpy5")


def coverage_env():
    """Environment that makes a child Python record addon coverage (when BLD_COVERAGE=1)."""
    if os.environ.get("BLD_COVERAGE") != "1":
        return {}
    paths = [str(REPO / "tests" / "coverage_hook"), str(REPO / ".deps" / "coverage")]
    return {
        "COVERAGE_PROCESS_START": str(REPO / ".coveragerc"),
        "COVERAGE_FILE": str(REPO / ".coverage"),
        "BLD_COVERAGE_PATHS": os.pathsep.join(paths),
        "PYTHONPATH": os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


def _wait_for(pattern, path, proc, timeout, what, other_output):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = path.read_bytes() if path.exists() else b""
        match = pattern.search(data)
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with {proc.returncode} before it was ready:\n{_tail(path)}\n"
                               f"{_tail(other_output)}")
        time.sleep(0.02)
    raise HarnessError(f"{what} not ready after {timeout} s:\n{_tail(path)}\n{_tail(other_output)}")


def _tail(path, lines=40):
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no output>"


def start_blend_file():
    """A saved .blend of the default scene: opening it suppresses the GUI splash screen."""
    path = ARTIFACTS / "start.blend"
    if not path.exists():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tmp = ARTIFACTS / "start.tmp.blend"
        code = f"import bpy; bpy.ops.wm.save_as_mainfile(filepath={str(tmp)!r})"
        subprocess.run(
            [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python-expr", code],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )
        tmp.rename(path)
    return path


class Xvfb:
    """A private X server; its display number comes from -displayfd (no guessing)."""

    def __init__(self, log_dir):
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=open(log_dir / "xvfb.log", "wb"),
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise HarnessError("Xvfb did not report a display")
        self.display = f":{number}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Instance:
    """One Blender process with the addon serving on 127.0.0.1:port."""

    def __init__(self, kind, env=None, port=0, args=(), ready_timeout=90, coverage=True):
        if kind not in ("bg", "gui") and kind not in BPY_VENVS:
            raise ValueError(kind)
        self.kind = kind
        self.name = f"{kind}-{next(_instance_ids)}-{os.getpid()}"
        self.root = Path(tempfile.mkdtemp(prefix=f"bld-{kind}-"))
        self.log_dir = ARTIFACTS / "logs" / self.name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"
        self.xvfb = None
        self.port = None
        self.coverage = coverage
        self.env = self._environment(env or {}, port)
        self.proc = self._launch(port, list(args))
        try:
            if kind == "gui":
                self.port = _wait_for(_LISTENING, self.stderr_path, self.proc, ready_timeout, self.name,
                                      self.stdout_path)
            else:
                self.port = _wait_for(_READY, self.stdout_path, self.proc, ready_timeout, self.name,
                                      self.stderr_path)
            self.token = self._read_token()
        except BaseException:
            self.kill()  # never leave a Blender behind when the start fails
            raise

    def _read_token(self):
        """The instance's auth token (None when it runs with BLD_REMOTE_MCP_AUTH=off)."""
        path = Path(self.env["BLD_REMOTE_STATE_DIR"]) / "tokens" / f"{self.port}.token"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if path.exists():
                return path.read_text().strip()
            if self.env.get("BLD_REMOTE_MCP_AUTH") == "off":
                return None
            time.sleep(0.02)
        raise HarnessError(f"{self.name}: no token file at {path}")

    @property
    def pid(self):
        return self.proc.pid

    def _environment(self, extra, port):
        env = dict(os.environ)
        for sub in ("tmp", "config", "scripts/addons", "cache"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        env.update(
            TMPDIR=str(self.root / "tmp"),
            BLENDER_USER_CONFIG=str(self.root / "config"),
            BLENDER_USER_SCRIPTS=str(self.root / "scripts"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            BLD_REMOTE_STATE_DIR=str(self.root / "state"),
            BLD_REMOTE_MCP_PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        if self.kind == "gui":
            # The Mesa shader cache is slow to build: share it between GUI instances.
            shared_cache = ARTIFACTS / "xdg-cache"
            shared_cache.mkdir(parents=True, exist_ok=True)
            env["XDG_CACHE_HOME"] = str(shared_cache)
            env["BLD_REMOTE_MCP_START_NOW"] = "1"
            os.symlink(ADDON_DIR, self.root / "scripts" / "addons" / "bld_remote_mcp")
        if self.coverage:
            env.update(coverage_env())
        env.update(extra)
        return env

    def _launch(self, port, args):
        if self.kind == "bg":
            cmd = [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python", str(KEEPALIVE), "--",
                   "--port", str(port)] + args
        elif self.kind in BPY_VENVS:
            cmd = [bpy_python(self.kind), str(KEEPALIVE), "--port", str(port)] + args
        else:
            self.xvfb = Xvfb(self.log_dir)
            self.env["DISPLAY"] = self.xvfb.display
            cmd = [blender_binary(), "--factory-startup", "-noaudio", str(start_blend_file()),
                   "--addons", "bld_remote_mcp"] + args
        return subprocess.Popen(
            cmd, cwd=str(REPO), env=self.env, stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
        )

    def client(self, timeout=60):
        """A connection, authenticated with the instance's token when it has one."""
        if not self.alive():
            # A shared instance that died earlier in the run: say so, with why, instead of a
            # bare "connection refused" in every test that uses it afterwards.
            raise HarnessError(self.death_report())
        return Client(self.port, timeout=timeout, token=self.token)

    def death_report(self):
        """What is known about why this Blender exited: code, crash report, output tails."""
        crash = "\n".join(f"--- {path.name} ---\n{_tail(path, 60)}"
                          for path in sorted((self.root / "tmp").glob("*.crash.txt")))
        return (f"{self.name} (pid {self.pid}) exited with {self.proc.poll()}\n{crash or 'no crash report'}\n"
                f"--- output ---\n{self.output()}")

    def output(self):
        return _tail(self.stdout_path, 400) + "\n" + _tail(self.stderr_path, 400)

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15):
        """Clean stop (so coverage data is written): shutdown request in the GUI, SIGTERM otherwise."""
        if self.alive():
            if self.kind == "gui":
                try:
                    with Client(self.port, timeout=5, token=self.token) as client:
                        client.call("shutdown")
                except (OSError, ValueError):
                    pass
            else:
                self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(timeout) is None:
                self.kill()
        self._cleanup()

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._cleanup()

    def _cleanup(self):
        # Blender writes its crash report into TMPDIR (our root): keep it with the logs.
        for report in (self.root / "tmp").glob("*.crash.txt"):
            shutil.copy(report, self.log_dir / report.name)
        if self.xvfb is not None:
            self.xvfb.stop()
            self.xvfb = None
        shutil.rmtree(self.root, ignore_errors=True)


def python_for_legacy_client():
    """A Python with blender-remote 1.3.3 installed (the test venv)."""
    return os.environ.get("BLD_LEGACY_PYTHON", sys.executable)
