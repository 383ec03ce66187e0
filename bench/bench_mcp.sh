#!/usr/bin/env bash
# Benchmark of `bld-remote mcp` (not a test): starts a headless Blender with `bld-remote start`
# on a free port, runs crates/bld-remote/examples/bench_mcp.rs (rmcp client over stdio), stops it.
# Writes bench/results/mcp-<time>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p bld-remote --bins --example bench_mcp
mkdir -p bench/results
export BLD_REMOTE_STATE_DIR="$(mktemp -d)"
record=$(target/release/bld-remote start --background --detach --port 0 --json)
port=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["port"])' "$record")
trap 'target/release/bld-remote stop --port "$port" >/dev/null; rm -rf "$BLD_REMOTE_STATE_DIR"' EXIT
target/release/examples/bench_mcp --bin target/release/bld-remote --port "$port" --out "bench/results/mcp-$(date +%Y%m%d-%H%M%S).json"
