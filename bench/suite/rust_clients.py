"""The Rust side of the comparison: the tokio client (crates/bld-remote-client/examples/bench.rs),
MCP over stdio through rmcp's own client (crates/bld-remote/examples/bench_mcp.rs) and MCP over
Streamable HTTP through rmcp's HTTP client (crates/bld-remote/examples/bench_mcp_http.rs), run as
release binaries that scripts/bench.sh builds. They find the instance's token in its state dir."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The smoke test of the suite runs debug builds (BLD_BENCH_PROFILE=debug): it checks that every
# phase works, not the figures, and the test suite has those builds already.
PROFILE = os.environ.get("BLD_BENCH_PROFILE", "release")
BUILD_DIR = REPO / "target" / PROFILE
BLD_REMOTE = BUILD_DIR / "bld-remote"


def build():
    profile = ["--release"] if PROFILE == "release" else []
    subprocess.run(["cargo", "build", *profile, "--quiet", "-p", "bld-remote", "-p", "bld-remote-client",
                    "--bins", "--example", "bench", "--example", "bench_mcp", "--example", "bench_mcp_http", "--example", "bench_pool"], cwd=REPO, check=True)


def _run(cmd, state_dir, timeout=600):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    try:
        env = dict(os.environ, BLD_REMOTE_STATE_DIR=state_dir or tempfile.gettempdir())
        if "--" in cmd:  # options go before the server command line
            at = cmd.index("--")
            cmd = cmd[:at] + ["--out", path] + cmd[at:]
        else:
            cmd = cmd + ["--out", path]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr[-1500:]}")
        return json.loads(Path(path).read_text())
    finally:
        os.unlink(path)


def _latency_row(lat):
    """A latency row of the report from an example's `latency_ms` (milliseconds)."""
    return {"n": lat["calls"], "p50_ms": round(lat["p50"], 4), "p95_ms": round(lat["p95"], 4),
            "p99_ms": round(lat["p99"], 4)}


def client_bench(port, state_dir, calls=2000, clients=(), seconds=3.0):
    """Latency of the Rust client on one connection (and throughput for `clients`)."""
    report = _run([str(BUILD_DIR / "examples" / "bench"), "--port", str(port), "--calls", str(calls),
                   "--clients", ",".join(map(str, clients)), "--seconds", str(seconds)], state_dir)
    lat = report["latency_ms"]
    return dict(_latency_row(lat), max_ms=round(lat["max"], 4),
                connect_ms=report.get("connect_ms")), report.get("throughput", [])


def mcp_bench(port, state_dir, calls=1000, server=None):
    """MCP tools/call execute_code through rmcp's client over stdio: to `bld-remote mcp`, or to
    the `server` command line given (another bridge's MCP server, measured by the same client)."""
    cmd = [str(BUILD_DIR / "examples" / "bench_mcp"), "--bin", str(BLD_REMOTE), "--port", str(port),
           "--calls", str(calls)]
    report = _run(cmd + (["--"] + server if server else []), state_dir)
    return _latency_row(report["latency_ms"]), report.get("concurrent")


WARMUP_SAMPLES = 5  # RSS is sampled once a second during the mixed soak


def http_bench(port, state_dir, calls=1000, clients=50, seconds=60.0):
    """`bld-remote mcp --http` on loopback (started by the example, with a token of its own)
    through rmcp's Streamable HTTP client: latency, 5-client throughput, and a mixed soak of
    `clients` clients each with its own session handle, every reply checked for misrouting."""
    report = _run([str(BUILD_DIR / "examples" / "bench_mcp_http"), "--bin", str(BLD_REMOTE), "--port", str(port),
                   "--calls", str(calls), "--clients", str(clients), "--seconds", str(seconds)],
                  state_dir, timeout=600 + seconds)
    mixed = report["mixed"]
    rss = mixed["rss_mib"]
    return _latency_row(report["latency_ms"]), {
        "concurrent": {"clients": report["concurrent"]["clients"],
                       "calls_per_second": round(report["concurrent"]["calls_per_second"]),
                       "errors": report["concurrent"]["errors"]},
        "mixed": {"clients": mixed["clients"], "seconds": round(mixed["seconds"], 1),
                  "calls": mixed["calls"], "calls_per_second": round(mixed["calls_per_second"]),
                  "errors": mixed["errors"], "misrouted": mixed["misrouted"], "first_error": mixed["first_error"],
                  "rss_start_mib": round(rss["start"], 1), "rss_end_mib": round(rss["end"], 1),
                  "rss_peak_mib": round(rss["peak"], 1), "rss_samples": len(rss["samples"]),
                  # The first seconds are warm-up (every handle's exec connection and namespace,
                  # buffers at their working size); flat means flat after that.
                  "rss_after_warmup_mib": round(rss["samples"][min(WARMUP_SAMPLES, len(rss["samples"]) - 1)], 1),
                  "rss_every_10s_mib": [round(x, 1) for x in rss["samples"][::10]]},
        "rss_idle_mib": round(report["rss_mib"]["idle"], 1),
        "rss_with_sessions_mib": round(rss["with_sessions"], 1),
        "per_session_kib": round(mixed["per_session_kib"], 1),
        "exit_code": report["exit_code"],
    }


def pool_bench(quick=False):
    """`bld-remote mcp --pool N` through rmcp's client (crates/bld-remote/examples/bench_pool.rs):
    a warm worker's lease, a cold start, a CPU-bound snippet on 1..=4 workers, RSS of idle workers
    and of the server. The workers are this example's own headless Blenders."""
    cmd = [str(BUILD_DIR / "examples" / "bench_pool"), "--bin", str(BLD_REMOTE), "--max", "4",
           "--leases", "3" if quick else "20", "--colds", "1" if quick else "5", "--calls", "2" if quick else "8"]
    # A state dir of its own (mkdtemp: 0700, ours), for the workers' records and tokens: the
    # shared temp dir is refused as one (anyone may write there).
    state_dir = tempfile.mkdtemp(prefix="bench-pool-")
    try:
        return _run(cmd, state_dir, timeout=1800)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
