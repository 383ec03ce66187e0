#!/usr/bin/env bash
# The whole test suite:
#   1. Rust: cargo fmt --check, clippy -D warnings, and every crate's tests (unit tests, the
#      client against scripted peers, and the CLI/client/MCP server against real Blender 3.4,
#      bpy 5.0.1 and a GUI Blender under Xvfb), run under cargo-tarpaulin for line coverage.
#      The Blender-backed tests are #[ignore = "needs Blender: ..."], so a plain `cargo test`
#      on a machine without Blender runs the fast ones and lists those as ignored; here they all
#      run (--include-ignored), and a missing Blender fails them, it never skips them;
#   2. Python: the addon's unit tests (no Blender) and end-to-end tests against real Blender,
#      with addon line coverage measured in the test process and inside every Blender started.
#   3. Both coverage figures printed at the end; either below 90 % fails the run.
# Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

rm -f .coverage .coverage.*
mkdir -p tests/.artifacts
status=0

echo "== Rust: fmt, clippy, tests (run once, under cargo-tarpaulin for line coverage) =="
cargo fmt --all --check || status=1
cargo clippy --workspace --all-targets --quiet -- -D warnings || status=1
set +e
# LLVM source-based coverage (the stable toolchain's -C instrument-coverage); the `bld-remote`
# processes the tests start write their own profiles, so the CLI and the MCP server count too.
# Its own target dir keeps the instrumented build apart from the plain one below. --timeout is
# tarpaulin's limit per test binary (its default, 60 s, is less than the Blender suites take).
# Measured: everything in crates/*/src; not the benchmark examples, the tests, or fuzz/.
# `-- --include-ignored` goes to every test binary: the Blender-backed tests (ignored by a plain
# `cargo test`) run too, in the same pass. (Not tarpaulin's --ignored: it runs each binary a
# second time for the ignored ones, and the counts below would then list them as skipped too.)
cargo tarpaulin --workspace --engine llvm --no-fail-fast --skip-clean --target-dir target/tarpaulin \
  --timeout 1200 --exclude-files 'crates/*/examples/*' 'crates/*/tests/*' 'fuzz/*' \
  --out Json --output-dir tests/.artifacts -- --include-ignored 2>&1 | tee tests/.artifacts/cargo-test.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# The plain debug binary that the Python MCP tests drive.
cargo build --quiet --workspace --bins || status=1
# Doc tests run on nightly only under tarpaulin: run them plainly, logged with the rest (counted).
cargo test --quiet --workspace --doc 2>&1 | tee -a tests/.artifacts/cargo-test.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1
set -e

echo "== Python: addon unit and end-to-end tests =="
export BLD_COVERAGE=1
.venv/bin/python -m coverage run -m pytest tests -p no:cacheprovider --import-mode=importlib \
  --timeout 300 -ra --junitxml=tests/.artifacts/junit.xml "$@" || status=$?

echo
echo "== addon line coverage (unit tests + every Blender process the tests started) =="
.venv/bin/python -m coverage combine -q >/dev/null 2>&1 || true
.venv/bin/python -m coverage report --fail-under=90 || status=$((status == 0 ? 1 : status))

echo
echo "== Rust line coverage (cargo tarpaulin, every crate's tests and the binaries they start) =="
.venv/bin/python scripts/rust_coverage.py tests/.artifacts/tarpaulin-report.json --fail-under 90 \
  || status=$((status == 0 ? 1 : status))

# One plain closing line with the counts, after the coverage table.
.venv/bin/python - <<'PY'
import xml.etree.ElementTree as ET
root = ET.parse("tests/.artifacts/junit.xml").getroot()
suites = [root] if root.tag == "testsuite" else list(root)
count = lambda key: sum(int(s.get(key, 0)) for s in suites)
total, failed, errors, skipped = count("tests"), count("failures"), count("errors"), count("skipped")
import re
rust = [tuple(map(int, m)) for m in re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored",
                                                  open("tests/.artifacts/cargo-test.log").read())]
r_passed, r_failed, r_ignored = (sum(col) for col in zip(*rust)) if rust else (0, 0, 0)
py_passed = total - failed - errors - skipped
print(f"rust tests: {r_passed} passed, {r_failed} failed, {r_ignored} skipped")
print(f"python tests: {py_passed} passed, {failed + errors} failed, {skipped} skipped")
print(f"tests: {py_passed + r_passed} passed, {failed + errors + r_failed} failed, {skipped + r_ignored} skipped")
PY
exit $status
