"""Guard mode (guard.py): the rules on their own, then through a running service.

The process-wide audit hook is installed once in this test process; it only acts on the thread
a guard is watching, so the rest of pytest is unaffected.
"""

import os
import socket

import pytest

from bld_remote_mcp.engine import config
from bld_remote_mcp.engine.guard import Guard, GuardRefused


def _refused(guard, event, *args):
    with pytest.raises(GuardRefused) as info:
        guard.check(event, args)
    return info.value


def test_rules_refuse_programs_network_and_writes_outside_allowed_folders(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    guard = Guard([str(allowed)])
    assert _refused(guard, "subprocess.Popen", "ls", ["ls"], None, None).category == "subprocess"
    assert _refused(guard, "os.system", b"true").category == "subprocess"
    assert _refused(guard, "socket.connect", None, ("127.0.0.1", 80)).category == "network"
    assert _refused(guard, "socket.__new__", None, socket.AF_INET, socket.SOCK_STREAM, 0).category == "network"
    refusal = _refused(guard, "open", str(tmp_path / "elsewhere.txt"), "w", os.O_WRONLY)
    assert refusal.category == "file_write" and "elsewhere.txt" in str(refusal)
    assert _refused(guard, "open", str(tmp_path / "x"), None, os.O_WRONLY | os.O_CREAT).category == "file_write"
    assert _refused(guard, "os.remove", str(tmp_path / "x"), -1).event == "os.remove"
    assert _refused(guard, "os.rename", str(allowed / "a"), str(tmp_path / "b"), -1, -1).category == "file_write"
    # A symlink inside the allowed folder pointing out of it is judged by where it points.
    (allowed / "escape").symlink_to(tmp_path)
    _refused(guard, "open", str(allowed / "escape" / "f"), "a", os.O_APPEND)
    # A sibling whose name merely starts like the allowed folder is not inside it.
    _refused(guard, "open", str(tmp_path / "allowed-not"), "w", os.O_WRONLY)

    # Allowed: reads anywhere, writes inside, Unix sockets, descriptors, unrelated events.
    guard.check("open", (str(tmp_path / "read-only"), "r", os.O_RDONLY))
    guard.check("open", (str(allowed / "deep" / "f.txt"), "w", os.O_WRONLY))
    guard.check("open", (3, "w", os.O_WRONLY))
    guard.check("os.remove", (str(allowed / "f"), -1))
    guard.check("socket.__new__", (None, socket.AF_UNIX, socket.SOCK_STREAM, 0))
    guard.check("import", ("json", None, None, None, None))
    assert guard.refusals == 10


def test_settings_from_environment(tmp_path):
    assert config.from_env({}).guard is False
    settings = config.from_env({"BLD_REMOTE_MCP_GUARD": "on",
                                "BLD_REMOTE_MCP_GUARD_ALLOW": os.pathsep.join([str(tmp_path), "", "~/renders"])})
    assert settings.guard is True
    assert settings.guard_allow == (str(tmp_path), "~/renders")
    assert Guard(settings.guard_allow).allowed_dirs[1] == os.path.realpath(os.path.expanduser("~/renders"))
    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_GUARD"):
        config.from_env({"BLD_REMOTE_MCP_GUARD": "maybe"})


def test_service_with_guard_refuses_with_a_structured_error_and_keeps_serving(make_service, tmp_path):
    allowed = tmp_path / "out"
    allowed.mkdir()
    harness = make_service(guard=True, guard_allow=(str(allowed),))
    client = harness.client()

    # An execute_code reply is the envelope itself (docs/protocol.md §5).
    envelope = client.execute("import subprocess\nsubprocess.run(['true'])")
    assert envelope["status"] == "error"
    assert envelope["error"]["code"] == "guard_refused"
    assert envelope["error"]["type"] == "GuardRefused"
    assert envelope["error"]["refused"]["category"] == "subprocess"
    assert envelope["error"]["line"] == 2
    assert "guard mode refused running a program" in envelope["error"]["message"]

    target = tmp_path / "outside.txt"
    envelope = client.execute(f"open({str(target)!r}, 'w').write('x')")
    assert envelope["error"]["refused"]["category"] == "file_write"
    assert not target.exists(), "the refused write did not happen"

    envelope = client.execute("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)")
    assert envelope["error"]["refused"]["category"] == "network"

    # What is allowed still works, and code that expects PermissionError can handle a refusal.
    inside = allowed / "ok.txt"
    assert client.execute(f"open({str(inside)!r}, 'w').write('fine')")["result"] == 4
    assert inside.read_text() == "fine"
    envelope = client.execute(
        f"try:\n    open({str(target)!r}, 'w')\nexcept PermissionError as e:\n    caught = str(e)\ncaught")
    assert envelope["status"] == "success" and "guard mode refused writing" in envelope["result"]
    assert [r["category"] for r in envelope["metadata"]["guard_refused"]] == ["file_write"]
    # A library that wraps the refusal in its own exception still gets the call blamed on it.
    envelope = client.execute(
        "class Wrapped(Exception):\n    pass\n"
        f"try:\n    open({str(target)!r}, 'w')\nexcept OSError as e:\n    raise Wrapped('could not save') from e")
    assert envelope["error"]["type"] == "Wrapped" and envelope["error"]["code"] == "guard_refused"
    assert envelope["error"]["refused"]["category"] == "file_write"
    assert "guard_refused" not in client.execute("1")["metadata"], "refusals are listed per call"

    status = client.call("status")["result"]
    assert status["guard"] == {"enabled": True, "allowed_dirs": [os.path.realpath(allowed)], "refusals": 5}


def test_guard_watches_only_the_running_code(make_service, tmp_path):
    harness = make_service(guard=True, guard_allow=(str(tmp_path / "none"),))
    client = harness.client()
    assert client.execute("1")["status"] == "success"
    guard = harness.service.guard
    assert not guard.watching, "the guard lets go once the code ended"
    # This thread (not the one running agent code) writes freely while the service runs.
    (tmp_path / "free.txt").write_text("x")
    assert client.call("status")["result"]["guard"]["refusals"] == 0


def test_guard_off_by_default(make_service):
    harness = make_service()
    client = harness.client()
    assert harness.service.guard is None
    assert client.call("status")["result"]["guard"] == {"enabled": False}
    assert client.execute("import os\nos.getpid() > 0")["result"] is True
