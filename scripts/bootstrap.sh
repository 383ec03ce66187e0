#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently:
#   - Blender 3.4 and Xvfb from Debian (apt, when missing and run as root),
#   - .venv/       test tools + blender-remote 1.3.3 (the legacy clients we stay compatible with),
#   - .venv-bpy5/  PyPI bpy 5.0.1 (Blender 5 as a Python module),
#   - .venv-bpy42/, .venv-bpy45/, .venv-bpy53/  PyPI bpy 4.2.23, 4.5.15 and 5.3.0 (Python 3.13),
#   - .deps/coverage  coverage.py for Blender's own Python (added to PYTHONPATH by the harness),
#   - cargo-tarpaulin (crates.io) for Rust line coverage, and the MCP Inspector CLI (npm).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

need_apt=()
command -v blender >/dev/null 2>&1 || need_apt+=(blender)
command -v Xvfb >/dev/null 2>&1 || need_apt+=(xvfb)
# numpy for Blender's (Debian's) Python: results that are numpy arrays are part of the tests.
[ -d /usr/lib/python3/dist-packages/numpy ] || need_apt+=(python3-numpy)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: missing ${need_apt[*]}: run 'sudo apt-get install -y ${need_apt[*]}'" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pytest, coverage, blender_remote, mcp, matplotlib" 2>/dev/null; then
  echo "bootstrap: creating .venv (pytest, coverage, blender-remote==1.3.3, matplotlib)" >&2
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tests/requirements.txt
fi

if [ ! -x .venv-bpy5/bin/python ] || ! .venv-bpy5/bin/python -c "import bpy" 2>/dev/null; then
  echo "bootstrap: creating .venv-bpy5 (bpy==5.0.1, about 1 GB)" >&2
  "$PYTHON" -m venv .venv-bpy5
  .venv-bpy5/bin/pip install -q bpy==5.0.1
fi

# Blender as a Python module, one venv per version of the test matrix (about 1 GB each).
bpy_venv() { # venv-dir python bpy-version
  if [ ! -x "$1/bin/python" ] || ! "$1/bin/python" -c "import bpy" 2>/dev/null; then
    echo "bootstrap: creating $1 (bpy==$3)" >&2
    rm -rf "$1"
    "$2" -m venv "$1"
    "$1/bin/pip" install -q "bpy==$3"
  fi
}
bpy_venv .venv-bpy42 "$PYTHON" 4.2.23
bpy_venv .venv-bpy45 "$PYTHON" 4.5.15
# bpy 5.1+ needs Python 3.13: pyenv's on these machines, else one on PATH.
PYTHON313=${PYTHON313:-$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 2>/dev/null | sort -V | tail -1 || true)}
PYTHON313=${PYTHON313:-$(command -v python3.13 || true)}
PYTHON313=${PYTHON313:-$(ls -d .deps/python/cpython-3.13*/bin/python3 2>/dev/null | sort -V | tail -1 || true)}
if [ -z "$PYTHON313" ]; then
  # None here (Debian 12 packages only 3.11): uv (from PyPI) installs a standalone CPython 3.13
  # into .deps/python, private to this checkout. It downloads it from GitHub
  # (python-build-standalone): without that access, install one and set PYTHON313.
  echo "bootstrap: no Python 3.13 (for bpy 5.3): installing one with uv into .deps/python" >&2
  .venv/bin/pip install -q uv
  UV_PYTHON_INSTALL_DIR="$PWD/.deps/python" .venv/bin/uv python install 3.13 \
    || { echo "bootstrap: uv could not install Python 3.13: install one (pyenv install 3.13) or set PYTHON313" >&2; exit 1; }
  PYTHON313=$(ls -d .deps/python/cpython-3.13*/bin/python3 2>/dev/null | sort -V | tail -1 || true)
fi
bpy_venv .venv-bpy53 "$PYTHON313" 5.3.0

if [ ! -d .deps/coverage/coverage ]; then
  echo "bootstrap: installing coverage.py for Blender's Python into .deps/coverage" >&2
  .venv/bin/pip install -q --target .deps/coverage "$(.venv/bin/python -c 'import coverage; print("coverage==" + coverage.__version__)')"
fi
# cargo-tarpaulin: Rust line coverage on the stable toolchain (test.sh runs the Rust tests under it).
TARPAULIN_VERSION=0.37.5
if ! cargo tarpaulin --version 2>/dev/null | grep -qF "$TARPAULIN_VERSION"; then
  echo "bootstrap: installing cargo-tarpaulin $TARPAULIN_VERSION from crates.io (a few minutes)" >&2
  cargo install --quiet --locked cargo-tarpaulin --version "$TARPAULIN_VERSION"
fi
# The MCP Inspector CLI (npm), a third MCP client the tests drive `bld-remote mcp` with (stdio
# and Streamable HTTP; --header, for the bearer token, came in 0.16). 0.16.8 says it wants Node
# 22 but its CLI runs on Node 20, which Debian 12 has; 0.17+ does not.
INSPECTOR_VERSION=0.16.8
INSPECTOR_PACKAGE=.deps/inspector/node_modules/@modelcontextprotocol/inspector/package.json
if ! grep -qF "\"version\": \"$INSPECTOR_VERSION\"" "$INSPECTOR_PACKAGE" 2>/dev/null; then
  if command -v npm >/dev/null 2>&1; then
    echo "bootstrap: installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into .deps/inspector" >&2
    rm -rf .deps/inspector
    mkdir -p .deps/inspector
    npm install --silent --no-audit --no-fund --prefix .deps/inspector "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null
  else
    echo "bootstrap: npm not found; the MCP Inspector tests will fail (install Node.js 20+)" >&2
  fi
fi
# The MCP conformance suite (npm), whose server scenarios run against `bld-remote mcp --http`. It
# needs Node 22 (fs.globSync); Debian 12 has 20, so a Node 22 binary comes from the npm registry
# too (the node-linux-<arch> package), into .deps/node22, used for this suite only.
CONFORMANCE_VERSION=0.1.16
NODE22_VERSION=22.23.5
if [ ! -x .deps/node22/node_modules/.bin/node ] && command -v npm >/dev/null 2>&1; then
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64 | arm64) node_arch=arm64 ;;
    *) node_arch="" ;;
  esac
  if [ -n "$node_arch" ]; then
    echo "bootstrap: installing Node $NODE22_VERSION (npm: node-linux-$node_arch) into .deps/node22" >&2
    mkdir -p .deps/node22
    npm install --silent --no-audit --no-fund --prefix .deps/node22 "node-linux-$node_arch@$NODE22_VERSION" >/dev/null
    ln -sf "../node-linux-$node_arch/bin/node" .deps/node22/node_modules/.bin/node
  fi
fi
CONFORMANCE_PACKAGE=.deps/conformance/node_modules/@modelcontextprotocol/conformance/package.json
if ! grep -qF "\"version\": \"$CONFORMANCE_VERSION\"" "$CONFORMANCE_PACKAGE" 2>/dev/null \
    && command -v npm >/dev/null 2>&1; then
  echo "bootstrap: installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION into .deps/conformance" >&2
  rm -rf .deps/conformance
  mkdir -p .deps/conformance
  npm install --silent --no-audit --no-fund --prefix .deps/conformance "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >/dev/null
fi
echo "bootstrap: ready" >&2
