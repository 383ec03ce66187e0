"""The benchmark suite's pure parts: statistics, the code it sends, the targets and the report.

The suite itself runs against real Blenders in tests/e2e/test_bench_suite.py."""

import copy
import struct
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.suite import payload, report, stats  # noqa: E402


def test_percentiles_are_nearest_rank_of_sorted_samples():
    samples = list(range(1, 101))  # 1..100 ms
    summary = stats.summarize(reversed(samples))
    assert summary["n"] == 100
    assert summary["p50_ms"] == 51 and summary["p95_ms"] == 95 and summary["p99_ms"] == 99
    assert summary["max_ms"] == 100 and summary["mean_ms"] == 50.5
    assert stats.summarize([7.0])["p99_ms"] == 7.0
    with pytest.raises(ValueError):
        stats.percentile([], 0.5)


def test_ratio_is_none_when_a_figure_is_missing():
    assert stats.ratio(50.0, 0.25) == 200.0
    assert stats.ratio(None, 0.25) is None and stats.ratio(50.0, 0) is None


@pytest.mark.parametrize("size", [1000, 100_000, 1_000_000])
def test_big_code_has_the_asked_size_and_runs(size):
    code = payload.big_code(size, rep=3)
    assert len(code.encode()) == size
    namespace = {}
    exec(compile(code, "<bench>", "exec"), namespace)
    assert namespace["x"] == len(namespace["s"]) > size - 40
    assert payload.big_code(size, 4) != code  # each repetition compiles afresh (no source cache hit)


def test_result_and_stdout_code_produce_the_sizes(capsys):
    namespace = {}
    exec(payload.result_code(12345, 0), namespace)
    assert len(namespace["_result"]) == 12345
    exec(payload.stdout_code(4321, 0), {})
    assert len(capsys.readouterr().out) == 4321


def _results():
    """A complete results.json shape with figures that meet every target."""
    lat = {"n": 100, "p50_ms": 0.2, "p95_ms": 0.3, "p99_ms": 0.4, "mean_ms": 0.2, "max_ms": 0.9}
    slow = dict(lat, p50_ms=50.0, p95_ms=51.0, p99_ms=52.0)
    case = {"bytes": 1000, "reps": 3, "median_s": 0.001, "max_s": 0.002, "blender_peak_extra_mib": 0.0,
            "client_peak_extra_mib": 0.0}
    work = {"reps": 5, "end_to_end_s": 0.016, "inside_s": 0.011, "bridge_ms": 5.0, "bridge_share": 0.31}
    return {
        "date": "2026-11-28 12:00:00 UTC", "quick": False, "seconds": 600.0,
        "machine": {"cpu": "test cpu", "cpus": 2, "memory_gib": 24.0, "kernel": "6.1", "python": "3.11.7"},
        "versions": {"blender": "Blender 3.4.1", "bld_remote_commit": "abc1234", "blender_remote": "1.3.3",
                     "mcp_python_sdk": "1.0"},
        "latency": {
            "background": {report.OUR_TCP: dict(lat), report.OUR_MCP: dict(lat, p50_ms=0.5), report.OUR_MCP_PY: dict(lat),
                           report.OUR_MCP_HTTP: dict(lat, p50_ms=0.6),
                           report.THEIR_TCP: slow, report.THEIR_MCP: slow, report.THEIR_MCP_RMCP: dict(slow)},
            "gui": {report.OUR_TCP: dict(lat, p50_ms=5.2), report.THEIR_TCP: dict(slow, p50_ms=10.0)},
        },
        "concurrency": {
            report.OURS: [{"clients": c, "seconds": 5, "requests": 20000, "errors": 0, "req_per_s": 4000.0,
                           "p50_ms": 0.3, "p99_ms": 1.0} for c in (1, 5, 20, 50)],
            report.THEIRS: [{"clients": c, "seconds": 5, "requests": 100 * c, "errors": 0, "req_per_s": 20.0 * c,
                             "p50_ms": 50.0, "p99_ms": 51.0} for c in (1, 5, 20, 50)],
        },
        "payload": {
            report.OURS: {"result": {"1 KB": case, "50 MB": dict(case, bytes=50_000_000, median_s=0.4, max_s=0.5)},
                          "stdout": {"1 KB": case}, "code": {"1 KB": case}},
            report.THEIRS: {"stdout": {"1 KB": dict(case, median_s=0.05)},
                            "code": {"1 KB": {"bytes": 1000, "error": "TimeoutError: timed out"}}},
        },
        "workloads": {report.OURS: {"create 1,000 objects": work},
                      report.THEIRS: {"create 1,000 objects": dict(work, bridge_ms=50.0),
                                      "render": {"error": "RuntimeError: workload failed"}}},
        "workloads_gui": {report.OURS: {"create 1,000 objects": dict(work, bridge_ms=6.0)}},
        "memory": {"bare_idle_mib": 226.0, "ours_idle_mib": 230.0, "theirs_idle_mib": 229.0,
                   "ours_overhead_mib": 4.5, "ours_overhead_runs_mib": [4.1, 4.5, 5.0],
                   "ours_under_load_mib": 231.0, "theirs_under_load_mib": 230.0},
        "mcp_stdio_concurrent": {"clients": 5, "calls_per_second": 3000.4, "errors": 0},
        "http": {"concurrent": {"clients": 5, "calls_per_second": 2500, "errors": 0},
                 "mixed": {"clients": 50, "seconds": 60.0, "calls": 120000, "calls_per_second": 2000, "errors": 0,
                           "misrouted": 0, "first_error": None, "rss_start_mib": 20.0, "rss_end_mib": 20.5,
                           "rss_peak_mib": 21.0, "rss_samples": 60,
                           "rss_after_warmup_mib": 20.4, "rss_every_10s_mib": [20.0, 20.4, 20.5]},
                 "rss_idle_mib": 12.0, "rss_with_sessions_mib": 14.0, "per_session_kib": 41.0, "exit_code": 0},
        "pool": {"warm_lease_first_call": {"median_ms": 3.1, "samples_ms": [3.0, 3.1, 3.4]},
                 "cold_start_first_call": {"median_ms": 1100.0, "samples_ms": [1100.0]},
                 "kill_to_error": {"median_ms": 16.0, "samples_ms": [16.0]},
                 "cpu_bound_scaling": [{"workers": w, "calls_per_s": 8.0 * min(w, 2), "speedup": float(min(w, 2))}
                                       for w in (1, 2, 3, 4)],
                 "memory": {"worker_rss_mib": [230.1, 231.5], "server_rss_mib": 9.5},
                 "cpu_bound_snippet": "s = 0\nfor i in range(1_500_000): s += i * i\ns", "calls_per_session": 8},
    }


def test_targets_met_and_missed():
    good = _results()
    assert all(met for _what, _measured, met in report.targets(good))
    bad = copy.deepcopy(good)
    bad["latency"]["background"][report.OUR_TCP]["p50_ms"] = 0.9  # slower, and only 55x faster than 1.3.3
    bad["latency"]["background"][report.OUR_MCP]["p50_ms"] = 0.6  # under 2 ms, but only 83x
    bad["concurrency"][report.OURS][-1]["errors"] = 3
    bad["payload"][report.OURS]["result"]["50 MB"]["max_s"] = 1.2
    bad["memory"]["ours_overhead_mib"] = 12.0
    bad["latency"]["background"][report.OUR_MCP_HTTP]["p50_ms"] = 1.2
    bad["http"]["mixed"]["misrouted"] = 1
    bad["pool"]["warm_lease_first_call"]["median_ms"] = 60.0
    bad["pool"]["cold_start_first_call"]["median_ms"] = 1600.0
    bad["pool"]["kill_to_error"]["median_ms"] = 1200.0
    missed = {what for what, _measured, met in report.targets(bad) if not met}
    assert missed == {
        "background trivial call p50 < 0.5 ms (raw TCP)",
        "≥ 100x lower p50 than blender-remote 1.3.3 (raw TCP, same run)",
        "≥ 100x lower p50 than blender-remote 1.3.3 (MCP stdio, same rmcp client)",
        "50 concurrent clients, zero errors",
        "50 MB result end to end < 1 s",
        "idle addon overhead < 10 MB RSS (measured inside one Blender)",
        "background trivial call p50 < 1 ms (MCP Streamable HTTP on loopback, rmcp client)",
        "50 HTTP clients with their own session handles, mixed calls: 0 errors, 0 misrouted",
        "pool: a new session's first call on a warm worker < 50 ms (median)",
        "pool: first call with no worker started (cold start) < 1.5 s (median)",
        "pool: the call of a SIGKILLed worker fails < 1 s after the kill (median)",
    }


def test_a_quick_run_without_the_big_cases_misses_those_targets_instead_of_passing_them():
    quick = _results()
    quick["concurrency"][report.OURS] = quick["concurrency"][report.OURS][:2]
    del quick["payload"][report.OURS]["result"]["50 MB"]
    rows = {what: (measured, met) for what, measured, met in report.targets(quick)}
    assert rows["50 concurrent clients, zero errors"] == ("not run", False)
    assert rows["50 MB result end to end < 1 s"] == ("not run", False)
    del quick["http"]
    rows = {what: (measured, met) for what, measured, met in report.targets(quick)}
    assert rows["50 HTTP clients with their own session handles, mixed calls: 0 errors, 0 misrouted"] == (
        "not run", False)
    del quick["pool"]
    rows = {what: (measured, met) for what, measured, met in report.targets(quick)}
    assert rows["pool: a new session's first call on a warm worker < 50 ms (median)"] == ("not run", False)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_writes_markdown_and_distinct_plots(tmp_path):
    results = _results()
    report.write(results, tmp_path)
    text = (tmp_path / "benchmarks.md").read_text()
    for heading in ("## Targets", "## Trivial round trip", "## Concurrent clients", "## Payload scaling",
                    "## Realistic work", "## Memory", "## MCP over Streamable HTTP"):
        assert heading in text
    # HTTP beside stdio, and the soak's counts and memory as measured.
    assert "| trivial call p50 ms (1 client) | 0.5 | 0.6 |" in text
    assert "| 5 clients, `x = 1`, calls/s | 3000 | 2500 |" in text
    assert "| misrouted replies | 0 |" in text and "| 20.0 → 20.4 → 20.5 (21.0) |" in text
    # The pool: lease, cold start, the scaling rows and memory as measured.
    assert "## A pool of headless Blenders" in text
    assert "| warm lease + first call | 3.1 | 3 |" in text and "| 2 | 16.0 | 2.0 |" in text
    assert "| each idle worker (RSS) | 230.1, 231.5 |" in text
    assert "Blender 3.4.1" in text and "abc1234" in text and "2026-11-28" in text
    assert "failed: TimeoutError: timed out" in text and "failed: RuntimeError: workload failed" in text
    pngs = sorted((tmp_path / report.PLOTS).glob("*.png"))
    assert [p.name for p in pngs] == ["concurrency.png", "latency.png", "memory.png", "payload.png",
                                      "workloads.png"]
    for png in pngs:
        width, height = _png_size(png)
        assert width > 300 and height > 200
        assert f"]({report.PLOTS}/{png.name})" in text
    assert len({p.read_bytes() for p in pngs}) == len(pngs)
    summary = report.summary(results)
    assert "[met] background trivial call p50 < 0.5 ms (raw TCP): 0.2 ms" in summary
