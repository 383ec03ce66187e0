"""The threaded TCP server: one accept thread, one thread per client, no asyncio.

Pure module (no bpy). Each connection decodes its bytes with ``framing.MessageDecoder`` and
answers its messages in order, each reply in the framing of its request (v1: one JSON line;
1.3.3: raw JSON). Work that needs bpy is handed to the main thread by the dispatcher.

A connection that has not authenticated (auth on), or has not yet sent one well-formed message
(auth off), is held to strict rules: anything but a well-formed message closes it (no
resynchronising on garbage, so an HTTP request or junk cannot smuggle a JSON line through), and
with auth on it has a small budget of bytes and messages for the handshake and a deadline.
What strangers cause is logged at a bounded rate.
"""

import errno
import itertools
import logging
import select
import socket
import threading
import time

from . import dispatch, errors, handshake, replies
from .framing import LEGACY, V1, CloseAfterReply, FramingError, HttpDetected, Message, MessageDecoder

log = logging.getLogger("bld_remote_mcp")

_RECV_BYTES = 1 << 16
# A possible 1.3.3 message whose parse the decoder put off (framing.py): parsed once the peer
# has sent nothing more for this long.
_DEFERRED_PARSE_DELAY = 0.02
# How long a connection closed at the auth deadline keeps reading (and discarding) its input.
_LINGER_SECONDS = 0.5
_HTTP_REFUSAL = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 78\r\n\r\n"
    b"bld-remote speaks newline-delimited JSON over TCP, not HTTP. Nothing was run.\n"
)


# accept() failing for lack of descriptors or memory: back off (doubling up to the cap) instead
# of retrying at once, which would spin a core while the pending connection stays queued.
_ACCEPT_BACKOFF_FIRST = 0.01
_ACCEPT_BACKOFF_CAP = 0.5
_RESOURCE_ERRNOS = frozenset(getattr(errno, name) for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
                             if hasattr(errno, name))


class PortInUse(OSError):
    pass


class LogThrottle:
    """At most ``limit`` records per ``period`` seconds for events strangers can cause (refused
    connections), then one line saying how many were left out: a flood cannot fill the log."""

    def __init__(self, limit=20, period=60.0, clock=time.monotonic):
        self.limit = limit
        self.period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = None
        self._count = 0
        self._suppressed = 0

    def log(self, level, message, *args):
        with self._lock:
            now = self._clock()
            if self._window_start is None or now - self._window_start >= self.period:
                if self._suppressed:
                    log.log(level, "%d similar messages about refused connections were left out", self._suppressed)
                self._window_start, self._count, self._suppressed = now, 0, 0
            if self._count >= self.limit:
                self._suppressed += 1
                return
            self._count += 1
        log.log(level, message, *args)


def _encode(reply, style):
    data = replies.encode(reply)
    return data if style == LEGACY else data + b"\n"


class Connection:
    def __init__(self, server, sock, address, connection_id):
        self.server = server
        self.sock = sock
        self.address = address
        self.id = connection_id
        settings = server.settings
        # Until it completes the handshake (auth.py), when the service requires one.
        self.authenticated = getattr(server.service, "token", None) is None
        self.challenge = None  # (server_nonce, client_nonce) of the handshake under way
        # The address the client dialled, as the handshake binds its proofs to it.
        self.binding = handshake.binding(sock.getsockname())
        self.connected_at = time.monotonic()
        self.preauth_bytes = 0
        self.preauth_messages = 0
        self.seen_message = False  # a well-formed message was answered: strict framing ends
        limit = settings.max_message_bytes
        if not self.authenticated:
            limit = min(limit, settings.preauth_bytes)
        self.decoder = MessageDecoder(limit, strict=True)
        self.thread = threading.Thread(target=self._serve, name=f"bld-remote-client-{connection_id}", daemon=True)
        self._send_lock = threading.Lock()

    def send(self, reply, style):
        data = _encode(reply, style)
        with self._send_lock:
            self.sock.sendall(data)

    def peer_gone(self):
        """True once the peer closed or reset the connection. Called by this connection's own
        thread while it waits for a job, so peeking cannot race a reader; bytes the peer
        pipelined meanwhile stay unread (and hide a close behind them)."""
        try:
            # select first: with a socket timeout set, recv would wait for data up to it.
            readable, _, _ = select.select([self.sock], [], [], 0)
            if not readable:
                return False
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except (OSError, ValueError):  # reset, or already closed by a shutdown
            return True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _serve(self):
        try:
            self._loop()
        except OSError as exc:  # peer reset, or our own close during shutdown
            log.debug("connection %s ended: %s", self.id, exc)
        except Exception:
            log.exception("connection %s failed", self.id)
        finally:
            self.close()
            self.server.forget(self)

    def _wait_limit(self):
        """How long recv may block: forever between messages of an authenticated client; the
        idle limit inside a half-received message; the auth deadline before authenticating."""
        settings = self.server.settings
        limit = settings.idle_timeout if self.decoder.has_partial() else None
        if self.decoder.has_deferred():
            limit = _DEFERRED_PARSE_DELAY
        if not self.authenticated:
            left = self.connected_at + settings.auth_timeout - time.monotonic()
            limit = left if limit is None else min(limit, left)
        return None if limit is None else max(limit, 0.001)

    def _auth_expired(self):
        return (not self.authenticated
                and time.monotonic() >= self.connected_at + self.server.settings.auth_timeout)

    def _loop(self):
        settings = self.server.settings
        while not self.server.stopping:
            if self._auth_expired():  # also for a stranger that never stops sending
                self._close_unauthenticated(f"not authenticated within {settings.auth_timeout:g} s")
                return
            size = _RECV_BYTES
            if not self.authenticated:
                # Read no further than the handshake budget: a stranger costs at most that.
                left = settings.preauth_bytes - self.preauth_bytes
                if left <= 0:
                    self._close_unauthenticated(f"the {settings.preauth_bytes} bytes allowed before "
                                                "authenticating are spent")
                    return
                size = min(size, left)
            self.sock.settimeout(self._wait_limit())
            try:
                data = self.sock.recv(size)
            except socket.timeout:
                if self._auth_expired():
                    self._close_unauthenticated(f"not authenticated within {settings.auth_timeout:g} s")
                    return
                if self.decoder.has_deferred():
                    # The peer paused after bytes that may end a 1.3.3 message: parse it now.
                    # What it gives is answered like any other input, closes included.
                    if not self._handle(self.decoder.retry_deferred()):
                        return
                    continue
                self._reply_error(self.decoder.expire())
                continue
            if not data:
                return
            if not self.authenticated:
                self.preauth_bytes += len(data)
            if not self._handle(self.decoder.events(data)):
                return

    def _close_unauthenticated(self, reason):
        self.server.throttle.log(logging.INFO, "connection %s from %s closed: %s", self.id, self.address, reason)
        self.sock.settimeout(1.0)  # a peer that does not read must not hold this thread
        self.send(replies.failure(None, errors.UNAUTHORIZED, f"{reason}; closing"), V1)
        # Closing with unread input resets the connection, and a reset can destroy the notice
        # before the peer reads it (a stranger that never stops sending). Send FIN after the
        # notice, and discard input for a moment so that the peer gets a chance to read it.
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(0.05)
        deadline = time.monotonic() + _LINGER_SECONDS
        try:
            while time.monotonic() < deadline and self.sock.recv(_RECV_BYTES):
                pass
        except OSError:
            pass

    def _strict(self):
        """Before authentication (auth on) or before the first well-formed message (auth off)."""
        return not (self.authenticated and self.seen_message)

    def _handle(self, events):
        """Answer decoded events in order. False when the connection must close."""
        for event in events:
            if isinstance(event, HttpDetected):
                self.server.throttle.log(logging.WARNING, "refused an HTTP request from %s: nothing was run",
                                         self.address)
                with self._send_lock:
                    self.sock.sendall(_HTTP_REFUSAL)
                return False
            if isinstance(event, CloseAfterReply):
                return False
            if isinstance(event, FramingError):
                self._reply_error(event)
                if self._strict():
                    # No resynchronising before the peer has shown it speaks the protocol.
                    self.server.throttle.log(logging.INFO, "connection %s from %s closed: %s before a "
                                             "well-formed message", self.id, self.address, event.code)
                    return False
                continue
            if isinstance(event, Message):
                was_authenticated = self.authenticated
                if not was_authenticated:
                    self.preauth_messages += 1
                    if self.preauth_messages > self.server.settings.preauth_messages:
                        self._close_unauthenticated(f"more than {self.server.settings.preauth_messages} "
                                                    "messages sent before authenticating")
                        return False
                keep_open = self._answer(event)
                if self.authenticated:
                    self.seen_message = True
                    self.decoder.strict = False
                if self.authenticated and not was_authenticated:
                    self.decoder.max_message_bytes = self.server.settings.max_message_bytes
                if not keep_open:
                    self.server.throttle.log(logging.INFO, "connection %s from %s closed after a refused "
                                             "handshake", self.id, self.address)
                    return False
        return True

    def _reply_error(self, error):
        if error.style == LEGACY:
            self.send({"status": "error", "message": error.message, "code": error.code}, LEGACY)
        else:
            self.send(replies.failure(None, error.code, error.message), error.style)

    def _answer(self, message):
        """Answers one message; False when the connection must close after the reply."""
        self.server.request_started()
        ctx = None
        try:
            reply, ctx = dispatch.handle(self.server.service, self, message)
            self.send(reply, message.style)
            return not ctx.close_after_reply
        finally:
            self.server.request_finished()
            if ctx is not None:
                # After the reply (or a failed send): a shutdown must never overtake its reply.
                for hook in ctx.after_reply:
                    try:
                        hook()
                    except Exception:
                        log.exception("after-reply hook failed")


class TcpServer:
    def __init__(self, settings, service):
        self.settings = settings
        self.service = service
        self.stopping = False
        self._sock = None
        self._accept_thread = None
        self._connections = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active_requests = 0  # requests between decode and reply sent
        self._ids = itertools.count(1)
        self._wake = threading.Event()  # set by stop(): ends an accept backoff early
        self.throttle = LogThrottle()
        self.accept_errors = 0  # accept() failures (descriptors, memory), each followed by a backoff
        self.port = None

    def start(self):
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # Lets a restarted server rebind while old connections sit in TIME_WAIT; on Linux it
            # does not allow two listeners on one port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError as exc:
            sock.close()
            raise PortInUse(
                exc.errno,
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror or exc}. "
                "Another Blender (or another program) holds this port; stop it or choose another port "
                "with BLD_REMOTE_MCP_PORT.",
            ) from exc
        sock.listen(128)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="bld-remote-accept", daemon=True)
        self._accept_thread.start()
        log.info("listening on %s:%s", self.settings.host, self.port)
        return self.port

    def _accept_loop(self):
        backoff = 0.0
        while not self.stopping:
            try:
                client, address = self._sock.accept()
            except OSError as exc:
                if self.stopping:
                    return
                if exc.errno in _RESOURCE_ERRNOS or self._sock.fileno() < 0:
                    # Out of descriptors: the pending connection stays queued and accept() would
                    # fail again at once. Wait (bounded), and keep serving once they are freed.
                    backoff = min(_ACCEPT_BACKOFF_CAP, backoff * 2 or _ACCEPT_BACKOFF_FIRST)
                    self.accept_errors += 1
                    self.throttle.log(logging.WARNING, "accept failed (%s); retrying in %.2f s", exc, backoff)
                    self._wake.wait(backoff)
                # Anything else (a connection reset before it was accepted): next one.
                continue
            backoff = 0.0
            try:
                self._admit(client, address)
            except Exception as exc:
                # One bad connection (a reset before setsockopt, a thread that cannot start)
                # closes that connection only; the accept loop goes on.
                self.throttle.log(logging.WARNING, "connection from %s dropped while accepting it: %s", address, exc)
                try:
                    client.close()
                except OSError:
                    pass

    def _admit(self, client, address):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        evicted = None
        connection = None
        with self._lock:
            if len(self._connections) >= self.settings.max_connections:
                evicted = self._oldest_unauthenticated()
                if evicted is not None:
                    self._connections.discard(evicted)
            if len(self._connections) < self.settings.max_connections:
                connection = Connection(self, client, address, next(self._ids))
                self._connections.add(connection)
        if evicted is not None:
            self.throttle.log(logging.INFO, "connection %s evicted: at the connection limit and not authenticated",
                              evicted.id)
            evicted.close()
        if connection is None:
            self._refuse(client)
            return
        try:
            connection.thread.start()
        except BaseException:
            with self._lock:
                self._connections.discard(connection)
            raise

    def _oldest_unauthenticated(self):
        """At the limit, a connection that never presented the token gives way to a new one:
        idle strangers must not lock out the clients that hold the token. Caller holds the lock."""
        strangers = [c for c in self._connections if not c.authenticated]
        return min(strangers, key=lambda c: c.connected_at) if strangers else None

    def _refuse(self, client):
        reply = replies.failure(
            None, errors.BUSY, f"too many connections (limit {self.settings.max_connections}); try again later"
        )
        try:
            client.sendall(replies.encode(reply) + b"\n")
        except OSError:
            pass
        client.close()

    def forget(self, connection):
        with self._lock:
            self._connections.discard(connection)
        self.service.connection_closed(connection)

    def request_started(self):
        with self._lock:
            self._active_requests += 1

    def request_finished(self):
        with self._lock:
            self._active_requests -= 1
            if self._active_requests == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout):
        """Wait until no request is being answered (or ``timeout``). Returns whether idle."""
        with self._lock:
            return self._idle.wait_for(lambda: self._active_requests <= 0, timeout)

    def connection_count(self):
        with self._lock:
            return len(self._connections)

    def stop(self):
        """Stop accepting, close every connection. Safe to call twice, from any thread."""
        if self.stopping:
            return
        self.stopping = True
        self._wake.set()
        if self._sock is not None:
            # shutdown() wakes the accept() call blocked in the accept thread.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        current = threading.current_thread()
        if self._accept_thread is not None and self._accept_thread is not current:
            self._accept_thread.join(timeout=2.0)
        for connection in connections:
            if connection.thread is not current:
                connection.thread.join(timeout=2.0)
        log.info("server on port %s stopped", self.port)
