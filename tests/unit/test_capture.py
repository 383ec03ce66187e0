"""OutputCapture. In-process tests run without fd capture and read the passthrough through
``capsys``; fd-level capture (dup2 on fds 1/2) runs in a subprocess so it cannot fight pytest."""

import contextlib
import io
import logging
import sys
import threading

import pytest

from bld_remote_mcp.engine import capture
from bld_remote_mcp.engine.capture import OutputCapture, RoutedStream


@contextlib.contextmanager
def installed(max_bytes=1 << 20):
    """An installed OutputCapture without fd capture, around (not across) pytest's own swaps.

    It must be installed inside the test body: pytest puts its own ``sys.stdout`` back between
    the setup, call and teardown phases.
    """
    oc = OutputCapture(max_bytes=max_bytes, capture_fds=False)
    oc.install()
    try:
        yield oc
    finally:
        oc.uninstall()


def in_thread(fn):
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert not t.is_alive()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_prints_of_the_capturing_thread_land_in_its_output(capsys):
    with installed() as cap:
        out = cap.begin()
        print("hello")
        print("to err", file=sys.stderr)
        sys.stdout.write("no newline")
        cap.end(out)
        assert out.as_dict() == {"stdout": "hello\nno newline", "stderr": "to err\n", "logs": []}
        assert capsys.readouterr().out == ""  # nothing leaked to the real stdout


def test_output_after_end_goes_to_the_original_stream(capsys):
    with installed() as cap:
        out = cap.begin()
        print("inside")
        cap.end(out)
        print("after")
        assert out.as_dict()["stdout"] == "inside\n"
        assert capsys.readouterr().out == "after\n"


def test_print_from_another_thread_during_capture_is_not_in_the_job_output(capsys):
    with installed() as cap:
        out = cap.begin()
        print("job line")
        in_thread(lambda: print("other thread line"))
        print("job line 2")
        cap.end(out)
        assert out.as_dict()["stdout"] == "job line\njob line 2\n"
        assert capsys.readouterr().out == "other thread line\n"


def test_two_threads_capturing_at_once_get_their_own_output():
    with installed() as cap:
        barrier = threading.Barrier(2)

        def job(name):
            out = cap.begin()
            barrier.wait()
            for i in range(50):
                print(f"{name}{i}")
            barrier.wait()
            cap.end(out)
            return out.as_dict()["stdout"]

        results = {}
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, job(n))) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results["a"] == "".join(f"a{i}\n" for i in range(50))
        assert results["b"] == "".join(f"b{i}\n" for i in range(50))


def test_binary_writes_through_stdout_buffer_are_captured_as_text():
    with installed() as cap:
        out = cap.begin()
        sys.stdout.buffer.write(b"bytes \xc3\xa9 \xff\n")
        sys.stdout.flush()
        cap.end(out)
        assert out.as_dict()["stdout"] == "bytes é \\xff\n"


def test_writing_a_non_string_raises_like_a_real_text_stream():
    with installed() as cap:
        out = cap.begin()
        try:
            with pytest.raises(TypeError, match="must be str"):
                sys.stdout.write(b"bytes")
        finally:
            cap.end(out)


def test_truncation_note_past_max_bytes(capsys):
    oc = OutputCapture(max_bytes=10, capture_fds=False)
    oc.install()
    try:
        out = oc.begin()
        print("x" * 25)  # 25 chars, then "\n": 16 characters do not fit
        print("more")  # 5 more
        print("e" * 3, file=sys.stderr)  # within stderr's own limit
        oc.end(out)
    finally:
        oc.uninstall()
    result = out.as_dict()
    assert result["stdout"] == "x" * 10 + "\n[bld-remote: output truncated: 21 more characters were written]\n"
    assert result["stderr"] == "eee\n"


def test_logging_records_are_captured_with_level_logger_and_message():
    with installed() as cap:
        out = cap.begin()
        logging.getLogger("user.tool").warning("value is %s", 42)
        logging.getLogger().error("root error")
        cap.end(out)
        assert out.as_dict()["logs"] == [
            {"source": "logging", "level": "WARNING", "logger": "user.tool", "message": "value is 42"},
            {"source": "logging", "level": "ERROR", "logger": "root", "message": "root error"},
        ]


def test_logging_from_another_thread_is_not_captured():
    with installed() as cap:
        out = cap.begin()
        in_thread(lambda: logging.getLogger("elsewhere").error("not mine"))
        logging.getLogger("mine").error("mine")
        cap.end(out)
        assert [r["message"] for r in out.logs] == ["mine"]


def test_logged_exception_includes_its_traceback():
    with installed() as cap:
        out = cap.begin()
        try:
            raise KeyError("missing")
        except KeyError:
            logging.getLogger("x").exception("failed")
        cap.end(out)
        (record,) = out.logs
        assert record["message"].startswith("failed\nTraceback")
        assert "KeyError: 'missing'" in record["message"]


def test_badly_formatted_log_message_does_not_break_the_job():
    with installed() as cap:
        handler = cap._handler
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%d items", ("not a number",), None)
        out = cap.begin()
        handler.emit(record)
        cap.end(out)
        assert out.logs[0]["message"].startswith("<log message could not be formatted:")


def test_logging_after_end_is_not_captured():
    with installed() as cap:
        out = cap.begin()
        cap.end(out)
        logging.getLogger("x").error("late")
        assert out.logs == []


def test_uninstall_restores_sys_stdout_and_stderr(capsys):
    before = (sys.stdout, sys.stderr)
    oc = OutputCapture(max_bytes=100, capture_fds=False)
    oc.install()
    assert isinstance(sys.stdout, RoutedStream) and isinstance(sys.stderr, RoutedStream)
    assert oc._handler in logging.getLogger().handlers
    oc.install()  # twice is harmless
    oc.uninstall()
    assert (sys.stdout, sys.stderr) == before
    assert oc._handler not in logging.getLogger().handlers
    oc.uninstall()  # twice is harmless
    assert (sys.stdout, sys.stderr) == before


def test_uninstall_leaves_a_stream_the_user_swapped_in(capsys):
    original_err = sys.stderr
    oc = OutputCapture(max_bytes=100, capture_fds=False)
    oc.install()
    mine = io.StringIO()
    sys.stdout = mine
    try:
        oc.uninstall()
        assert sys.stdout is mine
        assert sys.stderr is original_err
    finally:
        sys.stdout = sys.__stdout__


def test_begin_without_install_captures_nothing(capsys):
    oc = OutputCapture(max_bytes=100, capture_fds=False)
    out = oc.begin()
    print("free")
    assert oc.end(out) is out
    assert out.as_dict() == {"stdout": "", "stderr": "", "logs": []}
    assert capsys.readouterr().out == "free\n"


def test_routed_stream_without_console():
    stream = RoutedStream("<stdout>", None)
    assert stream.write("dropped") == len("dropped")
    stream.flush()
    assert stream.isatty() is False
    assert stream.encoding == "utf-8"
    with pytest.raises(io.UnsupportedOperation):
        stream.fileno()


def test_routed_stream_delegates_to_its_passthrough():
    target = io.StringIO()
    stream = RoutedStream("<stdout>", target)
    stream.write("abc")
    assert target.getvalue() == "abc"
    assert stream.writable() and not stream.isatty()


def test_buffer_counts_omitted_characters_across_writes():
    buf = capture._Buffer(5)
    assert buf.write("abc") == 3
    assert buf.write("defg") == 4
    assert buf.write("h") == 1
    assert buf.getvalue() == "abcde" + capture._TRUNCATION_NOTE.format(omitted=3)


# -- fd-level capture, in a subprocess ---------------------------------------------------------
FD_PRELUDE = """
import os, sys, threading, logging, ctypes, subprocess
from bld_remote_mcp.engine.capture import OutputCapture
oc = OutputCapture(max_bytes=1 << 20)
oc.install()
"""


def test_fd_writes_land_in_logs_as_blender_lines(run_py):
    res = run_py(FD_PRELUDE + """
out = oc.begin()
os.write(1, b"Info: from C on fd 1\\n\\n")
os.write(2, b"Error: from C on fd 2\\n")
print("python print")
oc.end(out)
os.write(1, b"after end\\n")
oc.uninstall()
emit(out.as_dict())
""")
    assert res.returncode == 0, res.stderr
    data = res.data
    assert data["stdout"] == "python print\n"
    assert data["logs"] == [
        {"source": "blender", "message": "Info: from C on fd 1"},
        {"source": "blender", "message": "Error: from C on fd 2"},
    ]
    assert res.output == "after end\n"
    assert "from C" not in res.stderr


def test_c_stdio_buffers_are_flushed_into_the_job(run_py):
    res = run_py(FD_PRELUDE + """
libc = ctypes.CDLL(None)
out = oc.begin()
libc.printf(b"c printf without flush\\n")
oc.end(out)
oc.uninstall()
emit(out.as_dict())
""")
    assert res.returncode == 0, res.stderr
    assert {"source": "blender", "message": "c printf without flush"} in res.data["logs"]
    assert "c printf" not in res.output


def test_child_processes_inheriting_fd_1_are_captured(run_py):
    res = run_py(FD_PRELUDE + """
out = oc.begin()
subprocess.run([sys.executable, "-c", "print('child says hi')"], check=True)
oc.end(out)
oc.uninstall()
emit(out.as_dict())
""")
    assert res.returncode == 0, res.stderr
    assert {"source": "blender", "message": "child says hi"} in res.data["logs"]


def test_python_prints_from_other_threads_reach_the_real_stdout_during_fd_capture(run_py):
    res = run_py(FD_PRELUDE + """
out = oc.begin()
t = threading.Thread(target=lambda: print("OTHER-THREAD-LINE"))
t.start(); t.join()
print("job line")
oc.end(out)
oc.uninstall()
emit(out.as_dict())
""")
    assert res.returncode == 0, res.stderr
    data = res.data
    assert data["stdout"] == "job line\n"
    assert all("OTHER-THREAD-LINE" not in r["message"] for r in data["logs"])
    assert "OTHER-THREAD-LINE" in res.output


def test_consecutive_jobs_do_not_see_each_others_fd_output(run_py):
    res = run_py(FD_PRELUDE + """
first = oc.begin(); os.write(1, b"one\\n"); oc.end(first)
second = oc.begin(); os.write(1, b"two\\n"); oc.end(second)
third = oc.begin(); oc.end(third)
oc.uninstall()
emit([first.logs, second.logs, third.logs])
""")
    assert res.returncode == 0, res.stderr
    first, second, third = res.data
    assert [r["message"] for r in first] == ["one"]
    assert [r["message"] for r in second] == ["two"]
    assert third == []


def test_uninstall_restores_streams_and_fds(run_py):
    res = run_py("""
import os, sys
from bld_remote_mcp.engine.capture import OutputCapture
before = (sys.stdout, sys.stderr)
fds_before = [os.fstat(1).st_ino, os.fstat(2).st_ino]
oc = OutputCapture(max_bytes=100)
oc.install()
out = oc.begin()
os.write(1, b"captured\\n")
oc.end(out)
oc.uninstall()
restored = (sys.stdout is before[0], sys.stderr is before[1])
print("PRINT-AFTER-UNINSTALL", flush=True)
emit({"restored": restored, "fds": [os.fstat(1).st_ino, os.fstat(2).st_ino] == fds_before,
      "logs": out.logs})
""")
    assert res.returncode == 0, res.stderr
    assert res.data["restored"] == [True, True]
    assert res.data["fds"] is True
    assert res.data["logs"] == [{"source": "blender", "message": "captured"}]
    assert res.output == "PRINT-AFTER-UNINSTALL\n"


def test_log_records_are_bounded_with_a_note():
    from bld_remote_mcp.engine.capture import JobOutput

    out = JobOutput(0, limit=200)
    for i in range(20):
        out.logs.append({"source": "logging", "level": "INFO", "logger": "x", "message": f"record {i}"})
    logs = out.as_dict()["logs"]
    kept = [r for r in logs if r["source"] == "logging"]
    assert 0 < len(kept) < 20
    assert logs[-1]["source"] == "bld-remote"
    assert f"{20 - len(kept)} more log records were omitted" in logs[-1]["message"]
