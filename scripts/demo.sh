#!/usr/bin/env bash
# The main job: a real round trip through the addon (headless Blender started when none runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v blender >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq blender >/dev/null
  else
    echo "Blender not found: sudo apt-get install -y blender" >&2; exit 1
  fi
fi
exec python3 scripts/demo.py "$@"
