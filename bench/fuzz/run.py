"""One fuzzing run: the probe's baseline, then the workers, lingerers and the hostile thread for the
duration, then the report, with every finding of the oracle."""

import itertools
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

from .findings import Findings, Stats
from .generators import GENERATORS, HOSTILE
from .protocol import Ctx, SLACK
from .runners import FuzzWorker, Lingerer, Runner
from .watchers import Monitor, Probe


def percentiles(values):
    if not values:
        return {"n": 0}
    s = sorted(values)

    def pick(q):  # nearest rank
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    return {"n": len(s), "p50_ms": pick(0.5) * 1e3, "p90_ms": pick(0.9) * 1e3, "p99_ms": pick(0.99) * 1e3,
            "max_ms": s[-1] * 1e3}


def run_fuzz(port, token, max_message_bytes, preauth_bytes, preauth_messages, idle_timeout, auth_timeout, seed=0,
             duration=60.0, max_items=None, workers=2, waiters=3, slow_clients=3, baseline=5.0, probe_interval=0.05,
             instance=None, save_dir=None, rss_limit_mib=128.0, latency_factor=10.0, latency_floor=0.05, hostile=True,
             hostile_pause=10.0, sentinel_dir=None, exclude=(), on_fuzzing=None):
    """Fuzz the server at 127.0.0.1:port for ``duration`` s (or ``max_items`` fuzz items); returns the
    report (see ``problems``). The limits are the server's settings (docs/protocol.md §8).
    ``on_fuzzing``: called once the fuzzing has started (a test injects traces with it)."""
    own_sentinel = sentinel_dir is None
    sentinel_dir = Path(tempfile.mkdtemp(prefix="bld-fuzz-sentinel-")) if own_sentinel else Path(sentinel_dir)
    ctx = Ctx(port, token, max_message_bytes, preauth_bytes, preauth_messages, idle_timeout, auth_timeout,
              sentinel_dir)
    stats = Stats()
    findings = Findings(stats, save_dir)
    stop = threading.Event()
    runner = Runner(ctx, seed, stats, findings, stop, exclude=exclude)
    monitor = Monitor(ctx, token, stats, findings, instance=instance)
    monitor.tick(full=True)
    threads_before = monitor.threads[-1] if monitor.threads else None
    probe = Probe(port, token, probe_interval)
    t_base = time.time()
    time.sleep(baseline)
    monitor.start()
    t_fuzz = time.time()
    started = time.monotonic()
    deadline = started + duration
    counter = itertools.count()
    fuzzers = [FuzzWorker(runner, i, workers, deadline, max_items, counter) for i in range(workers)]
    lingerers = [Lingerer(runner, "w", i, waiters, deadline) for i in range(waiters)]
    lingerers += [Lingerer(runner, "s", i, slow_clients, deadline) for i in range(slow_clients)]
    if hostile:
        lingerers.append(Lingerer(runner, "h", 0, 1, deadline, pause=hostile_pause))
    for t in fuzzers + lingerers:
        t.start()
    if on_fuzzing is not None:
        on_fuzzing()
    for t in fuzzers:
        t.join()
    fuzz_elapsed = time.monotonic() - started
    stop.set()  # lingerers finish their current session: at most the auth deadline
    for t in lingerers:
        t.join(auth_timeout + 3 * SLACK + 10)
    t_end = time.time()
    probe.stop()
    monitor.stop()
    # Every stranger is gone by the auth deadline: only the monitor's connection is left.
    settle = time.monotonic() + auth_timeout + 2 * SLACK
    connections_after = None
    while time.monotonic() < settle:
        if not monitor.tick(full=False):
            break
        connections_after = monitor.connections[-1][1] if monitor.connections else None
        if connections_after is not None and connections_after <= 1:
            break
        time.sleep(0.25)
    alive = monitor.tick(full=True)
    threads_after = monitor.threads[-1] if monitor.threads else None
    if connections_after is not None and connections_after > 1:
        findings.add("leak", "connections left open", None,
                     f"{connections_after} connections {auth_timeout + 2 * SLACK:g} s after the fuzzing (expected 1)")
    if threads_before is not None and threads_after is not None and threads_after > threads_before + 2:
        findings.add("leak", "threads left running", None, f"threads {threads_before} -> {threads_after}")
    gaps = monitor.job_gaps()
    if gaps:
        findings.add("executed", "job ids nobody of ours accounts for", None, f"{gaps[:20]}")
    errors = [t.error for t in fuzzers + lingerers if t.error]
    for error in errors:
        findings.add("fuzzer_error", "the fuzzer itself failed", None, error)

    base = [r for r in probe.records if t_base <= r["t"] < t_fuzz]
    during = [r for r in probe.records if t_fuzz <= r["t"] <= t_end]
    failed = [r for r in probe.records if not r["ok"]]
    # A probe call overlapping a hostile session (or the second after it: the server may still be
    # working through what it buffered) is counted apart, so that each part has its own figure.
    windows = [(a, (b or t_end) + 1.0) for a, b, _g in runner.hostile_windows]

    def hostile_time(r):
        return any(a <= r["t"] + r["lat"] and r["t"] <= b for a, b in windows)

    lat_base = percentiles([r["lat"] for r in base if r["ok"]])
    lat_during = percentiles([r["lat"] for r in during if r["ok"]])
    lat_quiet = percentiles([r["lat"] for r in during if r["ok"] and not hostile_time(r)])
    lat_hostile = percentiles([r["lat"] for r in during if r["ok"] and hostile_time(r)])
    for r in failed[:5]:
        findings.add("probe", "a probe call failed", None, f"{r.get('err')} after {r['lat']:.3f} s")
    latency_bound = None
    if lat_base.get("n"):
        latency_bound = max(latency_factor * lat_base["p99_ms"], latency_floor * 1e3)
        for name, lat in (("without a hostile stranger", lat_quiet), ("while a hostile stranger sends", lat_hostile)):
            if lat.get("n") and lat["p99_ms"] > latency_bound:
                findings.add("latency", f"probe p99 {name} over the bound", None,
                             f"p99 {lat['p99_ms']:.1f} ms (p50 {lat['p50_ms']:.1f}, max {lat['max_ms']:.1f}, "
                             f"n {lat['n']}) "
                             f"> max({latency_factor:g} x {lat_base['p99_ms']:.1f}, {latency_floor * 1e3:g}) ms")
    if not during:
        findings.add("probe", "no probe call during the fuzzing", None, "the probe did not run")
    fuzz_rss = [b for t, b in monitor.rss if t >= t_fuzz] or [b for _t, b in monitor.rss]
    rss = {}
    if fuzz_rss:
        rss = {"first_mib": fuzz_rss[0] / 2 ** 20, "last_mib": fuzz_rss[-1] / 2 ** 20,
               "max_mib": max(fuzz_rss) / 2 ** 20, "samples": len(fuzz_rss)}
        if rss["max_mib"] - rss["first_mib"] > rss_limit_mib:
            findings.add("memory", "RSS grew past the limit", None,
                         f"RSS {rss['first_mib']:.1f} -> max {rss['max_mib']:.1f} MiB (limit +{rss_limit_mib:g})")
    if own_sentinel:
        shutil.rmtree(sentinel_dir, ignore_errors=True)

    per_gen = {g: dict(stats.per_gen[g]) for g in GENERATORS + HOSTILE + ("batch",) if g in stats.per_gen}
    total_inputs = sum(c.get("inputs", 0) for c in per_gen.values())
    return {
        "seed": seed,
        "settings": {"max_message_bytes": max_message_bytes, "limit": ctx.limit, "preauth_bytes": preauth_bytes,
                     "preauth_messages": preauth_messages, "idle_timeout": idle_timeout,
                     "auth_timeout": auth_timeout, "workers": workers, "waiters": waiters,
                     "slow_clients": slow_clients, "probe_interval": probe_interval, "rss_limit_mib": rss_limit_mib,
                     "latency_factor": latency_factor, "latency_floor_ms": latency_floor * 1e3,
                     "hostile": hostile, "exclude": sorted(exclude)},
        "duration_s": fuzz_elapsed,
        "total_inputs": total_inputs,
        "bytes_sent": sum(c.get("bytes", 0) for c in per_gen.values()),
        "connections": runner.connections,
        "generators": per_gen,
        "modes": dict(stats.modes),
        "replies": dict(stats.replies.most_common()),
        "refusals": dict(stats.refusals.most_common()),
        "replies_checked": stats.checked,
        "server_nonces": len(stats.server_nonces),
        "notes": dict(stats.notes),
        "flaky_mismatches": stats.flaky,
        "probe": {"baseline": lat_base, "during": lat_during, "during_quiet": lat_quiet,
                  "during_hostile": lat_hostile, "failed": len(failed), "bound_ms": latency_bound,
                  "hostile_sessions": len(windows)},
        "rss": rss,
        "alive": alive and (instance is None or instance.alive()),
        "threads": {"before": threads_before, "after": threads_after},
        "connections_after": connections_after,
        "jobs_seen": len(monitor.seen_jobs),
        "findings": list(stats.findings.values()),
    }
