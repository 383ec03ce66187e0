"""Percentiles and summaries of latency samples (pure: no sockets, no Blender)."""

import statistics


def percentile(ordered, q):
    """The nearest-rank percentile of an already sorted list (q in [0, 1])."""
    if not ordered:
        raise ValueError("no samples")
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def summarize(samples_ms):
    """p50/p95/p99/mean/max of samples in milliseconds, rounded for the report."""
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 4),
        "p95_ms": round(percentile(ordered, 0.95), 4),
        "p99_ms": round(percentile(ordered, 0.99), 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
        "max_ms": round(ordered[-1], 4),
    }


def ratio(slow, fast):
    """How many times `fast` beats `slow` (None when either is missing or zero)."""
    if not slow or not fast:
        return None
    return round(slow / fast, 1)
