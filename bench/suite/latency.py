"""Round-trip latency of a trivial `execute_code` through each path a caller can take.

Every function returns stats.summarize() of per-call wall times in milliseconds, measured on one
persistent session after a warm-up, and raises if a reply is not a success (a benchmark that
counts failures as fast calls would lie)."""

import asyncio
import logging
import os
import time

from . import stats
from .wire import TRIVIAL_CODE, connect


def socket_latency(protocol, port, token=None, count=2000, warmup=200):
    """Raw TCP: v1 (newline JSON) or the 1.3.3 format, one connection, one request at a time."""
    conn = connect(protocol, port, token)
    raw = conn.encoded_execute(TRIVIAL_CODE)
    try:
        for _ in range(warmup):
            conn.round_trip(raw)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            reply = conn.round_trip(raw)
            samples.append((time.perf_counter() - start) * 1000)
            if not conn.succeeded(reply):
                raise RuntimeError(f"unexpected reply: {reply[:300]!r}")
        return stats.summarize(samples)
    finally:
        conn.close()


def legacy_api_latency(port, count=200, warmup=10):
    """blender-remote 1.3.3's own Python API (`BlenderMCPClient.execute_python`, its defaults)."""
    from blender_remote.client import BlenderMCPClient

    client = BlenderMCPClient(host="127.0.0.1", port=port, timeout=60)
    for _ in range(warmup):
        client.execute_python(TRIVIAL_CODE)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        client.execute_python(TRIVIAL_CODE)
        samples.append((time.perf_counter() - start) * 1000)
    return stats.summarize(samples)


class _StrayLines(logging.Handler):
    """Counts what the SDK could not parse as JSON-RPC on the server's stdout (a server that
    prints there breaks the protocol; the SDK logs and skips such lines)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += 1


def mcp_latency(command, args, env=None, count=500, warmup=30, code=TRIVIAL_CODE, ping=False):
    """An MCP server over stdio, driven by the official Python MCP SDK's client:
    tools/call execute_code. The same client measures both bridges' MCP servers. The summary
    also counts non-protocol lines the server wrote to stdout."""
    sdk_log = logging.getLogger("mcp.client.stdio")
    stray = _StrayLines()
    sdk_log.addHandler(stray)
    propagate, sdk_log.propagate = sdk_log.propagate, False
    try:
        summary = asyncio.run(_mcp_latency(command, args, env, count, warmup, code, ping))
    finally:
        sdk_log.removeHandler(stray)
        sdk_log.propagate = propagate
    return dict(summary, stray_stdout_lines=stray.count)


async def _mcp_latency(command, args, env, count, warmup, code, ping):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=command, args=args, env=dict(os.environ, **(env or {})))
    with open(os.devnull, "w") as devnull:
        async with stdio_client(params, errlog=devnull) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                # `ping` instead of a tool call: the client's and the stdio transport's own cost,
                # with no Blender involved (the floor under the tool-call rows).
                call = session.send_ping if ping else lambda: _call(session, code)
                for _ in range(warmup):
                    await call()
                samples = []
                for _ in range(count):
                    start = time.perf_counter()
                    await call()
                    samples.append((time.perf_counter() - start) * 1000)
    return stats.summarize(samples)


async def _call(session, code):
    result = await session.call_tool("execute_code", {"code": code})
    # The SDK's field is `is_error` in current releases (`isError` before).
    if getattr(result, "is_error", None) or getattr(result, "isError", None):
        raise RuntimeError(f"MCP execute_code failed: {result.content}")
    return result
