"""Token authentication (auth.py): the token file, the gate, and a real service over sockets."""

import json
import os
import stat

import pytest

from bld_remote_mcp import auth, config


def test_state_dir_follows_bld_remote_rules(tmp_path):
    home = str(tmp_path / "home")
    given, xdg, local = (str(tmp_path / name) for name in ("given", "xdg", "local"))
    assert auth.default_state_dir({"BLD_REMOTE_STATE_DIR": given}, "linux", home) == given
    assert auth.default_state_dir({}, "linux", home) == os.path.join(home, ".local", "state", "bld-remote")
    assert auth.default_state_dir({"XDG_STATE_HOME": xdg}, "linux", home) == os.path.join(xdg, "bld-remote")
    assert auth.default_state_dir({}, "darwin", home) == os.path.join(home, "Library", "Application Support", "bld-remote")
    assert auth.default_state_dir({"LOCALAPPDATA": local}, "win32", home) == os.path.join(local, "bld-remote")
    assert auth.token_path(xdg, 6688) == os.path.join(xdg, "tokens", "6688.token")


def test_token_file_is_private_and_only_our_own_is_removed(tmp_path):
    path = str(tmp_path / "tokens" / "7000.token")
    token = auth.generate_token()
    assert len(token) >= 40 and token != auth.generate_token()
    auth.write_token_file(path, token)
    assert open(path).read() == token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "tokens").st_mode) == 0o700
    auth.remove_token_file(path, "someone-elses-token")
    assert os.path.exists(path), "a newer server's token file is left alone"
    auth.remove_token_file(path, token)
    assert not os.path.exists(path)
    auth.remove_token_file(path, token)  # already gone: no error


def test_auth_settings_from_the_environment():
    assert config.from_env({}).auth is True
    assert config.from_env({"BLD_REMOTE_MCP_AUTH": "off"}).auth is False
    assert config.from_env({"BLD_REMOTE_MCP_TOKEN": " abcdefghijklmnopq "}).token == "abcdefghijklmnopq"
    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_AUTH must be on or off"):
        config.from_env({"BLD_REMOTE_MCP_AUTH": "maybe"})
    with pytest.raises(ValueError, match="at least 16"):
        config.Settings(token="short").check()
    with pytest.raises(ValueError, match="without authentication"):
        config.Settings(host="0.0.0.0", allow_remote=True, auth=False).check()
    config.Settings(host="0.0.0.0", allow_remote=True, auth=True).check()


@pytest.fixture
def secured(make_service, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "state"))
    return harness


def test_the_token_file_lives_while_the_server_does(make_service, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "state"))
    service = harness.service
    path = tmp_path / "state" / "tokens" / f"{service.port}.token"
    assert path.read_text() == service.token
    harness.close()
    assert not path.exists()


def test_a_given_token_is_used(make_service, tmp_path):
    harness = make_service(auth=True, token="x" * 20, state_dir=str(tmp_path / "s"))
    assert harness.service.token == "x" * 20


def test_nothing_runs_without_the_token(secured, connect, tmp_path):
    marker = tmp_path / "ran"
    c = connect(secured.service.port)
    reply = c.execute(f"open({str(marker)!r}, 'w').write('x')")
    assert reply["status"] == "error" and reply["error"]["code"] == "unauthorized"
    assert "missing token" in reply["error"]["message"] and "tokens" in reply["error"]["message"]
    for command in ("ping", "status", "list_jobs", "shutdown", "make_coffee"):
        assert c.call(command)["error"]["code"] == "unauthorized", command
    assert not marker.exists()


def test_hello_tells_that_a_token_is_needed(secured, connect):
    c = connect(secured.service.port)
    hello = c.call("hello")["result"]
    assert hello["auth_required"] is True and hello["authenticated"] is False
    assert c.call("ping")["error"]["code"] == "unauthorized"


def test_a_wrong_token_is_refused_even_for_hello(secured, connect):
    c = connect(secured.service.port)
    c.send({"id": 1, "type": "hello", "token": "not-the-token"})
    reply = c.read_line()
    assert reply["error"]["code"] == "unauthorized" and "invalid token" in reply["error"]["message"]
    c.send({"id": 2, "type": "ping", "token": 12345})
    assert c.read_line()["error"]["code"] == "unauthorized"


def test_the_token_authenticates_the_connection_once(secured, connect):
    token = secured.service.token
    c = connect(secured.service.port)
    c.send({"id": 1, "type": "hello", "token": token})
    hello = c.read_line()["result"]
    assert hello["authenticated"] is True
    assert c.execute("6 * 7")["result"] == 42, "later requests need no token"
    other = connect(secured.service.port)
    assert other.call("ping")["error"]["code"] == "unauthorized", "each connection authenticates itself"
    other.send({"id": 5, "type": "execute_code", "token": token, "params": {"code": "1 + 1"}})
    assert other.read_line()["result"] == 2, "the token may come with any request"


def test_legacy_messages_are_refused_in_their_own_shape(secured, connect, tmp_path):
    marker = tmp_path / "legacy_ran"
    c = connect(secured.service.port)
    c.send_raw(json.dumps({"type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w')"}}).encode())
    reply = c.read_legacy()
    assert reply["status"] == "error" and reply["message"].startswith("Unauthorized:")
    assert "BLD_REMOTE_MCP_AUTH=off" in reply["message"]
    c.send_raw(json.dumps({"code": f"open({str(marker)!r}, 'w')"}).encode())
    assert c.read_legacy()["status"] == "error"
    assert not marker.exists()


# -- strangers cannot hold slots or buffers ------------------------------------------------------
def _authenticate(client, token):
    client.send({"id": 0, "type": "hello", "token": token})
    assert client.read_line()["result"]["authenticated"] is True


def test_a_connection_without_the_token_is_closed_at_the_auth_deadline(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), auth_timeout=0.3, idle_timeout=5.0)
    stranger = connect(harness.port)
    stranger.send({"id": 1, "type": "hello"})  # a token-less hello does not extend the deadline
    assert stranger.read_line()["result"]["authenticated"] is False
    stranger.send_raw(b'{"id": 2, "type": "pi')  # nor does a half-sent message
    reply = stranger.read_line(timeout=5)
    assert reply["error"]["code"] == "unauthorized" and "within 0.3 s" in reply["error"]["message"]
    assert stranger.read_until_closed() == b""
    member = connect(harness.port)
    _authenticate(member, harness.service.token)
    import time
    time.sleep(0.6)
    assert member.call("ping")["result"]["pong"] is True, "the deadline is for strangers only"


def test_messages_before_the_token_have_a_smaller_limit(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), max_preauth_message_bytes=2048)
    big = "x" * 4096
    stranger = connect(harness.port)
    stranger.send({"id": 1, "type": "ping", "padding": big})
    reply = stranger.read_line()
    assert reply["error"]["code"] == "message_too_large" and "limit of 2048 bytes" in reply["error"]["message"]
    # The same size is fine once the connection presented the token, even in the same burst.
    member = connect(harness.port)
    member.send_raw((json.dumps({"id": 0, "type": "hello", "token": harness.service.token}) + "\n"
                     + json.dumps({"id": 1, "type": "execute_code", "params": {"code": f"len({big!r})"}}) + "\n")
                    .encode())
    assert member.read_line()["result"]["authenticated"] is True
    assert member.read_line()["result"] == 4096
    # A first request that carries the token may itself be large (up to the pre-auth limit).
    first = connect(harness.port)
    first.send({"id": 3, "type": "execute_code", "token": harness.service.token,
                "params": {"code": "len('" + "y" * 1500 + "')"}})
    assert first.read_line()["result"] == 1500


def test_at_the_connection_limit_a_stranger_gives_way_to_a_client_with_the_token(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), max_connections=3)
    token = harness.service.token
    strangers = [connect(harness.port) for _ in range(3)]
    for s in strangers:  # each one answered: all three hold a slot
        s.send({"id": 1, "type": "hello"})
        s.read_line()
    member = connect(harness.port)
    _authenticate(member, token)
    assert strangers[0].read_until_closed() == b"", "the oldest stranger was evicted"
    assert member.execute("1 + 1")["result"] == 2
    # Once every slot holds an authenticated client, the next connection is refused as busy.
    for s in strangers[1:]:
        _authenticate(s, token)
    late = connect(harness.port)
    reply = late.read_line()
    assert reply["error"]["code"] == "busy" and "limit 3" in reply["error"]["message"]
    assert member.call("ping")["result"]["pong"] is True


def test_a_lone_surrogate_token_is_a_wrong_token(secured, connect):
    c = connect(secured.port)
    c.send_raw(b'{"id": 1, "type": "hello", "token": "\\ud83d"}\n')
    reply = c.read_line()
    assert reply["error"]["code"] == "unauthorized" and "invalid token" in reply["error"]["message"]


def test_a_stranger_that_keeps_sending_is_closed_at_the_deadline(make_service, connect, tmp_path):
    import time

    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), auth_timeout=0.3)
    stranger = connect(harness.port)
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 5:
        try:
            stranger.send_raw(b" " * 4096 + b'{"id": 1, "type": "hello"}\n')
        except OSError:
            closed = True
            break
        time.sleep(0.01)
    assert closed, "a steady stream does not keep a stranger connected"
