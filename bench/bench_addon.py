#!/usr/bin/env python3
"""Benchmark of the addon (not a test): latency, throughput and memory against real Blender.

Measures, on this machine, in one run:
* p50/p95/p99 of a trivial ``execute_code`` round trip over one persistent connection, for a
  background Blender (keep-alive loop) and a GUI Blender under Xvfb (timer);
* throughput and p99 with 5 and 50 concurrent clients (background), counting errors;
* RSS of an idle background Blender without the addon, and with the addon serving.

Prints a table and writes JSON to bench/results/ (or --out). Run: .venv/bin/python bench/bench_addon.py
"""

import argparse
import json
import multiprocessing
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import Instance, blender_binary  # noqa: E402

TRIVIAL = b'{"id":1,"type":"execute_code","params":{"code":"x = 1"}}\n'


def _connect(port):
    """A connection, authenticated with the token the benchmark gave its Blenders (auth is
    per connection, so it costs nothing per request)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    token = os.environ["BLD_REMOTE_MCP_TOKEN"]
    sock.sendall(json.dumps({"id": 0, "type": "hello", "token": token}).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        buf += sock.recv(65536)
    if b'"authenticated":true' not in buf:
        raise ConnectionError(f"authentication failed: {buf[:200]!r}")
    return sock


def _round_trip(sock, buf):
    sock.sendall(TRIVIAL)
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    return line, rest


def percentiles(samples_ms):
    ordered = sorted(samples_ms)

    def pick(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50), 4),
        "p95_ms": round(pick(0.95), 4),
        "p99_ms": round(pick(0.99), 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
        "max_ms": round(ordered[-1], 4),
    }


def latency(port, count, warmup=200):
    sock = _connect(port)
    buf = b""
    for _ in range(warmup):
        _line, buf = _round_trip(sock, buf)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        line, buf = _round_trip(sock, buf)
        samples.append((time.perf_counter() - start) * 1000)
        if b'"status":"success"' not in line:
            raise RuntimeError(f"unexpected reply: {line[:200]!r}")
    sock.close()
    return percentiles(samples)


def _client_process(port, threads, seconds, queue):
    """One OS process running ``threads`` clients (the client side must not be the bottleneck)."""
    results = []
    lock = threading.Lock()
    start_at = time.monotonic() + 0.5

    def worker():
        ok = errors = 0
        samples = []
        try:
            sock = _connect(port)
        except OSError:
            with lock:
                results.append((0, 1, []))
            return
        buf = b""
        while time.monotonic() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                line, buf = _round_trip(sock, buf)
            except OSError:
                errors += 1
                break
            samples.append((time.perf_counter() - t0) * 1000)
            if b'"status":"success"' in line:
                ok += 1
            else:
                errors += 1
        sock.close()
        with lock:
            results.append((ok, errors, samples))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put(results)


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def throughput(port, clients, seconds=5.0, processes=None, server_pid=None):
    processes = processes or min(clients, 5)
    per_process = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client_process, args=(port, n, seconds, queue)) for n in per_process]
    for p in procs:
        p.start()
    cpu_before = cpu_seconds(server_pid) if server_pid else None
    gathered = []
    for _ in procs:
        gathered.extend(queue.get(timeout=seconds + 60))
    for p in procs:
        p.join()
    server_cpu = cpu_seconds(server_pid) - cpu_before if server_pid else None
    ok = sum(r[0] for r in gathered)
    errors = sum(r[1] for r in gathered)
    samples = [s for r in gathered for s in r[2]]
    stats = percentiles(samples) if samples else {}
    result = {"clients": clients, "seconds": seconds, "requests": ok, "errors": errors,
              "req_per_s": round(ok / seconds, 1), **stats}
    if server_cpu is not None and ok:
        # Blender's own CPU per request: the server's cost, apart from the clients sharing the cores.
        result["server_cpu_us_per_request"] = round(server_cpu / ok * 1e6, 1)
        result["server_cpu_share"] = round(server_cpu / (seconds + 0.5), 2)
    return result


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def idle_rss_without_addon():
    proc = subprocess.Popen(
        [blender_binary(), "-b", "--factory-startup", "-noaudio", "--python-expr",
         "import sys, time\nprint('IDLE', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        for line in proc.stdout:
            if line.startswith(b"IDLE"):
                break
        time.sleep(2.0)
        return rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="round trips for the background latency")
    parser.add_argument("--gui-count", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-gui", action="store_true")
    parser.add_argument("--processes", type=int, default=None, help="client processes (default: min(clients, 5))")
    args = parser.parse_args()
    os.environ.pop("BLD_COVERAGE", None)  # measure the product, not the tracer
    # One token for the Blenders started here (they inherit it) and the client processes.
    os.environ["BLD_REMOTE_MCP_TOKEN"] = secrets.token_urlsafe(32)

    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    rss_without = idle_rss_without_addon()
    bg = Instance("bg")
    try:
        time.sleep(2.0)
        rss_with = rss_kib(bg.pid)
        with bg.client() as c:
            report["blender_version"] = c.call("hello")["result"]["blender_version"]
        report["memory"] = {
            "idle_rss_without_addon_mib": round(rss_without / 1024, 1),
            "idle_rss_with_addon_mib": round(rss_with / 1024, 1),
            "addon_overhead_mib": round((rss_with - rss_without) / 1024, 1),
        }
        report["background_latency"] = latency(bg.port, args.count)
        report["throughput"] = [throughput(bg.port, n, args.seconds, server_pid=bg.pid) for n in (1, 5, 50)]
        report["memory"]["rss_after_load_mib"] = round(rss_kib(bg.pid) / 1024, 1)
    finally:
        bg.stop()
    if not args.no_gui:
        gui = Instance("gui")
        try:
            with gui.client() as c:  # let the first redraws and shader compiles pass
                for _ in range(50):
                    c.call("ping")
                    c.execute("x = 1")
            report["gui_latency"] = latency(gui.port, args.gui_count, warmup=50)
        finally:
            gui.stop()

    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"addon-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    print(f"\nbld-remote addon benchmark — Blender {report.get('blender_version')} — {report['date']}")
    bl = report["background_latency"]
    print(f"background trivial execute_code: p50 {bl['p50_ms']} ms  p95 {bl['p95_ms']} ms  p99 {bl['p99_ms']} ms  (n={bl['n']})")
    if "gui_latency" in report:
        gl = report["gui_latency"]
        print(f"GUI (Xvfb) trivial execute_code: p50 {gl['p50_ms']} ms  p95 {gl['p95_ms']} ms  p99 {gl['p99_ms']} ms  (n={gl['n']})")
    for t in report["throughput"]:
        print(f"{t['clients']:>3} clients: {t['req_per_s']:>8} req/s  p50 {t.get('p50_ms')} ms  p99 {t.get('p99_ms')} ms  "
              f"errors {t['errors']}  server CPU {t.get('server_cpu_us_per_request')} us/req ({t.get('server_cpu_share')} cores)")
    m = report["memory"]
    print(f"idle RSS: {m['idle_rss_without_addon_mib']} MiB without addon, {m['idle_rss_with_addon_mib']} MiB with it "
          f"(overhead {m['addon_overhead_mib']} MiB); after load {m['rss_after_load_mib']} MiB")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
