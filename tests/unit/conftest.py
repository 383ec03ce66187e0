"""Unit tests of the addon's pure modules (no bpy, no Blender): plain Python 3.11.

Puts ``blender_addon`` on ``sys.path`` so that ``import bld_remote_mcp.wire.framing`` works, and
provides the shared helpers as fixtures (test modules are imported with
``--import-mode=importlib`` by scripts/test.sh, so they cannot import each other):

* ``run_py``: run a snippet in a fresh interpreter (for fd redirection, signals and async
  exceptions aimed at the main thread, which must not fight pytest's own machinery);
* ``make_service``: a real ``Service`` listening on an ephemeral loopback port, whose
  "Blender main thread" is a helper thread running ``queue.serve_forever``; every namespace of
  its jobs holds ``gate``, a ``threading.Event`` the test opens (``harness.gate.set()``), so that
  a job can hold the main thread exactly until the test has seen what it wants to see instead of
  for a guessed number of seconds;
* ``Client`` objects (from ``ServiceHarness.client()`` and ``connect``): the shared wire client
  of ``tests/support/wire_client.py``, speaking v1 lines or 1.3.3 raw JSON.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ADDON_ROOT = Path(__file__).resolve().parents[2] / "blender_addon"
if str(ADDON_ROOT) not in sys.path:
    sys.path.insert(0, str(ADDON_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from wire_client import Client  # noqa: E402


# -- subprocesses ------------------------------------------------------------------------------
class PyResult:
    def __init__(self, proc):
        self.proc = proc
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def output(self):
        """stdout without the RESULT= lines."""
        return "".join(l for l in self.stdout.splitlines(True) if not l.startswith("RESULT="))

    @property
    def data(self):
        """The JSON object the script printed on its last stdout line prefixed with RESULT=."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("RESULT="):
                return json.loads(line[len("RESULT="):])
        raise AssertionError(f"no RESULT= line\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")


@pytest.fixture
def run_py():
    """Run ``code`` (dedented) in a new interpreter with the addon importable.

    The snippet can call ``emit(obj)`` to report a JSON result on the real stdout.
    """

    prelude = textwrap.dedent(
        """
        import json as _json, os as _os
        _EMIT_FD = _os.dup(1)  # a copy of the real stdout, untouched by later dup2 calls on fd 1
        def emit(obj):
            _os.write(_EMIT_FD, ("RESULT=" + _json.dumps(obj) + "\\n").encode())
        """
    )

    def run(code, timeout=20, env=None):
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(ADDON_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.pop("COVERAGE_PROCESS_START", None)
        full_env["PYTHONUNBUFFERED"] = "1"
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )
        return PyResult(proc)

    return run


# -- a running service -------------------------------------------------------------------------
class ServiceHarness:
    """A Service whose "Blender main thread" is a helper thread blocked in ``serve_forever``
    (then stopping the service once that returns, as the keep-alive script does)."""

    def __init__(self, settings, **service_kwargs):
        from bld_remote_mcp.engine.service import Service

        # Job code blocks on it (`gate.wait()`: a C call the interrupt cannot break, like a render;
        # `while not gate.is_set(): time.sleep(0.01)`: interruptible Python) until the test opens it.
        self.gate = threading.Event()
        service_kwargs.setdefault("preload", lambda: {"gate": self.gate})
        self._ready = threading.Event()
        self.loop_done = threading.Event()
        self.loop_result = None
        self.service = None
        self._clients = []
        self.thread = threading.Thread(target=self._main, name="fake-blender-main", daemon=True)
        self.thread.start()
        service_kwargs.setdefault("mode", "background")
        service_kwargs.setdefault("capture_fds", False)
        try:
            self.service = Service(
                settings,
                blender_version="test",
                addon_version="0",
                main_thread_ident=self.thread.ident,
                **service_kwargs,
            )
            self.port = self.service.start()
        finally:
            self._ready.set()

    def _main(self):
        """What keepalive.py does on Blender's main thread: serve, then stop the service."""
        self._ready.wait()
        try:
            if self.service is not None:
                self.loop_result = self.service.queue.serve_forever(wake_interval=0.05)
                self.service.stop()
        finally:
            self.loop_done.set()

    def client(self):
        client = Client(self.port)
        self._clients.append(client)
        return client

    def wait_loop_done(self, timeout=60.0):
        # A hang guard: only runs out when the loop never returns.
        assert self.loop_done.wait(timeout), "serve_forever did not return"
        return self.loop_result

    def close(self):
        self.gate.set()  # a job still held by the gate would hold the "main thread" past the test
        for client in self._clients:
            client.close()
        if self.service is not None:
            self.service.stop()
            self.service.queue.request_stop(0)
        self.thread.join(10)


@pytest.fixture
def make_service():
    """``make_service(**settings_overrides)``: a started ServiceHarness, closed after the test.

    Call it in the test body (not in a fixture): OutputCapture swaps ``sys.stdout`` and pytest
    swaps it back between test phases.
    """
    from bld_remote_mcp.engine import config

    made = []

    def make(service_kwargs=None, **overrides):
        overrides.setdefault("port", 0)
        # Token auth is tested on its own (test_auth.py); elsewhere it is off so that tests
        # can open plain sockets.
        overrides.setdefault("auth", False)
        settings = config.Settings(**overrides)
        harness = ServiceHarness(settings, **(service_kwargs or {}))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def connect():
    """``connect(port)``: a Client on 127.0.0.1 (closed after the test)."""
    clients = []

    def make(port):
        client = Client(port)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def wait_for(predicate, timeout=60.0, interval=0.01):
    """Poll ``predicate`` until true; returns its last value.

    ``timeout`` is a hang guard, not a measurement: it only runs out when the awaited state never
    comes, so it is generous enough for a slow, loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def poll():
    return wait_for
