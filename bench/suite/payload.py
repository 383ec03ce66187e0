"""How cost grows with the size of what crosses the bridge: a result, a print, and the code.

Each case is timed end to end (request written to reply parsed) over a few repetitions, with
the peak memory each side needed for it: Blender's (its VmHWM high-water mark, reset before the
call) and the client's (this process, same method)."""

import json
import os
import time

from . import procs

KB, MB = 1000, 1000 * 1000
SIZES = {"1 KB": KB, "1 MB": MB, "50 MB": 50 * MB}
CODE_SIZES = {"1 KB": KB, "100 KB": 100 * KB, "1 MB": MB, "10 MB": 10 * MB}


def result_code(size, rep):
    return f"# {rep}\n_result = 'x' * {size}"


def stdout_code(size, rep):
    return f"# {rep}\nimport sys\nsys.stdout.write('x' * {size})"


def big_code(size, rep):
    """Code of `size` bytes: a string literal padding it out, then a small expression."""
    head, tail = f"# {rep}\ns = '", "'\nx = len(s)\n"
    return head + "a" * max(0, size - len(head) - len(tail)) + tail


def _reps(size):
    return 20 if size <= 100 * KB else 5 if size <= MB else 3


def _measure(conn, pid, code_for, size, check):
    times, blender_peaks, client_peaks = [], [], []
    for rep in range(_reps(size)):
        code = code_for(size, rep)
        raw = conn.encoded_execute(code)
        before_blender, before_client = procs.rss_mib(pid), procs.rss_mib(os.getpid())
        procs.reset_peak_rss(pid)
        procs.reset_peak_rss(os.getpid())
        start = time.perf_counter()
        reply = json.loads(conn.round_trip(raw))
        times.append(time.perf_counter() - start)
        blender_peaks.append(procs.peak_rss_mib(pid) - before_blender)
        client_peaks.append(procs.peak_rss_mib(os.getpid()) - before_client)
        check(reply, size)
        del reply, raw, code
    times.sort()
    return {"bytes": size, "reps": len(times), "median_s": round(times[len(times) // 2], 5),
            "max_s": round(times[-1], 5),
            "blender_peak_extra_mib": round(max(blender_peaks), 1),
            "client_peak_extra_mib": round(max(client_peaks), 1)}


def _v1_result_ok(reply, size):
    if reply.get("status") != "success" or len(reply["result"]) != size:
        raise RuntimeError(f"result of {size} bytes not returned whole: {str(reply)[:300]}")


def _v1_stdout_ok(reply, size):
    if reply.get("status") != "success" or len(reply["output"]["stdout"]) != size:
        raise RuntimeError(f"stdout of {size} bytes not returned whole: {str(reply)[:300]}")


def _v1_ok(reply, size):
    if reply.get("status") != "success":
        raise RuntimeError(f"code of {size} bytes failed: {str(reply)[:300]}")


def _legacy_stdout_ok(reply, size):
    if reply.get("status") != "success" or len(reply["result"]["result"]) < size:
        raise RuntimeError(f"stdout of {size} bytes not returned whole: {str(reply)[:300]}")


def _legacy_ok(reply, size):
    if reply.get("status") != "success":
        raise RuntimeError(f"code of {size} bytes failed: {str(reply)[:300]}")


def _guarded(fn, *args):
    """A case the bridge cannot do is a finding, not a crash of the benchmark."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - recorded in the report
        return {"bytes": args[3], "error": f"{type(exc).__name__}: {exc}"[:300]}


def _case(open_conn, pid, code_for, size, check):
    conn = open_conn()  # a fresh connection per case: one that failed cannot spoil the next
    try:
        return _measure(conn, pid, code_for, size, check)
    finally:
        conn.close()


def scaling(open_conn, pid, protocol, sizes=SIZES, code_sizes=CODE_SIZES):
    """Every case, each on a connection from `open_conn()`. 1.3.3 has no returned result
    (`_result` is read but never returned), so its result row is left out."""
    out = {"result": {}, "stdout": {}, "code": {}}
    if protocol == "v1":
        checks = {"result": (result_code, _v1_result_ok), "stdout": (stdout_code, _v1_stdout_ok),
                  "code": (big_code, _v1_ok)}
    else:
        checks = {"stdout": (stdout_code, _legacy_stdout_ok), "code": (big_code, _legacy_ok)}
        del out["result"]
    for kind, (code_for, check) in checks.items():
        for label, size in (code_sizes if kind == "code" else sizes).items():
            out[kind][label] = _guarded(_case, open_conn, pid, code_for, size, check)
    return out
