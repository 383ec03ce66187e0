"""The benchmark suite, run whole in its quick mode against real Blenders: ours (background,
the 1.3.3-compatible path, GUI under Xvfb) and blender-remote 1.3.3's own addon and MCP server
from PyPI. It checks that every phase produced figures of calls that succeeded, not how fast
they were (speed is the benchmark's business, read from its report)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # Debug builds: the test suite has them already; the figures are not the point here.
    subprocess.run(["cargo", "build", "--quiet", "-p", "bld-remote", "-p", "bld-remote-client", "--bins",
                    "--example", "bench", "--example", "bench_mcp", "--example", "bench_mcp_http",
                    "--example", "bench_pool"],
                   cwd=REPO, check=True, timeout=900)
    env = dict(os.environ, BLD_BENCH_PROFILE="debug")
    done = subprocess.run([sys.executable, "-m", "bench.suite", "--quick", "--no-build", "--out-dir", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text()), done.stdout


def test_every_latency_path_of_both_bridges_was_measured(quick_run):
    _out, results, _stdout = quick_run
    background = results["latency"]["background"]
    assert set(background) == {
        "bld-remote · raw TCP (v1)", "bld-remote · Rust client", "bld-remote · MCP stdio (rmcp client)",
        "bld-remote · MCP stdio (Python SDK)", "bld-remote · MCP ping, no Blender call (Python SDK)",
        "bld-remote · MCP HTTP (rmcp client)", "bld-remote · raw TCP (1.3.3 format)",
        "bld-remote · 1.3.3 Python API", "bld-remote · 1.3.3 MCP server (Python SDK)",
        "blender-remote 1.3.3 · raw TCP", "blender-remote 1.3.3 · Python API",
        "blender-remote 1.3.3 · MCP stdio (Python SDK)", "blender-remote 1.3.3 · MCP stdio (rmcp client)",
    }
    assert set(results["latency"]["gui"]) == {
        "bld-remote · raw TCP (v1)", "bld-remote · Rust client", "bld-remote · MCP stdio (rmcp client)",
        "blender-remote 1.3.3 · raw TCP",
    }
    for rows in results["latency"].values():
        for path, row in rows.items():
            assert row["n"] >= 10 and 0 < row["p50_ms"] <= row["p99_ms"], path
    # Our MCP server writes nothing but protocol on stdout.
    assert background["bld-remote · MCP stdio (Python SDK)"]["stray_stdout_lines"] == 0


def test_concurrent_clients_got_every_reply_from_both_bridges(quick_run):
    _out, results, _stdout = quick_run
    for bridge, runs in results["concurrency"].items():
        assert [r["clients"] for r in runs] == [1, 5], bridge
        for run in runs:
            assert run["errors"] == 0 and run["requests"] > 0, (bridge, run)


def test_payload_work_and_memory_rows_are_complete(quick_run):
    _out, results, _stdout = quick_run
    ours = results["payload"]["bld-remote"]
    assert set(ours) == {"result", "stdout", "code"}
    for kind, cases in ours.items():
        for label, case in cases.items():
            assert "error" not in case and isinstance(case["median_s"], float), (kind, label, case)
    assert set(results["payload"]["blender-remote 1.3.3"]) == {"stdout", "code"}
    assert set(results["workloads_gui"]) == {"bld-remote", "blender-remote 1.3.3"}
    for bridge, cases in list(results["workloads"].items()) + list(results["workloads_gui"].items()):
        assert set(cases) == {"render 256x256 Workbench", "create 1,000 objects", "modify a 100k-vertex mesh"}
        for name, case in cases.items():
            assert "error" not in case, (bridge, name, case)
            assert all(isinstance(case[k], float) for k in ("end_to_end_s", "inside_s")), (bridge, name, case)
    # Measured figures go in the report; a test only checks that each row is there and a number
    # (an overhead read as the difference of two noisy readings may even come out negative).
    memory = results["memory"]
    for key in ("bare_idle_mib", "ours_idle_mib", "theirs_idle_mib", "ours_under_load_mib",
                "theirs_under_load_mib", "ours_overhead_mib"):
        assert isinstance(memory[key], (int, float)), (key, memory)
    assert len(memory["ours_overhead_runs_mib"]) == 1


def test_reply_sizes_are_within_the_budget(quick_run):
    """Sizes are what the server sends, deterministic: held to the budget of issue 14."""
    _out, results, _stdout = quick_run
    sizes = results["reply_sizes"]
    assert len(sizes) == 8
    assert sizes["tools/list"]["structured_chars"] < 8000
    for name, row in sizes.items():
        assert row["text_chars"] < 9000 and row["structured_chars"] < 20000, (name, row)


def test_http_rows_are_complete_and_every_reply_went_to_its_client(quick_run):
    _out, results, stdout = quick_run
    http = results["http"]
    mixed = http["mixed"]
    # 50 clients, each with its own handle: every reply checked against its own number.
    assert mixed["clients"] == 50 and mixed["calls"] > 0, mixed
    assert mixed["errors"] == 0 and mixed["misrouted"] == 0, mixed
    assert mixed["first_error"] is None and mixed["rss_samples"] >= 1, mixed
    assert http["concurrent"]["clients"] == 5 and http["concurrent"]["errors"] == 0, http
    for key in ("rss_idle_mib", "rss_with_sessions_mib", "per_session_kib"):
        assert isinstance(http[key], (int, float)), key
    for key in ("rss_start_mib", "rss_after_warmup_mib", "rss_end_mib", "rss_peak_mib", "calls_per_second"):
        assert isinstance(mixed[key], (int, float)), key
    assert http["exit_code"] == 0  # SIGTERM: drained and exited cleanly
    assert results["mcp_stdio_concurrent"]["clients"] == 5 and results["mcp_stdio_concurrent"]["errors"] == 0
    assert "MCP HTTP 5 clients" in stdout and "misrouted" in stdout


def test_authentication_rows_are_complete(quick_run):
    _out, results, stdout = quick_run
    auth = results["authentication"]
    assert set(auth["connection_setup"]) == {"connect + handshake (hello with nonce, authenticate)",
                                             "connect + one plain hello (the old setup's round trip)"}
    assert all(row["n"] == 30 for row in auth["connection_setup"].values())
    flood = auth["preauth_flood"]
    assert flood["strangers"] == 2 and flood["stranger_connections"] > 0, flood
    assert flood["idle"]["n"] == 100 and flood["under_flood"]["n"] > 0, flood
    assert "strangers flooding" in stdout


def test_report_and_plots_are_written_and_targets_printed(quick_run):
    out, results, stdout = quick_run
    text = (out / "benchmarks.md").read_text()
    assert "QUICK smoke run" in text and results["versions"]["blender"] in text
    for png in ("latency", "concurrency", "payload", "workloads", "memory"):
        data = (out / "benchmarks" / f"{png}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    assert "targets:" in stdout and "background trivial call p50 < 0.5 ms (raw TCP)" in stdout
    assert "## MCP over Streamable HTTP" in text and "misrouted replies" in text


def test_pool_rows_are_complete_and_no_worker_outlives_its_server(quick_run):
    _out, results, stdout = quick_run
    pool = results["pool"]
    for key in ("warm_lease_first_call", "cold_start_first_call", "kill_to_error"):
        assert pool[key]["samples_ms"] and isinstance(pool[key]["median_ms"], (int, float)), key
    assert [row["workers"] for row in pool["cpu_bound_scaling"]] == [1, 2, 3, 4]
    assert all(row["calls_per_s"] > 0 for row in pool["cpu_bound_scaling"]), pool["cpu_bound_scaling"]
    memory = pool["memory"]
    assert len(memory["worker_rss_mib"]) == 4 and len(memory["worker_pids"]) == 4, memory
    assert isinstance(memory["server_rss_mib"], (int, float)), memory
    for pid in memory["worker_pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "pool: warm lease" in stdout


def test_no_blender_is_left_running(quick_run):
    _out, results, _stdout = quick_run
    # bare, the in-process overhead probe, ours bg, ours 1.3.3 path, theirs bg, ours GUI, theirs GUI
    assert len(results["blender_pids"]) == 7
    for pid in results["blender_pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
