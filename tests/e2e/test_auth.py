"""Authentication against real Blender (3.4 and 5.0): the handshake of protocol §1a, nothing
runs before it, and what strangers send cannot smuggle a request through."""

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from bld_remote_mcp.wire import handshake
from harness import HarnessError
from wire_client import Client, legacy_call


def _token_file(instance):
    return Path(instance.env["BLD_REMOTE_STATE_DIR"]) / "tokens" / f"{instance.port}.token"


def test_without_authenticating_nothing_runs_and_the_connection_is_closed(backend, tmp_path):
    marker = tmp_path / "ran"
    with Client(backend.port) as c:
        hello = c.call("hello")["result"]
        assert hello == {"protocol_version": 2, "server": "bld-remote", "auth_required": True,
                         "authenticated": False, "auth": {"scheme": "hmac-sha256"}}, \
            "before authenticating, hello says nothing about this Blender"
        reply = c.execute(f"open({str(marker)!r}, 'w').write('x')")
        assert reply["error"]["code"] == "unauthorized"
        assert str(_token_file(backend)) in reply["error"]["message"], "the error says where the token is"
        assert c.read_until_closed() == b"", "and the connection is closed"
    assert not marker.exists()
    with backend.client() as c:  # after the handshake, all is well
        assert c.call("status")["result"]["auth"] is True


def test_the_handshake_proves_the_token_both_ways_without_sending_it(backend):
    with Client(backend.port) as c:
        nonce = handshake.new_nonce()
        challenge = c.call("hello", {"client_nonce": nonce})["result"]
        bound = f"127.0.0.1:{backend.port}"
        expected = handshake.proof(backend.token, handshake.SERVER, challenge["auth"]["server_nonce"], nonce, bound)
        assert challenge["auth"]["server_proof"] == expected, "Blender proves the token for its own address"
        proof = handshake.proof(backend.token, handshake.CLIENT, challenge["auth"]["server_nonce"], nonce, bound)
        about = c.call("authenticate", {"client_proof": proof})["result"]
        assert about["authenticated"] is True and about["pid"] == backend.pid and about["port"] == backend.port
        assert c.execute("6 * 7")["result"] == 42


def test_a_recorded_handshake_replayed_on_a_new_connection_runs_nothing(backend, tmp_path):
    marker = tmp_path / "replayed"
    nonce = handshake.new_nonce()
    with Client(backend.port) as first:
        challenge = first.call("hello", {"client_nonce": nonce})["result"]
        proof = handshake.answer_challenge(backend.token, challenge, nonce, f"127.0.0.1:{backend.port}")
        assert first.call("authenticate", {"client_proof": proof})["result"]["authenticated"] is True
    with Client(backend.port) as replay:  # the same bytes again
        replay.call("hello", {"client_nonce": nonce})
        reply = replay.call("authenticate", {"client_proof": proof})
        assert reply["error"]["code"] == "unauthorized"
        assert replay.read_until_closed() == b""
    assert not marker.exists()


def test_a_protocol_1_client_sending_the_token_is_refused(bg, tmp_path):
    marker = tmp_path / "ran"
    with Client(bg.port, timeout=10) as c:
        c.send({"id": 1, "type": "execute_code", "token": bg.token, "params": {"code": f"open({str(marker)!r}, 'w')"}})
        reply = json.loads(c.read_until_closed(timeout=10))
    assert reply["error"]["code"] == "unauthorized" and "never takes the token" in reply["error"]["message"]
    assert not marker.exists()


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
    assert stat.S_IMODE(os.stat(path.parent.parent).st_mode) == 0o700
    instance.stop()
    assert not path.exists()


def test_auth_cannot_be_off_on_a_non_loopback_address(spawn):
    with pytest.raises(HarnessError, match="exited with 2"):
        spawn("bg", env={"BLD_REMOTE_MCP_AUTH": "off", "BLD_REMOTE_MCP_ALLOW_REMOTE": "1",
                         "BLD_REMOTE_MCP_HOST": "0.0.0.0"}, ready_timeout=30)


def test_a_state_dir_others_can_write_stops_the_start_with_the_fix(spawn, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(HarnessError, match=r"exited with 2[\s\S]*can be written by other users[\s\S]*chmod go-w"):
        spawn("bg", env={"BLD_REMOTE_STATE_DIR": str(shared / "state")}, ready_timeout=30)
    assert not (shared / "state" / "tokens").exists()


def test_localhost_binds_the_ipv4_loopback_address(spawn):
    instance = spawn("bg", env={"BLD_REMOTE_MCP_HOST": "localhost"})
    with Client(instance.port, host="127.0.0.1", token=instance.token) as c:
        assert c.execute("1 + 1")["result"] == 2
    with pytest.raises(OSError):
        socket.create_connection(("::1", instance.port), timeout=5).close()


# -- finding 6: no JSON line behind junk runs, with auth on or off --------------------------------
JUNK_PREFIXES = [b"post / HTTP/1.1\r\n\r\n", b"FOO / HTTP/1.1\r\n\r\n", b"GET\t/ HTTP/1.1\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00junk\n", b"]]]\n", b"{broken json\n", b"1\n"]


@pytest.mark.parametrize("prefix", JUNK_PREFIXES, ids=lambda p: p[:8].decode("latin-1").strip() or "bytes")
@pytest.mark.parametrize("kind", ["bg", "bg_open", "bpy5_open"])
def test_a_json_line_behind_junk_never_runs(request, kind, prefix, tmp_path):
    instance = request.getfixturevalue(kind)
    marker = tmp_path / "ran"
    line = json.dumps({"id": 1, "type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w')"}})
    with Client(instance.port, timeout=10) as c:
        c.send_raw(prefix + line.encode() + b"\n")
        answer = c.read_until_closed(timeout=10)
    if prefix[:1].isalpha():
        assert answer.startswith(b"HTTP/1.1 403 Forbidden"), answer
    else:
        assert json.loads(answer.split(b"\n")[0])["error"]["code"] == "parse_error", answer
        assert answer.count(b"\n") == 1, "one error, then the connection was closed"
    assert not marker.exists()
    # A legacy client that does speak the protocol is still served with auth off.
    if kind.endswith("_open"):
        assert legacy_call(instance.port, {"type": "get_polyhaven_status", "params": {}})["status"] == "success"
