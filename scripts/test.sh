#!/usr/bin/env bash
# The whole test suite: unit tests (no Blender) and end-to-end tests against real Blender
# (3.4 background, 3.4 GUI under Xvfb, bpy 5.0.1), with addon line coverage measured in the
# test process and inside every Blender the tests start. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

rm -f .coverage .coverage.*
mkdir -p tests/.artifacts
export BLD_COVERAGE=1
status=0
.venv/bin/python -m coverage run -m pytest tests -p no:cacheprovider --import-mode=importlib \
  --timeout 300 -ra --junitxml=tests/.artifacts/junit.xml "$@" || status=$?

echo
echo "== addon line coverage (unit tests + every Blender process the tests started) =="
.venv/bin/python -m coverage combine -q >/dev/null 2>&1 || true
.venv/bin/python -m coverage report --fail-under=90 || status=$((status == 0 ? 1 : status))

# One plain closing line with the counts, after the coverage table.
.venv/bin/python - <<'PY'
import xml.etree.ElementTree as ET
root = ET.parse("tests/.artifacts/junit.xml").getroot()
suites = [root] if root.tag == "testsuite" else list(root)
count = lambda key: sum(int(s.get(key, 0)) for s in suites)
total, failed, errors, skipped = count("tests"), count("failures"), count("errors"), count("skipped")
print(f"tests: {total - failed - errors - skipped} passed, {failed + errors} failed, {skipped} skipped")
PY
exit $status
