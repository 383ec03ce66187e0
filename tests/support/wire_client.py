"""The one Python client of the addon's wire protocol, for the tests and the benchmarks.

It speaks both framings of docs/protocol.md §2 on one connection: v1 (one JSON object per line,
replies matched by id) and blender-remote 1.3.3's raw JSON (no delimiter: a reply ends where a
JSON object parses), and authenticates with the handshake of §1a through the addon's own
``handshake.authenticate_with`` (the proofs are computed by the code the server checks them with,
not by a copy).

It lives in ``tests/support/`` because both ``tests/`` (unit tests against a plain-Python
service, e2e tests against real Blenders) and ``bench/`` (the suite, the soak, the fuzzer, which
already use ``tests/e2e/harness.py``) import it: put this directory on ``sys.path`` and
``import wire_client``. A client that sends deliberately broken input (the fuzzer's strangers, a
raw socket in a framing test) keeps its own socket code: there the connection handling is the test.

Reads are built for large replies (50 MB results in the benchmarks): a reply arriving in many
chunks is joined once, and a 1.3.3 reply is parsed only when a chunk ends with ``}``.
"""

import itertools
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "blender_addon"))
from bld_remote_mcp.wire import handshake  # noqa: E402

_RECV_BYTES = 1 << 20
_WHITESPACE = b" \t\r\n"  # JSON's, skipped between 1.3.3 messages
_JSON = json.JSONDecoder()


class ConnectionClosed(ConnectionError):
    """The server closed the connection (EOF) before the reply was complete."""


class AuthenticationFailed(ConnectionError):
    """The handshake failed: the server did not prove the token, or refused ours."""


class ReplyMismatch(AssertionError):
    """A reply that does not answer the request just sent (another id): the connection is out of
    step, which is a bug of the server or of the test."""


class Client:
    """One connection. ``timeout`` bounds each wait for bytes unless a read is given its own;
    with ``token`` the connection authenticates before the constructor returns."""

    def __init__(self, port, host="127.0.0.1", token=None, timeout=60.0, connect_timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""  # received bytes not yet returned
        self._ids = itertools.count(1)
        # What a handshake sent and got (client nonce, server nonce, client proof): the fuzzer
        # replays it on a stranger's connection, where it must get nowhere.
        self.handshake_record = None
        if token is not None:
            try:
                self.authenticate(token)
            except BaseException:
                self.close()
                raise

    # -- the connection ----------------------------------------------------------------------
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def authenticate(self, token):
        """The handshake of protocol §1a, as bld-remote's own client does it. Returns the full
        ``hello``; raises AuthenticationFailed if the server did not prove the token or refused
        the client's proof."""
        exchanged = {}

        def call(type_, params):
            exchanged[type_] = (params, self.call(type_, params))
            return exchanged[type_][1]

        try:
            about = handshake.authenticate_with(call, token, self.sock.getpeername())
        except handshake.PeerNotProven as exc:
            raise AuthenticationFailed(f"authentication failed: {exc}") from exc
        hello_params, hello_reply = exchanged["hello"]
        self.handshake_record = {"client_nonce": hello_params["client_nonce"],
                                 "server_nonce": hello_reply["result"]["auth"]["server_nonce"],
                                 "client_proof": exchanged["authenticate"][0]["client_proof"]}
        return about

    # -- sending -----------------------------------------------------------------------------
    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, message):
        """One v1 message: a JSON object and its newline."""
        self.send_raw(json.dumps(message).encode("utf-8") + b"\n")

    def request(self, type_, params=None, request_id=None):
        """Send a v1 request (``params`` left out when None); returns its id."""
        request_id = next(self._ids) if request_id is None else request_id
        message = {"id": request_id, "type": type_}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    # -- receiving ---------------------------------------------------------------------------
    def _recv(self, deadline):
        """One chunk, waiting until ``deadline`` (monotonic) or, with None, up to ``timeout``."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            self.sock.settimeout(left)
        elif self.sock.gettimeout() != self.timeout:  # (a cheap check: settimeout is a system call)
            self.sock.settimeout(self.timeout)
        chunk = self.sock.recv(_RECV_BYTES)
        if not chunk:
            raise ConnectionClosed("the server closed the connection")
        return chunk

    def _recv_keeping(self, chunks, deadline):
        """``_recv`` for a read that has ``chunks`` of a reply so far: when it fails they go back
        to the buffer (nothing is lost for a later read), and a close says what came before it."""
        try:
            return self._recv(deadline)
        except BaseException as exc:
            self._buf = b"".join(chunks)
            if isinstance(exc, ConnectionClosed):
                raise ConnectionClosed(f"the server closed the connection (received: {self._buf[:200]!r})") from None
            raise

    @staticmethod
    def _deadline(timeout):
        return None if timeout is None else time.monotonic() + timeout

    def read_raw_line(self, timeout=None, deadline=None):
        """The next line's bytes, without its newline. ``timeout`` (seconds) or ``deadline``
        (monotonic) bound the whole read; socket.timeout past it, ConnectionError at EOF."""
        deadline = self._deadline(timeout) if deadline is None else deadline
        end = self._buf.find(b"\n")
        if end >= 0:
            line, self._buf = self._buf[:end], self._buf[end + 1:]
            return line
        # A long reply arrives in many chunks: look for the newline in each new chunk only and
        # join once (appending to one buffer would copy it again at every chunk).
        chunks = [self._buf]
        self._buf = b""
        while True:
            chunk = self._recv_keeping(chunks, deadline)
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                self._buf = chunk[end + 1:]
                return b"".join(chunks)
            chunks.append(chunk)

    def read_line(self, timeout=None):
        """The next v1 reply, parsed."""
        return json.loads(self.read_raw_line(timeout))

    def _read_legacy(self, timeout):
        """(bytes, object) of the next 1.3.3 reply: one JSON object with no delimiter. A parse is
        only tried when the bytes end with ``}``; bytes after the object stay for the next read."""
        deadline = self._deadline(timeout)
        chunks = [self._buf.lstrip(_WHITESPACE)]
        self._buf = b""
        ends_with_brace = chunks[0].rstrip(_WHITESPACE).endswith(b"}")
        while True:
            if ends_with_brace:
                data = b"".join(chunks)
                chunks = [data]
                text = data.decode("utf-8", "surrogateescape")
                try:
                    obj, end = _JSON.raw_decode(text)
                except ValueError:
                    pass
                else:
                    rest = text[end:].encode("utf-8", "surrogateescape")
                    self._buf = rest
                    return data[:len(data) - len(rest)], obj
            chunk = self._recv_keeping(chunks, deadline)
            if not any(chunks):
                chunk = chunk.lstrip(_WHITESPACE)  # raw_decode does not skip leading whitespace
            chunks.append(chunk)
            significant = chunk.rstrip(_WHITESPACE)
            if significant:
                ends_with_brace = significant.endswith(b"}")

    def read_legacy(self, timeout=None):
        """The next 1.3.3 reply, parsed."""
        return self._read_legacy(timeout)[1]

    def read_raw_legacy(self, timeout=None):
        """The next 1.3.3 reply's bytes."""
        return self._read_legacy(timeout)[0]

    def read_until_closed(self, timeout=5.0):
        """Every byte until the server closes the connection (socket.timeout if it does not
        within ``timeout``)."""
        deadline = self._deadline(timeout)
        chunks, self._buf = [self._buf], b""
        while True:
            try:
                chunks.append(self._recv(deadline))
            except ConnectionClosed:
                return b"".join(chunks)
            except socket.timeout:
                self._buf = b"".join(chunks)
                raise

    # -- requests and replies ----------------------------------------------------------------
    def call(self, type_, params=None, read_timeout=None):
        """One v1 request, one reply, checked to carry the request's id."""
        request_id = self.request(type_, params)
        reply = self.read_line(read_timeout)
        if not isinstance(reply, dict) or reply.get("id") != request_id:
            raise ReplyMismatch(f"reply {reply!r:.300} does not answer request {request_id!r}")
        return reply

    def execute(self, code, read_timeout=None, **params):
        """``execute_code``; ``params`` go to the request (``timeout`` is the job's timeout)."""
        params["code"] = code
        return self.call("execute_code", params, read_timeout=read_timeout)

    def ok(self, code, read_timeout=None, **params):
        """``execute``, insisting on success; returns the envelope."""
        reply = self.execute(code, read_timeout=read_timeout, **params)
        assert reply.get("status") == "success", json.dumps(reply, indent=1)[:3000]
        return reply

    def legacy_call(self, message, timeout=None):
        """One 1.3.3 message (raw JSON, no newline) on this connection, one 1.3.3 reply."""
        self.send_raw(json.dumps(message).encode("utf-8"))
        return self.read_legacy(timeout)


def legacy_call(port, message, timeout=30.0, host="127.0.0.1"):
    """A 1.3.3 exchange as its clients do it: a connection of its own, one message, one reply."""
    with Client(port, host=host, timeout=timeout, connect_timeout=timeout) as client:
        return client.legacy_call(message)
