"""Run the benchmark suite: bld-remote beside blender-remote 1.3.3, in one run, on one Blender.

    .venv/bin/python -m bench.suite [--quick] [--out-dir DIR] [--no-gui]

(scripts/bench.sh builds the release binaries and installs the plotting library first.)
Writes <out-dir>/results.json, <out-dir>/benchmarks.md and its PNG plots; by default the out
dir is bench/results/<time>/ and --publish also copies the report and plots to docs/."""

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import blenders, latency, load, payload, procs, replies, report, rust_clients, strangers, workloads
from .wire import connect

REPO = Path(__file__).resolve().parents[2]
GUI_SETTLE = 1.0  # seconds for the GUI's viewport redraw after each change (workloads.run)


class Plan:
    """How much of each measurement a run does: the full run, or --quick (a smoke run that
    exercises every phase in about two minutes, for the test suite)."""

    def __init__(self, quick):
        self.quick = quick
        self.calls = 100 if quick else 2000           # our round trips per latency row
        self.legacy_calls = 20 if quick else 200       # 1.3.3 round trips (50 ms each)
        self.mcp_calls = 50 if quick else 1000
        self.http_clients = 50                          # the soak: 50 clients, own handles
        self.http_seconds = 2.0 if quick else 60.0
        self.legacy_mcp_calls = 10 if quick else 100
        self.gui_calls = 50 if quick else 500
        self.clients = (1, 5) if quick else (1, 5, 20, 50)
        self.load_seconds = 1.0 if quick else 5.0
        self.sizes = {"1 KB": payload.KB, "1 MB": payload.MB} if quick else payload.SIZES
        self.code_sizes = {"1 KB": payload.KB, "1 MB": payload.MB} if quick else payload.CODE_SIZES
        self.workloads = [(n, s, c, t, 1) for n, s, c, t, _ in workloads.WORKLOADS] if quick else workloads.WORKLOADS


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine_facts():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as info:
        mem_kib = int(info.readline().split()[1])
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def versions():
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    from importlib.metadata import version

    return {"blender": blenders.blender_version_string(), "bld_remote_commit": sha or "unknown",
            "blender_remote": blenders.their_version(), "mcp_python_sdk": version("mcp")}


def _realistic_work(protocol, port, token, plan, settle=0.0):
    conn = connect(protocol, port, token)
    try:
        return workloads.run(conn, protocol, plan.workloads, settle=settle)
    finally:
        conn.close()


def measure_ours_background(plan, results):
    ours = blenders.OurBlender("bg")
    try:
        procs.wait_quiet(2.0)
        results["memory"]["ours_idle_mib"] = procs.rss_mib(ours.pid)
        lat = results["latency"]["background"]
        log("ours: raw TCP v1 latency")
        lat["bld-remote · raw TCP (v1)"] = latency.socket_latency("v1", ours.port, ours.token, plan.calls)
        log("ours: Rust client latency")
        lat["bld-remote · Rust client"], _ = rust_clients.client_bench(ours.port, ours.state_dir, plan.calls)
        results["authentication"]["rust_client_connect"] = lat["bld-remote · Rust client"].pop("connect_ms")
        log("ours: MCP (rmcp client) latency")
        lat["bld-remote · MCP stdio (rmcp client)"], results["mcp_stdio_concurrent"] = rust_clients.mcp_bench(
            ours.port, ours.state_dir, plan.mcp_calls)
        log(f"ours: MCP over HTTP (rmcp client): latency, 5 clients, {plan.http_clients} clients mixed "
            f"for {plan.http_seconds:.0f} s")
        lat["bld-remote · MCP HTTP (rmcp client)"], results["http"] = rust_clients.http_bench(
            ours.port, ours.state_dir, plan.mcp_calls, plan.http_clients, plan.http_seconds)
        log("ours: MCP (Python SDK client) latency")
        lat["bld-remote · MCP stdio (Python SDK)"] = latency.mcp_latency(
            str(rust_clients.BLD_REMOTE), ["mcp", "--port", str(ours.port)],
            env={"BLD_REMOTE_STATE_DIR": ours.state_dir}, count=plan.mcp_calls)
        lat["bld-remote · MCP ping, no Blender call (Python SDK)"] = latency.mcp_latency(
            str(rust_clients.BLD_REMOTE), ["mcp", "--port", str(ours.port)],
            env={"BLD_REMOTE_STATE_DIR": ours.state_dir}, count=plan.mcp_calls, ping=True)
        for clients in plan.clients:
            log(f"ours: {clients} concurrent clients")
            results["concurrency"]["bld-remote"].append(
                load.concurrent("v1", ours.port, clients, ours.token, plan.load_seconds, ours.pid))
        results["memory"]["ours_under_load_mib"] = results["concurrency"]["bld-remote"][-1].get("server_peak_rss_mib")
        log("ours: payload scaling")
        results["payload"]["bld-remote"] = payload.scaling(
            lambda: connect("v1", ours.port, ours.token), ours.pid, "v1", plan.sizes, plan.code_sizes)
        log("ours: realistic work")
        results["workloads"]["bld-remote"] = _realistic_work("v1", ours.port, ours.token, plan)
        log("ours: the size of what an agent receives")
        results["reply_sizes"] = replies.reply_sizes(rust_clients.BLD_REMOTE, ours.port, ours.state_dir)
        log("ours: opening a connection (the handshake)")
        results["authentication"]["connection_setup"] = strangers.connection_setup(
            ours.port, ours.token, count=30 if plan.quick else 300)
        log("ours: an authenticated client while two strangers flood the port")
        results["authentication"]["preauth_flood"] = strangers.preauth_flood(
            ours.port, ours.token, seconds=1.0 if plan.quick else 5.0, calls=plan.calls)
    finally:
        ours.stop()


def measure_ours_legacy_path(plan, results):
    """Our addon with auth off, spoken to in the 1.3.3 format by 1.3.3's own clients."""
    ours = blenders.OurBlender("bg", auth=False)
    try:
        lat = results["latency"]["background"]
        log("ours, 1.3.3 path: raw TCP")
        lat["bld-remote · raw TCP (1.3.3 format)"] = latency.socket_latency("legacy", ours.port, None, plan.calls)
        log("ours, 1.3.3 path: their Python API")
        lat["bld-remote · 1.3.3 Python API"] = latency.legacy_api_latency(ours.port, plan.legacy_calls)
        log("ours, 1.3.3 path: their MCP server")
        lat["bld-remote · 1.3.3 MCP server (Python SDK)"] = latency.mcp_latency(
            sys.executable, ["-m", "blender_remote.mcp_server", "--blender-port", str(ours.port)],
            count=plan.legacy_mcp_calls)
    finally:
        ours.stop()


def measure_theirs_background(plan, results, log_dir):
    theirs = blenders.TheirBlender("bg", log_dir)
    try:
        procs.wait_quiet(2.0)
        results["memory"]["theirs_idle_mib"] = procs.rss_mib(theirs.pid)
        lat = results["latency"]["background"]
        log("theirs: raw TCP latency")
        lat["blender-remote 1.3.3 · raw TCP"] = latency.socket_latency(
            "legacy", theirs.port, None, plan.legacy_calls, warmup=10)
        log("theirs: Python API latency")
        lat["blender-remote 1.3.3 · Python API"] = latency.legacy_api_latency(theirs.port, plan.legacy_calls)
        log("theirs: MCP server latency (rmcp client)")
        lat["blender-remote 1.3.3 · MCP stdio (rmcp client)"], _ = rust_clients.mcp_bench(
            theirs.port, None, plan.legacy_mcp_calls,
            server=[sys.executable, "-m", "blender_remote.mcp_server", "--blender-port", str(theirs.port)])
        log("theirs: MCP server latency (Python SDK)")
        lat["blender-remote 1.3.3 · MCP stdio (Python SDK)"] = latency.mcp_latency(
            sys.executable, ["-m", "blender_remote.mcp_server", "--blender-port", str(theirs.port)],
            count=plan.legacy_mcp_calls, warmup=5)
        for clients in plan.clients:
            log(f"theirs: {clients} concurrent clients")
            results["concurrency"]["blender-remote 1.3.3"].append(
                load.concurrent("legacy", theirs.port, clients, None, plan.load_seconds, theirs.pid))
        results["memory"]["theirs_under_load_mib"] = results["concurrency"]["blender-remote 1.3.3"][-1].get(
            "server_peak_rss_mib")
        log("theirs: payload scaling")
        results["payload"]["blender-remote 1.3.3"] = payload.scaling(
            lambda: connect("legacy", theirs.port), theirs.pid, "legacy", plan.sizes, plan.code_sizes)
        log("theirs: realistic work")
        results["workloads"]["blender-remote 1.3.3"] = _realistic_work("legacy", theirs.port, None, plan)
    finally:
        theirs.stop()


def measure_gui(plan, results, log_dir):
    lat = results["latency"]["gui"]
    ours = blenders.OurBlender("gui")
    try:
        conn = connect("v1", ours.port, ours.token)
        for _ in range(30):  # let the first redraws and shader compiles pass
            conn.execute("x = 1")
        conn.close()
        log("ours GUI: raw TCP, Rust client, MCP")
        lat["bld-remote · raw TCP (v1)"] = latency.socket_latency("v1", ours.port, ours.token, plan.gui_calls, 20)
        lat["bld-remote · Rust client"], _ = rust_clients.client_bench(ours.port, ours.state_dir, plan.gui_calls)
        lat["bld-remote · MCP stdio (rmcp client)"], _ = rust_clients.mcp_bench(ours.port, ours.state_dir, plan.gui_calls)
        log("ours GUI: realistic work")
        results["workloads_gui"]["bld-remote"] = _realistic_work("v1", ours.port, ours.token, plan, GUI_SETTLE)
    finally:
        ours.stop()
    theirs = blenders.TheirBlender("gui", log_dir)
    try:
        log("theirs GUI: raw TCP")
        lat["blender-remote 1.3.3 · raw TCP"] = latency.socket_latency(
            "legacy", theirs.port, None, plan.legacy_calls, warmup=10)
        log("theirs GUI: realistic work")
        results["workloads_gui"]["blender-remote 1.3.3"] = _realistic_work("legacy", theirs.port, None, plan,
                                                                            GUI_SETTLE)
    finally:
        theirs.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run of every phase")
    parser.add_argument("--no-gui", action="store_true", help="skip the GUI Blenders (no Xvfb)")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as built")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--publish", action="store_true", help="also write docs/benchmarks.md and its plots")
    args = parser.parse_args(argv)
    os.environ.pop("BLD_COVERAGE", None)  # measure the product, not a tracer
    out_dir = args.out_dir or REPO / "bench" / "results" / time.strftime("suite-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = Plan(args.quick)
    if not args.no_build:
        log("building release binaries")
        rust_clients.build()
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": plan.quick, "machine": machine_facts(),
        "versions": versions(), "latency": {"background": {}, "gui": {}},
        "concurrency": {"bld-remote": [], "blender-remote 1.3.3": []}, "payload": {}, "workloads": {}, "workloads_gui": {},
        "memory": {}, "authentication": {},
    }
    log("idle Blender without an addon")
    results["memory"]["bare_idle_mib"] = blenders.bare_idle_rss_mib()
    log("the addon's own RSS, measured inside one Blender")
    overhead, runs = blenders.addon_overhead_mib(runs=1 if plan.quick else 5)
    results["memory"]["ours_overhead_mib"], results["memory"]["ours_overhead_runs_mib"] = overhead, runs
    started = time.monotonic()
    measure_ours_background(plan, results)
    measure_ours_legacy_path(plan, results)
    log("ours: the pool of headless Blenders (--pool): warm lease, cold start, 1..4 workers, RSS")
    results["pool"] = rust_clients.pool_bench(plan.quick)
    measure_theirs_background(plan, results, out_dir / "logs")
    if not args.no_gui:
        measure_gui(plan, results, out_dir / "logs")
    results["seconds"] = round(time.monotonic() - started, 1)
    results["blender_pids"] = list(blenders.STARTED_PIDS)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    report.write(results, out_dir)
    print(report.summary(results))
    log(f"written to {out_dir}")
    if args.publish:
        docs = REPO / "docs"
        shutil.copy(out_dir / "benchmarks.md", docs / "benchmarks.md")
        shutil.copytree(out_dir / "benchmarks", docs / "benchmarks", dirs_exist_ok=True)
        shutil.copy(out_dir / "results.json", docs / "benchmarks" / "results.json")
        log("published to docs/benchmarks.md and docs/benchmarks/")
    return 0


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    sys.exit(main())
