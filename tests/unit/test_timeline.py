"""The addon's limits and graces (``engine/timeline.py``) are its rows of the table "Timeline of a
call" in docs/protocol.md §5, in the table's order and with its values (the Rust side holds the
client's and the MCP server's rows to the same table in crates/bld-remote-protocol/src/timeline.rs),
and the layers that use them start from them.
"""

import inspect
from pathlib import Path

from bld_remote_mcp.commands import execute, jobs
from bld_remote_mcp.engine import config, timeline
from bld_remote_mcp.engine.interrupt import Interrupter

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
HEADER = ["step", "constant", "layer", "seconds", "meaning"]


def _cells(line):
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return []
    return [cell.strip() for cell in line[1:-1].split("|")]


def documented_rows():
    """(step, constant, layer, seconds) of each row of the timeline table."""
    text = PROTOCOL.read_text(encoding="utf-8")
    start = text.index("\n### Timeline of a call\n")
    body = text[start + 1:]
    end = body.find("\n### ", 1)
    lines = iter((body if end < 0 else body[:end]).splitlines())
    for line in lines:
        if _cells(line) == HEADER:
            break
    else:
        raise AssertionError(f"no table with header {HEADER!r} under 'Timeline of a call'")
    next(lines)  # |---|
    rows = []
    for line in lines:
        if not line.lstrip().startswith("|"):
            break
        step, constant, layer, seconds, _meaning = _cells(line)
        rows.append((step, constant.strip("`"), layer, seconds))
    return rows


def _addon_constants():
    return [(name, value) for name, value in vars(timeline).items() if name.isupper()]


def test_the_addons_constants_are_its_rows_of_the_protocol_documents_timeline():
    rows = documented_rows()
    steps = list(dict.fromkeys(row[0] for row in rows))
    assert steps == ["queue wait", "run", "interrupt", "stuck grace", "client limit", "MCP follow"]
    addon_rows = [(constant, float(seconds)) for _step, constant, layer, seconds in rows
                  if "addon" in layer and constant != "–"]
    assert addon_rows == [(name, float(value)) for name, value in _addon_constants()]


def test_the_layers_start_from_the_timeline():
    settings = config.Settings()
    assert (settings.default_timeout, settings.max_timeout, settings.stuck_grace) == (
        timeline.DEFAULT_TIMEOUT_SECS, timeline.MAX_TIMEOUT_SECS, timeline.STUCK_GRACE_SECS)
    from_env = config.from_env({})
    assert (from_env.default_timeout, from_env.stuck_grace) == (
        timeline.DEFAULT_TIMEOUT_SECS, timeline.STUCK_GRACE_SECS)
    resend = inspect.signature(Interrupter).parameters["resend_interval"].default
    assert resend is timeline.INTERRUPT_RESEND_SECS
    # The commands refer to the constants, not to copies of their values.
    assert execute.MAX_WAIT_SECS is jobs.MAX_WAIT_SECS is timeline.MAX_WAIT_SECS
    assert execute.LEGACY_TIMEOUT_CAP_SECS is timeline.LEGACY_TIMEOUT_CAP_SECS
