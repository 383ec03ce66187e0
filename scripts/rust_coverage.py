#!/usr/bin/env python3
"""Prints the Rust line coverage from cargo-tarpaulin's JSON report: each crate, the total, and
every file with lines left uncovered (and which), then fails below --fail-under."""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _relative(parts):
    path = "/".join(p for p in parts if p not in ("", "/"))
    for anchor in ("crates/", "fuzz/"):
        if anchor in path:
            return path[path.index(anchor):]
    return path


def _ranges(lines):
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out, start, prev = [], None, None
    for line in sorted(lines):
        if start is None:
            start = prev = line
        elif line == prev + 1:
            prev = line
        else:
            out.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = line
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ", ".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--fail-under", type=float, default=0.0)
    args = parser.parse_args(argv)
    if not args.report.exists():
        print(f"no coverage report at {args.report} (did cargo tarpaulin run?)")
        return 1
    files = json.loads(args.report.read_text())["files"]
    by_crate = defaultdict(lambda: [0, 0])
    uncovered = []
    for f in files:
        if not f["coverable"]:
            continue
        path = _relative(f["path"])
        crate = path.split("/")[1] if path.startswith("crates/") else path.split("/")[0]
        by_crate[crate][0] += f["covered"]
        by_crate[crate][1] += f["coverable"]
        missed = [t["line"] for t in f["traces"] if not t["stats"].get("Line")]
        if missed:
            uncovered.append((path, f["covered"], f["coverable"], missed))
    covered = sum(c for c, _ in by_crate.values())
    total = sum(t for _, t in by_crate.values())
    print(f"{'crate':<24} {'lines':>7} {'covered':>8} {'cover':>7}")
    for crate, (c, t) in sorted(by_crate.items()):
        print(f"{crate:<24} {t:>7} {c:>8} {100 * c / t:>6.1f}%")
    percent = 100 * covered / total if total else 0.0
    print(f"{'TOTAL':<24} {total:>7} {covered:>8} {percent:>6.1f}%")
    print("\nuncovered lines by file:")
    for path, c, t, missed in sorted(uncovered, key=lambda row: row[2] - row[1], reverse=True):
        print(f"  {path} ({t - c} of {t}): {_ranges(missed)}")
    if percent < args.fail_under:
        print(f"\nRust line coverage {percent:.1f}% is under {args.fail_under:g}%")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
