"""What the addon's panel and preferences show, computed from the service's state (pure: no
bpy, so it is unit-tested with plain Python; panel.py only lays it out)."""

import json

RECENT_CALLS = 8


def _duration_text(seconds):
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _error_line(job):
    envelope = job.envelope or {}
    error = envelope.get("error") or {}
    message = error.get("message") or ""
    kind = error.get("type") or error.get("code") or ""
    text = f"{kind}: {message}" if kind and message else message or kind
    return text.splitlines()[0][:160] if text else ""


def recent_calls(jobs, limit=RECENT_CALLS):
    """The newest `limit` execute_code jobs, newest first, as rows for the panel: the code's
    first line, the status (or state while not finished), how long it ran, the error line."""
    rows = []
    for job in reversed(list(jobs)[-limit:]):
        summary = job.summary()
        if summary["finished"] is not None and summary["started"] is not None:
            duration = _duration_text(summary["finished"] - summary["started"])
        else:
            duration = summary["state"]
        rows.append({
            "job_id": summary["job_id"],
            "code": summary["code_preview"] or "(empty)",
            "status": summary["status"] or summary["state"],
            "duration": duration,
            "error": _error_line(job),
        })
    return rows


def mcp_config(port):
    """The MCP client configuration that reaches this Blender, as pasted into Claude Desktop's
    claude_desktop_config.json or Cursor's mcp.json. `bld-remote mcp` finds the token itself
    (in the token file of this port), so no secret goes into a config file."""
    config = {"mcpServers": {"blender": {"command": "bld-remote", "args": ["mcp", "--port", str(port)]}}}
    return json.dumps(config, indent=2)


STATUS_ICONS = {
    "success": "CHECKMARK",
    "error": "ERROR",
    "timeout": "TIME",
    "cancelled": "CANCEL",
    "running": "PLAY",
    "queued": "SORTTIME",
}


def status_icon(status):
    return STATUS_ICONS.get(status, "QUESTION")
