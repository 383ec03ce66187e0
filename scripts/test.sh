#!/usr/bin/env bash
# The whole test suite: unit tests (no Blender) and end-to-end tests against real Blender
# (3.4 background, 3.4 GUI under Xvfb, bpy 5.0.1), with addon line coverage measured in the
# test process and inside every Blender the tests start. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

rm -f .coverage .coverage.*
export BLD_COVERAGE=1
status=0
.venv/bin/python -m coverage run -m pytest tests -p no:cacheprovider --import-mode=importlib \
  --timeout 300 -ra "$@" || status=$?

echo
echo "== addon line coverage (unit tests + every Blender process the tests started) =="
.venv/bin/python -m coverage combine -q >/dev/null 2>&1 || true
.venv/bin/python -m coverage report || true
exit $status
