#!/usr/bin/env bash
# The benchmark suite: bld-remote beside blender-remote 1.3.3, measured in one run on the same
# Blender (background, and GUI under Xvfb). Prints the figures and the targets, and writes
# bench/results/suite-<time>/ (results.json, benchmarks.md, plots).
#   ./scripts/bench.sh              full run (about 10 minutes)
#   ./scripts/bench.sh --quick      every phase, small counts (a smoke run)
#   ./scripts/bench.sh --publish    also write docs/benchmarks.md and docs/benchmarks/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m bench.suite "$@"
