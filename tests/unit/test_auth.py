"""Authentication (auth.py, tcp_server.py): the token file, the handshake, the gate, the pre-auth
budget and strict framing, against a real service over sockets."""

import json
import os
import socket
import stat
import time

import pytest

from bld_remote_mcp.engine import config
from bld_remote_mcp.wire import auth, handshake


def test_state_dir_follows_bld_remote_rules(tmp_path):
    home = str(tmp_path / "home")
    given, xdg, local, run = (str(tmp_path / name) for name in ("given", "xdg", "local", "run"))
    assert auth.default_state_dir({"BLD_REMOTE_STATE_DIR": given}, "linux", home) == given
    assert auth.default_state_dir({}, "linux", home) == os.path.join(home, ".local", "state", "bld-remote")
    assert auth.default_state_dir({"XDG_STATE_HOME": xdg}, "linux", home) == os.path.join(xdg, "bld-remote")
    assert auth.default_state_dir({"XDG_STATE_HOME": "relative"}, "linux", home) == os.path.join(
        home, ".local", "state", "bld-remote"), "a relative XDG dir is ignored, as the spec says"
    assert auth.default_state_dir({}, "darwin", home) == os.path.join(home, "Library", "Application Support", "bld-remote")
    assert auth.default_state_dir({"LOCALAPPDATA": local}, "win32", home) == os.path.join(local, "bld-remote")
    assert auth.token_path(xdg, 6688) == os.path.join(xdg, "tokens", "6688.token")


def test_without_a_home_the_per_user_runtime_dir_is_used_and_never_a_shared_temp_dir(tmp_path):
    run = str(tmp_path / "run")
    # expanduser("~") gives "~" back when no home can be found: not an absolute path.
    assert auth.default_state_dir({"XDG_RUNTIME_DIR": run}, "linux", "~") == os.path.join(run, "bld-remote")
    with pytest.raises(auth.NoStateDir, match="BLD_REMOTE_STATE_DIR"):
        auth.default_state_dir({}, "linux", "~")
    with pytest.raises(auth.NoStateDir):
        auth.default_state_dir({"XDG_RUNTIME_DIR": "tmp"}, "linux", "")


def test_token_file_is_private_and_only_our_own_is_removed(tmp_path):
    path = str(tmp_path / "state" / "tokens" / "7000.token")
    token = auth.generate_token()
    assert len(token) >= 40 and token != auth.generate_token()
    auth.write_token_file(path, token)
    assert open(path).read() == token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "tokens").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert os.listdir(tmp_path / "state" / "tokens") == ["7000.token"], "no temp file left behind"
    auth.remove_token_file(path, "someone-elses-token")
    assert os.path.exists(path), "a newer server's token file is left alone"
    auth.remove_token_file(path, token)
    assert not os.path.exists(path)
    auth.remove_token_file(path, token)  # already gone: no error


def test_a_planted_file_at_the_token_path_is_replaced_not_written_through(tmp_path):
    tokens = tmp_path / "state" / "tokens"
    tokens.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "state", 0o700)
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("keep")
    os.symlink(victim, tokens / "7000.token")  # a link planted where the token goes
    auth.write_token_file(str(tokens / "7000.token"), "t" * 20)
    assert victim.read_text() == "keep", "the link's target was not written"
    assert not os.path.islink(tokens / "7000.token")
    assert stat.S_IMODE(os.stat(tokens / "7000.token").st_mode) == 0o600


def test_auth_settings_from_the_environment():
    assert config.from_env({}).auth is True
    assert config.from_env({"BLD_REMOTE_MCP_AUTH": "off"}).auth is False
    assert config.from_env({"BLD_REMOTE_MCP_TOKEN": " abcdefghijklmnopq "}).token == "abcdefghijklmnopq"
    settings = config.from_env({"BLD_REMOTE_MCP_PREAUTH_BYTES": "1024", "BLD_REMOTE_MCP_PREAUTH_MESSAGES": "3"})
    assert (settings.preauth_bytes, settings.preauth_messages) == (1024, 3)
    assert (config.from_env({}).preauth_bytes, config.from_env({}).preauth_messages) == (4096, 4)
    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_PREAUTH_MESSAGES must be >= 2"):
        config.from_env({"BLD_REMOTE_MCP_PREAUTH_MESSAGES": "1"})
    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_AUTH must be on or off"):
        config.from_env({"BLD_REMOTE_MCP_AUTH": "maybe"})
    with pytest.raises(ValueError, match="at least 16"):
        config.Settings(token="short").check()
    with pytest.raises(ValueError, match="without authentication"):
        config.Settings(host="0.0.0.0", allow_remote=True, auth=False).check()
    config.Settings(host="0.0.0.0", allow_remote=True, auth=True).check()


def test_localhost_means_the_ipv4_loopback_address():
    for name in ("localhost", "LocalHost", " localhost "):
        assert config.Settings(host=name).check().host == "127.0.0.1"
    assert config.Settings(host="::1").check().host == "::1"


@pytest.fixture
def secured(make_service, tmp_path):
    return make_service(auth=True, state_dir=str(tmp_path / "state"))


def test_the_token_file_lives_while_the_server_does(secured, tmp_path):
    service = secured.service
    path = tmp_path / "state" / "tokens" / f"{service.port}.token"
    assert path.read_text() == service.token
    secured.close()
    assert not path.exists()


def test_a_given_token_is_used(make_service, tmp_path):
    harness = make_service(auth=True, token="x" * 20, state_dir=str(tmp_path / "s"))
    assert harness.service.token == "x" * 20


def test_a_state_dir_another_user_can_write_stops_the_start(make_service, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # world-writable, no sticky bit: another user could swap our dir
    with pytest.raises(OSError, match=r"can be written by other users .*chmod go-w"):
        make_service(auth=True, state_dir=str(shared / "state"))


# -- the handshake -------------------------------------------------------------------------------
def _assert_closed(client):
    assert client.read_until_closed() == b""


def test_nothing_runs_without_authenticating_and_each_refusal_closes(secured, connect, tmp_path):
    marker = tmp_path / "ran"
    for command, params in (("execute_code", {"code": f"open({str(marker)!r}, 'w').write('x')"}),
                            ("ping", None), ("status", None), ("list_jobs", None), ("shutdown", None),
                            ("make_coffee", None)):
        c = connect(secured.service.port)
        reply = c.call(command, params)
        assert reply["status"] == "error" and reply["error"]["code"] == "unauthorized", command
        assert "not authenticated" in reply["error"]["message"] and "tokens" in reply["error"]["message"]
        _assert_closed(c)
    assert not marker.exists()


def test_hello_before_authentication_says_nothing_about_this_blender(secured, connect):
    c = connect(secured.service.port)
    hello = c.call("hello")["result"]
    assert hello == {"protocol_version": 2, "server": "bld-remote", "auth_required": True,
                     "authenticated": False, "auth": {"scheme": "hmac-sha256"}}
    nonce = handshake.new_nonce()
    challenge = c.call("hello", {"client_nonce": nonce})["result"]
    assert set(challenge) == {"protocol_version", "server", "auth_required", "authenticated", "auth"}
    auth_part = challenge["auth"]
    assert handshake.is_nonce(auth_part["server_nonce"])
    bound = handshake.binding(c.sock.getpeername())
    expected = handshake.proof(secured.service.token, handshake.SERVER, auth_part["server_nonce"], nonce, bound)
    assert auth_part["server_proof"] == expected, "the server proves the token for the address dialled"


def test_the_handshake_authenticates_the_connection_once(secured, connect):
    c = connect(secured.service.port)
    about = c.authenticate(secured.service.token)
    assert about["pid"] == os.getpid() and about["port"] == secured.service.port and about["authenticated"]
    assert c.execute("6 * 7")["result"] == 42, "later requests need nothing more"
    assert c.call("hello")["result"]["pid"] == os.getpid()
    assert c.call("authenticate", {"client_proof": "anything"})["result"]["authenticated"] is True
    other = connect(secured.service.port)
    assert other.call("ping")["error"]["code"] == "unauthorized", "each connection authenticates itself"


def test_a_wrong_proof_is_refused_and_the_connection_closed(secured, connect, tmp_path):
    c = connect(secured.service.port)
    nonce = handshake.new_nonce()
    challenge = c.call("hello", {"client_nonce": nonce})["result"]
    wrong = handshake.proof("not-the-token-at-all", handshake.CLIENT, challenge["auth"]["server_nonce"], nonce,
                            handshake.binding(c.sock.getpeername()))
    reply = c.call("authenticate", {"client_proof": wrong})
    assert reply["error"]["code"] == "unauthorized" and "proof does not match" in reply["error"]["message"]
    _assert_closed(c)


def test_a_proof_for_another_address_is_refused(secured, connect):
    """What a relay on [::1] or another port would forward: the client's proof is for the
    address it dialled, not for this server's."""
    c = connect(secured.service.port)
    nonce = handshake.new_nonce()
    challenge = c.call("hello", {"client_nonce": nonce})["result"]
    for relay in (f"[::1]:{secured.service.port}", f"127.0.0.1:{secured.service.port + 1}"):
        proof = handshake.proof(secured.service.token, handshake.CLIENT, challenge["auth"]["server_nonce"], nonce,
                                relay)
        assert not handshake.proof_matches(
            handshake.proof(secured.service.token, handshake.CLIENT, challenge["auth"]["server_nonce"], nonce,
                            handshake.binding(c.sock.getpeername())), proof)
    reply = c.call("authenticate", {"client_proof": proof})
    assert reply["error"]["code"] == "unauthorized" and "127.0.0.1:" in reply["error"]["message"]
    _assert_closed(c)


def test_a_recorded_handshake_replays_to_nothing(secured, connect, tmp_path):
    marker = tmp_path / "ran"
    first = connect(secured.service.port)
    nonce = handshake.new_nonce()
    challenge = first.call("hello", {"client_nonce": nonce})["result"]
    proof = handshake.answer_challenge(secured.service.token, challenge, nonce,
                                       handshake.binding(first.sock.getpeername()))
    assert first.call("authenticate", {"client_proof": proof})["result"]["authenticated"] is True
    # An eavesdropper replays the same client messages on a new connection.
    replay = connect(secured.service.port)
    assert replay.call("hello", {"client_nonce": nonce})["result"]["auth"]["server_nonce"] != \
        challenge["auth"]["server_nonce"]
    reply = replay.call("authenticate", {"client_proof": proof})
    assert reply["error"]["code"] == "unauthorized"
    _assert_closed(replay)
    # ... and a challenge takes one answer: the same proof twice on one connection fails too.
    again = connect(secured.service.port)
    challenge = again.call("hello", {"client_nonce": nonce})["result"]
    proof = handshake.answer_challenge(secured.service.token, challenge, nonce,
                                       handshake.binding(again.sock.getpeername()))
    again.send({"id": "a", "type": "authenticate", "params": {"client_proof": "wrong"}})
    assert again.read_line()["error"]["code"] == "unauthorized"
    _assert_closed(again)
    assert not marker.exists()


def test_authenticate_without_a_challenge_is_refused(secured, connect):
    c = connect(secured.service.port)
    reply = c.call("authenticate", {"client_proof": "x" * 43})
    assert reply["error"]["code"] == "unauthorized" and "send hello with a client_nonce" in reply["error"]["message"]
    _assert_closed(c)


def test_a_malformed_client_nonce_is_invalid_params_and_the_connection_stays(secured, connect):
    c = connect(secured.service.port)
    for bad in ("short", "=" * 43):  # two, so the handshake still fits the budget of 4 messages
        reply = c.call("hello", {"client_nonce": bad})
        assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "client_nonce"
    c.authenticate(secured.service.token)


def test_a_protocol_1_token_on_the_wire_is_refused(secured, connect, tmp_path):
    """Whoever answers a port would receive a token sent this way: the server refuses it even
    when it is the right one, so clients that still do it are told to update."""
    marker = tmp_path / "ran"
    c = connect(secured.service.port)
    c.send({"id": 1, "type": "execute_code", "token": secured.service.token,
            "params": {"code": f"open({str(marker)!r}, 'w')"}})
    reply = c.read_line()
    assert reply["error"]["code"] == "unauthorized" and "never takes the token" in reply["error"]["message"]
    _assert_closed(c)
    assert not marker.exists()


def test_legacy_messages_are_refused_in_their_own_shape(secured, connect, tmp_path):
    marker = tmp_path / "legacy_ran"
    for message in ({"type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w')"}},
                    {"code": f"open({str(marker)!r}, 'w')"}):
        c = connect(secured.service.port)
        c.send_raw(json.dumps(message).encode())
        reply = c.read_legacy()
        assert reply["status"] == "error" and reply["message"].startswith("Unauthorized:")
        assert "BLD_REMOTE_MCP_AUTH=off" in reply["message"]
        _assert_closed(c)
    assert not marker.exists()


def test_a_lone_surrogate_proof_is_a_wrong_proof(secured, connect):
    c = connect(secured.service.port)
    c.call("hello", {"client_nonce": handshake.new_nonce()})
    c.send_raw(b'{"id": 2, "type": "authenticate", "params": {"client_proof": "\\ud83d"}}\n')
    assert c.read_line()["error"]["code"] == "unauthorized"
    _assert_closed(c)


# -- strangers cannot hold slots, buffers or CPU --------------------------------------------------
def test_a_connection_that_does_not_authenticate_is_closed_at_the_deadline(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), auth_timeout=0.3, idle_timeout=5.0)
    stranger = connect(harness.port)
    stranger.send({"id": 1, "type": "hello"})  # a hello does not extend the deadline
    assert stranger.read_line()["result"]["authenticated"] is False
    stranger.send_raw(b'{"id": 2, "type": "pi')  # nor does a half-sent message
    reply = stranger.read_line(timeout=5)
    assert reply["error"]["code"] == "unauthorized" and "within 0.3 s" in reply["error"]["message"]
    assert stranger.read_until_closed() == b""
    member = connect(harness.port)
    member.authenticate(harness.service.token)
    # The member outlives the strangers' deadline: a stranger connected after it is closed first.
    late = connect(harness.port)
    assert late.read_line(timeout=5)["error"]["code"] == "unauthorized"
    assert member.call("ping")["result"]["pong"] is True, "the deadline is for strangers only"


def test_more_bytes_than_the_budget_before_authenticating_closes_the_connection(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), preauth_bytes=1024)
    stranger = connect(harness.port)
    stranger.send_raw(b'{"id": 1, "type": "hello", "padding": "' + b"x" * 2000 + b'"}\n')
    reply = stranger.read_line()
    assert reply["error"]["code"] in ("message_too_large", "unauthorized")
    _assert_closed(stranger)
    # Many small hellos spend the byte budget too (and, sooner, the message budget).
    spender = connect(harness.port)
    for _ in range(3):
        spender.send({"id": 1, "type": "hello", "params": {"client_nonce": handshake.new_nonce()}})
        spender.read_line()
    spender.send_raw(b" " * 900)  # whitespace between messages counts as well
    spender.send({"id": 9, "type": "hello"})
    reply = spender.read_line()
    assert reply["error"]["code"] == "unauthorized" and "bytes allowed before authenticating are spent" in reply["error"]["message"]
    _assert_closed(spender)


def test_more_messages_than_the_budget_before_authenticating_closes_the_connection(make_service, connect,
                                                                                   tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), preauth_messages=3)
    stranger = connect(harness.port)
    for _ in range(3):
        assert stranger.call("hello")["result"]["authenticated"] is False
    stranger.send({"id": 4, "type": "hello"})
    reply = stranger.read_line()
    assert reply["error"]["code"] == "unauthorized" and "more than 3 messages" in reply["error"]["message"]
    _assert_closed(stranger)


def test_after_authenticating_the_full_message_size_applies_even_in_the_same_burst(make_service, connect,
                                                                                  tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), preauth_bytes=1024)
    big = "x" * 100_000
    member = connect(harness.port)
    nonce = handshake.new_nonce()
    challenge = member.call("hello", {"client_nonce": nonce})["result"]
    proof = handshake.answer_challenge(harness.service.token, challenge, nonce,
                                       handshake.binding(member.sock.getpeername()))
    member.send_raw((json.dumps({"id": 0, "type": "authenticate", "params": {"client_proof": proof}}) + "\n"
                     + json.dumps({"id": 1, "type": "execute_code", "params": {"code": f"len({big!r})"}}) + "\n")
                    .encode())
    assert member.read_line()["result"]["authenticated"] is True
    assert member.read_line()["result"] == 100_000


def test_at_the_connection_limit_a_stranger_gives_way_to_an_authenticated_client(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"), max_connections=3)
    token = harness.service.token
    strangers = [connect(harness.port) for _ in range(3)]
    for s in strangers:  # each one answered: all three hold a slot
        s.call("hello")
    member = connect(harness.port)
    member.authenticate(token)
    assert strangers[0].read_until_closed() == b"", "the oldest stranger was evicted"
    assert member.execute("1 + 1")["result"] == 2
    # Once every slot holds an authenticated client, the next connection is refused as busy.
    for s in strangers[1:]:
        s.authenticate(token)
    late = connect(harness.port)
    reply = late.read_line()
    assert reply["error"]["code"] == "busy" and "limit 3" in reply["error"]["message"]
    assert member.call("ping")["result"]["pong"] is True


def test_a_stranger_that_keeps_sending_is_closed_with_a_notice(make_service, connect, tmp_path):
    harness = make_service(auth=True, state_dir=str(tmp_path / "s"))
    stranger = connect(harness.port)
    stranger.send_raw(b" " * 8192)
    answer = stranger.read_until_closed()
    notice = json.loads(answer)
    assert notice["error"]["code"] == "unauthorized"
    assert notice["error"]["message"] == "the 4096 bytes allowed before authenticating are spent; closing"


# -- no resynchronising on garbage before a connection is vetted ----------------------------------
HTTPISH = [b"post / HTTP/1.1\r\n\r\n", b"FOO / HTTP/1.1\r\n\r\n", b"GET\t/ HTTP/1.1\r\n\r\n", b"get /\r\n",
           b"PRI * HTTP/2.0\r\n\r\n", b"X"]
JUNK = [b"\x00\x01junk\n", b"]\n", b"\xff\xfe\n", b"{not json}\n", b"1234\n", b'"string"\n']


@pytest.mark.parametrize("auth_on", [True, False], ids=["auth-on", "auth-off"])
@pytest.mark.parametrize("prefix", HTTPISH + JUNK)
def test_junk_before_a_well_formed_message_closes_the_connection_and_nothing_behind_it_runs(
        make_service, connect, tmp_path, auth_on, prefix):
    marker = tmp_path / "ran"
    harness = make_service(auth=auth_on, state_dir=str(tmp_path / "s"))
    c = connect(harness.port)
    line = json.dumps({"id": 1, "type": "execute_code", "params": {"code": f"open({str(marker)!r}, 'w')"}})
    c.send_raw(prefix + line.encode() + b"\n")
    answer = c.read_until_closed()
    if prefix[:1].isalpha():
        assert answer.startswith(b"HTTP/1.1 403 Forbidden"), answer
    else:
        assert b'"parse_error"' in answer and answer.count(b"\n") == 1, answer
    assert not marker.exists()
    # The same bytes split across writes are refused the same way.
    c = connect(harness.port)
    c.send_raw(prefix[:1])
    time.sleep(0.05)
    try:
        c.send_raw(prefix[1:] + line.encode() + b"\n")
    except OSError:
        pass  # already closed: also a refusal
    c.read_until_closed()
    assert not marker.exists()


def test_with_auth_off_a_vetted_connection_still_resynchronises_after_garbage(make_service, connect):
    harness = make_service(auth=False)
    c = connect(harness.port)
    assert c.call("ping")["result"]["pong"] is True
    c.send_raw(b"not json\n")
    assert c.read_line()["error"]["code"] == "parse_error"
    assert c.execute("1 + 2")["result"] == 3, "a client that spoke the protocol keeps its connection"


# -- the accept loop survives what the operating system throws at it -------------------------------
def _swap_listener(harness, connect, listener):
    """Puts ``listener`` in place of the server's socket. The accept thread is blocked in the
    old socket's accept(): one connection served through it brings the thread back to the loop,
    which then calls the new one."""
    server = harness.service.server
    server._sock = listener
    assert connect(harness.port).call("ping")["result"]["pong"] is True


class _FlakyListener:
    """Wraps the real listening socket: accept() first fails with the given errors, then works;
    accepted sockets may refuse setsockopt."""

    def __init__(self, real, errors, broken_setsockopt=0):
        self.real = real
        self.errors = list(errors)
        self.broken_setsockopt = broken_setsockopt

    def accept(self):
        if self.errors:
            raise self.errors.pop(0)
        client, address = self.real.accept()
        if self.broken_setsockopt:
            self.broken_setsockopt -= 1
            return _NoSetsockopt(client), address
        return client, address

    def __getattr__(self, name):
        return getattr(self.real, name)


class _NoSetsockopt:
    def __init__(self, sock):
        self.sock = sock

    def setsockopt(self, *args):
        raise OSError(22, "Invalid argument (injected)")

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_running_out_of_descriptors_backs_off_and_serving_resumes(make_service, connect):
    import errno

    harness = make_service(auth=False)
    server = harness.service.server
    waits = []
    real_wait = server._wake.wait
    server._wake.wait = lambda delay: (waits.append(delay), real_wait(0))[1]
    emfile = OSError(errno.EMFILE, "Too many open files")
    _swap_listener(harness, connect,
                   _FlakyListener(server._sock, [emfile, emfile, OSError(errno.ENFILE, "table full"), emfile]))
    c = connect(harness.port)
    assert c.call("ping")["result"]["pong"] is True, "served once descriptors are back"
    assert waits == [0.01, 0.02, 0.04, 0.08], "each failure waits, doubling: no spinning"
    assert server.accept_errors == 4


def test_the_backoff_is_capped():
    from bld_remote_mcp.wire import tcp_server

    delay, delays = 0.0, []
    for _ in range(12):
        delay = min(tcp_server._ACCEPT_BACKOFF_CAP, delay * 2 or tcp_server._ACCEPT_BACKOFF_FIRST)
        delays.append(delay)
    assert delays[-1] == 0.5 and max(delays) == 0.5


def test_a_setsockopt_failure_drops_that_connection_only(make_service, connect):
    harness = make_service(auth=False)
    server = harness.service.server
    _swap_listener(harness, connect, _FlakyListener(server._sock, [], broken_setsockopt=1))
    doomed = connect(harness.port)
    assert doomed.read_until_closed() == b"", "the connection whose setsockopt failed is closed"
    c = connect(harness.port)
    assert c.call("ping")["result"]["pong"] is True, "the accept thread goes on"
    assert server._accept_thread.is_alive()


def test_a_reset_before_accept_does_not_stop_the_accept_thread(make_service, connect):
    import errno

    harness = make_service(auth=False)
    server = harness.service.server
    _swap_listener(harness, connect, _FlakyListener(server._sock, [OSError(errno.ECONNABORTED, "aborted")]))
    c = connect(harness.port)
    assert c.call("ping")["result"]["pong"] is True


def test_the_log_of_refused_connections_is_bounded():
    import logging

    from bld_remote_mcp.wire.tcp_server import LogThrottle

    now = [0.0]
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("bld_remote_mcp")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        throttle = LogThrottle(limit=3, period=10.0, clock=lambda: now[0])
        for i in range(100):
            throttle.log(logging.INFO, "refused %d", i)
        assert [r.getMessage() for r in records] == ["refused 0", "refused 1", "refused 2"]
        now[0] = 10.0
        throttle.log(logging.INFO, "refused %d", 100)
        assert [r.getMessage() for r in records[3:]] == [
            "97 similar messages about refused connections were left out", "refused 100"]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_strangers_closed_at_the_deadline_are_not_each_logged(make_service, connect, tmp_path, caplog):
    import logging

    harness = make_service(auth=True, state_dir=str(tmp_path / "s"))
    with caplog.at_level(logging.INFO, logger="bld_remote_mcp"):
        for _ in range(40):
            c = connect(harness.port)
            c.send_raw(b"GET / HTTP/1.1\r\n\r\n")
            c.read_until_closed()
    refused = [r for r in caplog.records if "refused an HTTP request" in r.getMessage()]
    assert len(refused) == 20, len(refused)


def test_the_binding_of_a_connection_is_the_address_it_was_dialled_on(secured, connect):
    c = connect(secured.service.port)
    c.authenticate(secured.service.token)
    [connection] = [x for x in secured.service.server._connections]
    assert connection.binding == f"127.0.0.1:{secured.service.port}"
    assert handshake.binding(c.sock.getpeername()) == connection.binding


def test_a_socket_that_cannot_tell_its_address_is_dropped(make_service, connect):
    harness = make_service(auth=False)
    server = harness.service.server

    class _NoName(_NoSetsockopt):
        def setsockopt(self, *args):
            return self.sock.setsockopt(*args)

        def getsockname(self):
            raise OSError(107, "Transport endpoint is not connected (injected)")

    class _Listener(_FlakyListener):
        def accept(self):
            client, address = self.real.accept()
            if self.errors:
                self.errors.pop()
                return _NoName(client), address
            return client, address

    _swap_listener(harness, connect, _Listener(server._sock, [None]))
    doomed = connect(harness.port)
    assert doomed.read_until_closed() == b""
    assert connect(harness.port).call("ping")["result"]["pong"] is True


def test_hello_with_auth_off_is_the_full_hello(make_service, connect):
    harness = make_service(auth=False)
    hello = connect(harness.port).call("hello")["result"]
    assert hello["auth_required"] is False and hello["authenticated"] is True and hello["pid"] == os.getpid()
    assert hello["protocol_version"] == 2


def test_ipv6_connections_are_bound_to_the_ipv6_address(make_service, connect, tmp_path):
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback; the tests expect one")
    harness = make_service(auth=True, host="::1", state_dir=str(tmp_path / "s"))
    sock = socket.create_connection(("::1", harness.port))
    try:
        sock.sendall(json.dumps({"id": 1, "type": "hello", "params": {"client_nonce": (n := handshake.new_nonce())}})
                     .encode() + b"\n")
        reply = json.loads(sock.makefile().readline())
        proof = reply["result"]["auth"]["server_proof"]
        assert proof == handshake.proof(harness.service.token, handshake.SERVER, reply["result"]["auth"]["server_nonce"],
                                        n, f"[::1]:{harness.port}")
    finally:
        sock.close()
