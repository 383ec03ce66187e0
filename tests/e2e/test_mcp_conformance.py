"""The MCP conformance suite (npm `@modelcontextprotocol/conformance`, a client we did not write)
runs its server scenarios, all suites, against `bld-remote mcp --http`.

The suite cannot send an `Authorization` header, so this server runs with `--no-auth` (loopback
only; the token is tested in test_mcp_http.py). Scenarios that exercise the reference server's
fixtures or capabilities we do not declare are listed, with reasons, in conformance-baseline.yml:
the suite fails on any other failure and on a listed scenario that passes."""

import json
import subprocess
from pathlib import Path

import pytest

from mcp_session import build_binary
from test_mcp_http import LINE_LIMIT, HttpServer

REPO = Path(__file__).resolve().parents[2]
NODE22 = REPO / ".deps" / "node22" / "node_modules" / ".bin" / "node"
SUITE = REPO / ".deps" / "conformance" / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = Path(__file__).with_name("conformance-baseline.yml")
# Applicable scenarios: each must run with no failed check (server-sse-polling: a warning from its
# fixture-tool check, see the baseline).
MUST_PASS = ["server-initialize", "ping", "tools-list", "resources-list", "server-sse-multiple-streams",
             "server-sse-polling", "dns-rebinding-protection"]


@pytest.fixture(scope="module", autouse=True)
def binary():
    return build_binary()


def test_conformance_suite_server_scenarios(bg, tmp_path):
    assert NODE22.exists() and SUITE.exists(), "run scripts/bootstrap.sh (installs Node 22 and the suite from npm)"
    server = HttpServer(["--port", str(bg.port), "--no-auth"], tmp_path, {"BLD_REMOTE_MCP_TOKEN": bg.token},
                        token=False)
    try:
        results = tmp_path / "results"
        done = subprocess.run(
            [str(NODE22), str(SUITE), "server", "--url", server.url, "--suite", "all",
             "--expected-failures", str(BASELINE), "-o", str(results)],
            capture_output=True, text=True, timeout=LINE_LIMIT * 5)
        summary = done.stdout[done.stdout.find("=== SUMMARY ==="):]
        assert done.returncode == 0, f"{summary}\n{done.stderr[-3000:]}"
        for scenario in MUST_PASS:
            runs = sorted(results.glob(f"server-{scenario}-2*"))
            assert runs, f"{scenario} did not run:\n{summary}"
            checks = json.loads((runs[-1] / "checks.json").read_text())
            failed = [check for check in checks if check["status"] == "FAILURE"]
            assert checks and not failed, f"{scenario}: {failed}"
    finally:
        assert server.stop() == 0, "\n".join(server.seen)
