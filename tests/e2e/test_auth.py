"""Token authentication against real Blender (3.4 and 5.0): nothing runs without the token."""

import json
import os
import socket
import stat
from pathlib import Path

from harness import Client, legacy_call


def _token_file(instance):
    return Path(instance.env["BLD_REMOTE_STATE_DIR"]) / "tokens" / f"{instance.port}.token"


def test_without_the_token_nothing_runs(backend, tmp_path):
    marker = tmp_path / "ran"
    with Client(backend.port) as c:
        hello = c.call("hello")["result"]
        assert hello["auth_required"] is True and hello["authenticated"] is False
        reply = c.execute(f"open({str(marker)!r}, 'w').write('x')")
        assert reply["error"]["code"] == "unauthorized"
        assert str(_token_file(backend)) in reply["error"]["message"], "the error says where the token is"
        assert c.call("shutdown")["error"]["code"] == "unauthorized"
    assert not marker.exists()
    with backend.client() as c:  # and with the token, all is well
        assert c.call("status")["result"]["auth"] is True


def test_133_clients_are_refused_in_their_own_shape_when_auth_is_on(backend, tmp_path):
    marker = tmp_path / "legacy_ran"
    reply = legacy_call(backend.port, {"type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w')"}})
    assert reply["status"] == "error" and "BLD_REMOTE_MCP_AUTH=off" in reply["message"]
    assert legacy_call(backend.port, {"code": f"open({str(marker)!r}, 'w')"})["status"] == "error"
    assert not marker.exists()


def test_the_token_file_is_private_and_goes_away_with_blender(spawn):
    instance = spawn("bg")
    path = _token_file(instance)
    assert path.read_text() == instance.token and len(instance.token) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    instance.stop()
    assert not path.exists()


def test_a_wrong_token_is_refused(bg):
    with socket.create_connection(("127.0.0.1", bg.port), timeout=10) as sock:
        sock.sendall(json.dumps({"id": 1, "type": "ping", "token": "a" * 43}).encode() + b"\n")
        reply = json.loads(sock.makefile().readline())
    assert reply["error"]["code"] == "unauthorized" and "invalid token" in reply["error"]["message"]


def test_auth_cannot_be_off_on_a_non_loopback_address(spawn):
    import pytest
    from harness import HarnessError

    with pytest.raises(HarnessError, match="exited with 2"):
        spawn("bg", env={"BLD_REMOTE_MCP_AUTH": "off", "BLD_REMOTE_MCP_ALLOW_REMOTE": "1",
                         "BLD_REMOTE_MCP_HOST": "0.0.0.0"}, ready_timeout=30)
