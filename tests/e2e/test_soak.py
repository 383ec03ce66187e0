"""Soak, short: 50 concurrent clients and a mixed load for 15 s against real Blender 3.4.

The CI cut of bench/soak.py (same code, imported from there). Behaviour only, no latency
bounds, so a slow or busy machine passes as long as every call gets its own, correct reply.
"""

import sys
from pathlib import Path

# The soak logic lives with the benchmarks (bench/soak.py runs it for minutes); import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import soak  # noqa: E402


def test_fifty_clients_mixed_load_every_reply_correct_and_memory_bounded(spawn):
    instance = spawn("bg")
    report = soak.run_soak(instance.port, instance.token, clients=50, duration=15, seed=1)
    print(soak.summary(report))
    # No lost, duplicated, misrouted or unexpected replies; the server drained; RSS grew at most
    # 64 MiB after the warm-up (the finished-job store fills up in the first seconds).
    assert soak.problems(report, rss_limit_mib=64) == [], soak.summary(report)
    # Every kind was exercised ("ok" for `timeout`: an endless loop was actually interrupted,
    # not only withdrawn unstarted; each client's first call goes round the kinds).
    kinds = report["kinds"]
    for kind in soak.KINDS:
        assert kinds[kind]["outcomes"].get("ok", 0) >= 1, f"{kind} never answered correctly: {kinds[kind]}"
    assert instance.alive()
