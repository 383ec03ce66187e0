"""Driving `bld-remote mcp` with the official Python MCP SDK (`mcp` from PyPI), over stdio."""

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "target" / "debug" / "bld-remote"


def build_binary():
    """The debug binary, built by cargo if needed (scripts/test.sh builds it first anyway)."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "bld-remote"], cwd=REPO, check=True, timeout=900)
    return BINARY


@contextlib.asynccontextmanager
async def session(args, state_dir, env=None):
    """An initialized MCP client session with `bld-remote mcp <args>`."""
    environment = dict(os.environ)
    for key in ("BLD_REMOTE_PORT", "BLD_REMOTE_HOST", "BLD_REMOTE_CONFIG"):
        environment.pop(key, None)
    environment["BLD_REMOTE_STATE_DIR"] = str(state_dir)
    environment["BLD_REMOTE_CONFIG"] = str(Path(state_dir) / "no-config.toml")
    environment.update(env or {})
    params = StdioServerParameters(command=str(BINARY), args=["mcp", *args], env=environment)
    with open(Path(state_dir) / "mcp-stderr.log", "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def run(coroutine, timeout=120):
    """Runs one test's async body, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def text_of(result):
    return "\n".join(block.text for block in result.content if block.type == "text")
