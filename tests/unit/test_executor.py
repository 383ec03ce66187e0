"""Executor with a real Interrupter and OutputCapture (no fd capture, no bpy). Jobs run on a
helper thread that plays Blender's main thread, so asynchronous exceptions never reach pytest.

A job that must still be running while the test looks at it waits on ``gate`` (an Event in its
namespace) until the test opens it, rather than sleeping for a guessed time. The waits for a
job's end are hang guards (60 s): they run out only when it never ends."""

import contextlib
import json
import logging
import threading
import time

import pytest

from bld_remote_mcp.engine import executor as executor_mod
from bld_remote_mcp.engine.capture import OutputCapture
from bld_remote_mcp.engine.executor import EMPTY_OUTPUT, Executor, cancelled_before_start, envelope
from bld_remote_mcp.engine.interrupt import Interrupter
from bld_remote_mcp.engine.job_registry import FINISHED, JobRegistry
from bld_remote_mcp.engine.mainthread import MainThreadQueue

ENVELOPE_KEYS = {"status", "result", "output", "duration", "error", "traceback", "metadata"}


class Env:
    def __init__(self, scene_probe=None, max_output_bytes=1 << 20, max_result_bytes=1 << 20):
        self.queue = MainThreadQueue()
        self.thread = threading.Thread(target=self.queue.serve_forever, kwargs={"wake_interval": 0.05},
                                       name="fake-main", daemon=True)
        self.thread.start()
        self.capture = OutputCapture(max_output_bytes, capture_fds=False)
        self.interrupter = Interrupter(self.thread.ident, resend_interval=0.1)
        self.registry = JobRegistry()
        self.executor = Executor(self.capture, self.interrupter, self.registry, scene_probe, max_result_bytes)
        self.gate = threading.Event()
        self.namespace = {"__name__": "__main__", "gate": self.gate}

    def job(self, code, timeout=5.0, **options):
        options.setdefault("namespace", self.namespace)
        return self.registry.create(code, "sync", timeout, options)

    def run(self, code, timeout=5.0, wait=60.0, **options):
        job = self.job(code, timeout, **options)
        self.queue.submit(lambda: self.executor.run(job))
        assert job.wait(wait), "job did not finish"
        assert set(job.envelope) == ENVELOPE_KEYS
        json.dumps(job.envelope, allow_nan=False)  # always strict JSON
        return job

    def close(self):
        self.gate.set()
        self.queue.request_stop()
        self.thread.join(5)
        self.interrupter.close()


def wait_running(env, job, timeout=60.0):
    """Until the job's own code runs (the interrupter knows it; its output is captured from
    before that). ``timeout`` is a hang guard."""
    deadline = time.monotonic() + timeout
    while not env.interrupter.running(job):
        assert time.monotonic() < deadline, "job did not start"
        time.sleep(0.005)


@contextlib.contextmanager
def make_env(**kwargs):
    # Installed in the test body: pytest swaps sys.stdout back between test phases.
    env = Env(**kwargs)
    env.capture.install()
    try:
        yield env
    finally:
        env.capture.uninstall()
        env.close()


def test_success_envelope():
    with make_env() as env:
        job = env.run("print('hello')\nimport sys\nsys.stderr.write('warn\\n')\n6 * 7")
    e = job.envelope
    assert e["status"] == "success" and e["result"] == 42
    assert e["output"] == {"stdout": "hello\n", "stderr": "warn\n", "logs": []}
    assert e["error"] is None and e["traceback"] is None
    assert e["metadata"]["job_id"] == job.id
    assert isinstance(e["metadata"]["memory_before"], int) and isinstance(e["metadata"]["memory_after"], int)
    assert isinstance(e["duration"], float)
    assert job.state == FINISHED and job.status == "success" and job.system_exit is None
    assert env.registry.running() == []


def test_result_variable_and_namespace_persist_between_jobs():
    with make_env() as env:
        env.run("counter = 1")
        job = env.run("counter += 1\n_result = {'counter': counter, 't': (1, 2)}")
    assert job.envelope["result"] == {"counter": 2, "t": [1, 2]}


def test_error_envelope_with_traceback_and_partial_output():
    with make_env() as env:
        job = env.run("print('before the error')\nx = 1\nraise ValueError('boom')\nprint('never')")
    e = job.envelope
    assert e["status"] == "error" and e["result"] is None
    assert e["error"] == {"code": "execution_error", "type": "ValueError", "message": "boom", "line": 3}
    assert e["output"]["stdout"] == "before the error\n"
    tb = e["traceback"]
    assert tb.startswith("Traceback (most recent call last):\n  File \"<bld-remote:")
    assert "raise ValueError('boom')" in tb and tb.rstrip().endswith("ValueError: boom")
    assert "executor.py" not in tb and "code_runner.py" not in tb


def test_syntax_error_envelope():
    with make_env() as env:
        job = env.run("x = 1\nif x\n    print(x)")
    e = job.envelope
    assert e["status"] == "error"
    assert e["error"]["type"] == "SyntaxError" and e["error"]["line"] == 2
    assert e["error"]["text"] == "if x" and isinstance(e["error"]["column"], int)
    assert "Traceback" not in e["traceback"] and "SyntaxError" in e["traceback"]
    assert e["output"] == EMPTY_OUTPUT


def test_timeout_envelope_keeps_partial_output():
    with make_env() as env:
        # The loop never ends on its own: a finished job is one the timeout stopped.
        job = env.run("print('started')\nwhile True:\n    pass", timeout=0.3)
    e = job.envelope
    assert e["status"] == "timeout"
    assert e["error"]["code"] == "timeout" and e["error"]["type"] == "ExecutionTimeout"
    assert "0.3 s" in e["error"]["message"]
    assert e["error"]["line"] in (2, 3)
    assert e["output"]["stdout"] == "started\n"
    assert isinstance(e["duration"], float)
    assert "ExecutionTimeout" in e["traceback"]


def test_timeout_even_when_user_code_catches_everything_once():
    # (The loops span two lines: CPython 3.11 does not route an asynchronous exception raised in
    # a one-line `while True: pass` to the enclosing handler.)
    code = "caught = 0\ntry:\n    while True:\n        pass\nexcept BaseException:\n    caught += 1\nwhile True:\n    pass"
    with make_env() as env:
        job = env.run(code, timeout=0.2)
        assert env.namespace["caught"] == 1
    assert job.envelope["status"] == "timeout"


def test_except_exception_does_not_swallow_the_timeout():
    with make_env() as env:
        job = env.run("try:\n    while True:\n        pass\nexcept Exception:\n    swallowed = True", timeout=0.2)
        assert "swallowed" not in env.namespace
    assert job.envelope["status"] == "timeout"


def test_worker_thread_is_usable_after_a_timeout():
    with make_env() as env:
        env.run("while True: pass", timeout=0.1)
        time.sleep(0.3)  # a re-send would land here if the interrupt were not cleared
        job = env.run("sum(range(100000))")
    assert job.envelope["status"] == "success" and job.envelope["result"] == sum(range(100000))


@pytest.mark.parametrize(
    "code,exit_code",
    [("raise SystemExit(3)", 3), ("import sys\nsys.exit()", 0), ("import sys\nsys.exit('bye')", 1),
     ("raise SystemExit(True)", 1), ("raise SystemExit(None)", 0)],
)
def test_system_exit_sets_system_exit_and_status_success(code, exit_code):
    with make_env() as env:
        job = env.run("print('about to exit')\n" + code)
    e = job.envelope
    assert e["status"] == "success" and e["error"] is None and e["result"] is None
    assert job.system_exit == exit_code and e["metadata"]["system_exit"] == exit_code
    assert e["output"]["stdout"] == "about to exit\n"


def test_cancel_while_running():
    with make_env() as env:
        job = env.job("while True: pass", timeout=30)
        env.queue.submit(lambda: env.executor.run(job))
        deadline = time.monotonic() + 60  # a hang guard
        while not env.interrupter.cancel(job):  # running once the interrupter knows it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert job.wait(60)
    e = job.envelope
    assert e["status"] == "cancelled"
    assert e["error"]["code"] == "cancelled" and e["error"]["type"] == "ExecutionCancelled"


def test_cancel_requested_before_the_code_started_stops_it_at_once():
    with make_env() as env:
        job = env.job("while True: pass", timeout=30)
        job.cancel_requested = True
        env.queue.submit(lambda: env.executor.run(job))
        assert job.wait(60)
    assert job.envelope["status"] == "cancelled"


def test_job_cancelled_while_queued_is_not_run():
    with make_env() as env:
        job = env.job("ran = True")
        assert env.registry.cancel_if_queued(job, cancelled_before_start(job))
        assert env.queue.submit(lambda: env.executor.run(job)).done.wait(60)
        assert "ran" not in env.namespace
    assert job.envelope["status"] == "cancelled"
    assert job.envelope["error"]["message"] == "job was cancelled before it started"


def test_capture_output_false_leaves_output_empty(capsys):
    with make_env() as env:
        job = env.run("print('to the console')\n1", capture_output=False)
    assert job.envelope["output"] == EMPTY_OUTPUT
    assert job.envelope["result"] == 1
    assert "to the console" in capsys.readouterr().out


def test_logging_inside_the_job_is_captured():
    with make_env() as env:
        job = env.run("import logging\nlogging.getLogger('user').warning('careful: %d', 3)")
    assert job.envelope["output"]["logs"] == [
        {"source": "logging", "level": "WARNING", "logger": "user", "message": "careful: 3"}
    ]


def test_output_limit_applies_per_job():
    with make_env(max_output_bytes=1024) as env:
        job = env.run("print('x' * 5000)")
    stdout = job.envelope["output"]["stdout"]
    assert stdout.startswith("x" * 1024)
    assert "output truncated: 3977 more characters" in stdout


def test_result_limit_from_the_job_options():
    with make_env() as env:
        job = env.run("list(range(100000))", max_result_bytes=1000)
    result = job.envelope["result"]
    assert result[-1]["__truncated__"] is True and result[-1]["total_items"] == 100000


def test_non_json_results_are_converted():
    with make_env() as env:
        job = env.run("{'nan': float('nan'), 'b': b'hi', 's': {2, 1}, 'obj': object()}")
    result = job.envelope["result"]
    assert result["nan"] == {"__type__": "float", "value": "nan"}
    assert result["b"]["base64"] == "aGk="
    assert result["s"] == [1, 2]
    assert result["obj"]["__type__"] == "object"


def test_a_value_that_cannot_be_serialized_still_gives_a_reply():
    code = (
        "class Evil:\n"
        "    def __getattr__(self, name):\n"
        "        raise RuntimeError('no attributes for you')\n"
        "Evil()"
    )
    with make_env() as env:
        job = env.run(code)
    e = job.envelope
    assert e["status"] == "success"
    assert e["result"]["__type__"] == "Evil"
    assert "could not serialize" in e["result"]["error"] and "no attributes for you" in e["result"]["error"]


class Probe:
    def __init__(self, fail=False):
        self.fail = fail
        self.taken = 0

    def take(self):
        self.taken += 1
        return self.taken

    def compare(self, before, after):
        if self.fail:
            raise RuntimeError("scene went away")
        return {"scene_changed": True, "before": before, "after": after}


def test_scene_probe_results_go_into_metadata():
    probe = Probe()
    with make_env(scene_probe=probe) as env:
        job = env.run("1")
    meta = job.envelope["metadata"]
    assert meta["scene_changed"] is True and (meta["before"], meta["after"]) == (1, 2)


def test_failing_scene_probe_never_loses_the_reply():
    with make_env(scene_probe=Probe(fail=True)) as env:
        job = env.run("5")
    e = job.envelope
    assert e["status"] == "success" and e["result"] == 5
    assert e["metadata"]["scene_error"] == "RuntimeError: scene went away"


def test_job_output_is_visible_while_the_job_runs():
    with make_env() as env:
        job = env.job("print('partial', flush=True)\ngate.wait()\nprint('end')", timeout=60)
        env.queue.submit(lambda: env.executor.run(job))
        deadline = time.monotonic() + 60  # a hang guard
        while not (job.output is not None and job.output.stdout.getvalue()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert job.output.as_dict()["stdout"] == "partial\n"
        assert not job.is_done()  # seen while it runs: it waits for the gate
        env.gate.set()
        assert job.wait(60)
    assert job.envelope["output"]["stdout"] == "partial\nend\n"


def test_envelope_helpers():
    e = envelope("success", result=1)
    assert set(e) == ENVELOPE_KEYS
    assert e["output"] == EMPTY_OUTPUT and e["output"] is not EMPTY_OUTPUT
    assert e["metadata"] == {} and e["duration"] == 0.0
    reg = JobRegistry()
    job = reg.create("x", "async", 1, {})
    c = cancelled_before_start(job)
    assert c["status"] == "cancelled" and c["error"]["code"] == "cancelled"
    assert c["metadata"] == {"job_id": job.id}


@pytest.mark.parametrize("code,expected", [(None, 0), (0, 0), (5, 5), (True, 1), (False, 0), ("msg", 1), (2.5, 1)])
def test_exit_code_mapping(code, expected):
    assert executor_mod._exit_code(SystemExit(code)) == expected


def test_print_from_another_thread_during_a_job_is_not_in_its_output(capsys):
    with make_env() as env:
        job = env.job("print('job')\ngate.wait()\nprint('job end')", timeout=60)
        env.queue.submit(lambda: env.executor.run(job))
        wait_running(env, job)
        print("test thread output")  # while the job runs: it waits for the gate
        env.gate.set()
        assert job.wait(60)
    assert job.envelope["output"]["stdout"] == "job\njob end\n"
    assert "test thread output" in capsys.readouterr().out


def test_root_logger_records_from_other_threads_are_not_captured():
    with make_env() as env:
        job = env.job("gate.wait()", timeout=60)
        env.queue.submit(lambda: env.executor.run(job))
        wait_running(env, job)
        logging.getLogger("outsider").error("not the job's")  # while the job runs
        env.gate.set()
        assert job.wait(60)
    assert job.envelope["output"]["logs"] == []


class ChangedWhen:
    """A probe saying the scene changed when the code set ``changed = True``."""

    def __init__(self, env_namespace):
        self.namespace = env_namespace

    def take(self):
        return None

    def compare(self, before, after):
        return {"scene_changed": bool(self.namespace.pop("changed", False))}


def test_one_undo_step_per_call_that_changed_the_scene():
    pushed = []
    with make_env() as env:
        env.executor.scene_probe = ChangedWhen(env.namespace)
        env.executor.undo_step = pushed.append
        unchanged = env.run("1 + 1")
        changed = env.run("\n  \nchanged = True\nx = 2")
        opted_out = env.run("changed = True", undo=False)
        failed = env.run("changed = True\nraise ValueError('half done')")

        def refuse(label):
            raise RuntimeError("no window")

        env.executor.undo_step = refuse
        no_window = env.run("changed = True")
    assert "undo_step" not in unchanged.envelope["metadata"], "no-op calls keep Blender's history"
    assert changed.envelope["metadata"]["undo_step"] is True
    assert "undo_step" not in opted_out.envelope["metadata"]
    assert failed.envelope["status"] == "error" and failed.envelope["metadata"]["undo_step"] is True
    assert pushed == ["bld-remote: changed = True", "bld-remote: changed = True"]
    assert no_window.envelope["status"] == "success"
    assert no_window.envelope["metadata"]["undo_error"] == "RuntimeError: no window"


def test_checkpoint_is_saved_before_the_code_runs_or_the_code_does_not_run():
    saved = []
    with make_env() as env:
        def save(job):
            saved.append(env.namespace.get("ran"))
            return f"/checkpoints/{job.id}.blend"

        env.executor.checkpoint = save
        ok = env.run("ran = True\n1", checkpoint=True)
        plain = env.run("2")

        def fail(job):
            raise OSError("disk full")

        env.executor.checkpoint = fail
        env.namespace.pop("ran")
        refused = env.run("ran = True", checkpoint=True)
        env.executor.checkpoint = None
        unavailable = env.run("ran = True", checkpoint=True)
    assert saved == [None], "saved before the code ran, and only when asked"
    assert ok.envelope["metadata"]["checkpoint"] == f"/checkpoints/{ok.id}.blend"
    assert "checkpoint" not in plain.envelope["metadata"]
    for job in (refused, unavailable):
        e = job.envelope
        assert e["status"] == "error" and e["error"]["code"] == "checkpoint_failed"
        assert "was not run" in e["error"]["message"]
    assert "disk full" in refused.envelope["error"]["message"]
    assert "ran" not in env.namespace
