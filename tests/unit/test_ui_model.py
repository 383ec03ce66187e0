"""ui_model: the rows of the panel's recent calls, the running job, the MCP config text."""

import json

from bld_remote_mcp.blender import ui_model
from bld_remote_mcp.engine import job_registry


def _job(registry, code, state, status=None, started=None, finished=None, error=None):
    job = registry.create(code, "sync", 30.0, {})
    job.state, job.started, job.finished = state, started, finished
    if finished is not None:
        job.envelope = {"status": status, "error": error}
    return job


def test_recent_calls_are_newest_first_with_status_duration_and_error():
    registry = job_registry.JobRegistry()
    _job(registry, "\n\nx = 1\ny = 2", "finished", "success", 10.0, 10.0123)
    _job(registry, "1 / 0", "finished", "error", 11.0, 11.5,
         {"code": "execution_error", "type": "ZeroDivisionError", "message": "division by zero\nmore"})
    _job(registry, "while True: pass", "running", started=12.0)
    rows = ui_model.recent_calls(registry.all())
    assert [r["code"] for r in rows] == ["while True: pass", "1 / 0", "x = 1"]
    assert rows[0] == {"job_id": rows[0]["job_id"], "code": "while True: pass", "status": "running",
                       "duration": "running", "error": ""}
    assert rows[1]["status"] == "error" and rows[1]["duration"] == "500.0 ms"
    assert rows[1]["error"] == "ZeroDivisionError: division by zero"
    assert rows[2]["status"] == "success" and rows[2]["duration"] == "12.3 ms"


def test_recent_calls_keep_only_the_last_ones_and_long_runs_read_in_seconds():
    registry = job_registry.JobRegistry()
    for i in range(12):
        _job(registry, f"call_{i}()", "finished", "success", 0.0, 2.5)
    rows = ui_model.recent_calls(registry.all(), limit=8)
    assert len(rows) == 8 and rows[0]["code"] == "call_11()" and rows[-1]["code"] == "call_4()"
    assert rows[0]["duration"] == "2.50 s"
    assert ui_model.recent_calls([], limit=8) == []


def test_an_empty_code_and_a_timeout_without_type_are_shown_plainly():
    registry = job_registry.JobRegistry()
    _job(registry, "   ", "finished", "timeout", 0.0, 1.0, {"code": "timeout", "message": "exceeded 1 s"})
    (row,) = ui_model.recent_calls(registry.all())
    assert row["code"] == "(empty)" and row["error"] == "timeout: exceeded 1 s"


def test_mcp_config_points_bld_remote_mcp_at_the_port_and_holds_no_secret():
    config = json.loads(ui_model.mcp_config(7001))
    assert config == {"mcpServers": {"blender": {"command": "bld-remote", "args": ["mcp", "--port", "7001"]}}}


def test_every_status_has_an_icon():
    for status in ("success", "error", "timeout", "cancelled", "running", "queued"):
        assert ui_model.status_icon(status) != "QUESTION"
    assert ui_model.status_icon("???") == "QUESTION"
