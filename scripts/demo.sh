#!/usr/bin/env bash
# The main job: build bld-remote and run `bld-remote demo` (it uses the Blender already running,
# or starts a headless one with the embedded addon, runs code in it, and stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v blender >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq blender >/dev/null
  else
    echo "Blender not found: sudo apt-get install -y blender (or set BLENDER_PATH)" >&2; exit 1
  fi
fi
cargo build --release --quiet -p bld-remote
exec target/release/bld-remote demo "$@"
