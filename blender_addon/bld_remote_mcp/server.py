"""The threaded TCP server: one accept thread, one thread per client, no asyncio.

Pure module (no bpy). Each connection decodes its bytes with ``framing.MessageDecoder`` and
answers its messages in order, each reply in the framing of its request (v1: one JSON line;
1.3.3: raw JSON). Work that needs bpy is handed to the main thread by the dispatcher.
"""

import itertools
import logging
import select
import socket
import threading
import time

from . import dispatch, replies
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


class PortInUse(OSError):
    pass


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
        # Until it presents the token (auth.py), when the service requires one.
        self.authenticated = getattr(server.service, "token", None) is None
        self.connected_at = time.monotonic()
        limit = settings.max_message_bytes
        if not self.authenticated:
            limit = min(limit, settings.max_preauth_message_bytes)
        self.decoder = MessageDecoder(limit)
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
        while not self.server.stopping:
            if self._auth_expired():  # also for a stranger that never stops sending
                self._close_unauthenticated()
                return
            self.sock.settimeout(self._wait_limit())
            try:
                data = self.sock.recv(_RECV_BYTES)
            except socket.timeout:
                if self._auth_expired():
                    self._close_unauthenticated()
                    return
                if self.decoder.has_deferred():
                    # The peer paused after bytes that may end a 1.3.3 message: parse it now.
                    self._handle(self.decoder.retry_deferred())
                    continue
                self._reply_error(self.decoder.expire())
                continue
            if not data:
                return
            if not self._handle(self.decoder.events(data)):
                return

    def _close_unauthenticated(self):
        log.info("connection %s from %s closed: no token within %g s", self.id, self.address,
                 self.server.settings.auth_timeout)
        self.sock.settimeout(1.0)  # a peer that does not read must not hold this thread
        self.send(replies.failure(None, "unauthorized", "no valid token presented within "
                                  f"{self.server.settings.auth_timeout:g} s; closing"), V1)
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

    def _handle(self, events):
        """Answer decoded events in order. False when the connection must close."""
        for event in events:
            if isinstance(event, HttpDetected):
                log.warning("refused an HTTP request from %s: nothing was run", self.address)
                with self._send_lock:
                    self.sock.sendall(_HTTP_REFUSAL)
                return False
            if isinstance(event, CloseAfterReply):
                return False
            if isinstance(event, FramingError):
                self._reply_error(event)
                continue
            if isinstance(event, Message):
                was_authenticated = self.authenticated
                self._answer(event)
                if self.authenticated and not was_authenticated:
                    self.decoder.max_message_bytes = self.server.settings.max_message_bytes
        return True

    def _reply_error(self, error):
        if error.style == LEGACY:
            self.send({"status": "error", "message": error.message, "code": error.code}, LEGACY)
        else:
            self.send(replies.failure(None, error.code, error.message), error.style)

    def _answer(self, message):
        self.server.request_started()
        ctx = None
        try:
            reply, ctx = dispatch.handle(self.server.service, self, message)
            self.send(reply, message.style)
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
        while not self.stopping:
            try:
                client, address = self._sock.accept()
            except OSError:
                if self.stopping:
                    return
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            evicted = None
            with self._lock:
                if len(self._connections) >= self.settings.max_connections:
                    evicted = self._oldest_unauthenticated()
                    if evicted is not None:
                        self._connections.discard(evicted)
                refuse = len(self._connections) >= self.settings.max_connections
                if not refuse:
                    connection = Connection(self, client, address, next(self._ids))
                    self._connections.add(connection)
            if evicted is not None:
                log.info("connection %s evicted: at the connection limit and not authenticated", evicted.id)
                evicted.close()
            if refuse:
                self._refuse(client)
                continue
            connection.thread.start()

    def _oldest_unauthenticated(self):
        """At the limit, a connection that never presented the token gives way to a new one:
        idle strangers must not lock out the clients that hold the token. Caller holds the lock."""
        strangers = [c for c in self._connections if not c.authenticated]
        return min(strangers, key=lambda c: c.connected_at) if strangers else None

    def _refuse(self, client):
        reply = replies.failure(
            None, "busy", f"too many connections (limit {self.settings.max_connections}); try again later"
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
