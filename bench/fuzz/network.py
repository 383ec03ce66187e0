"""The connection driver: send while reading, half-close, read until the server closes or a
hang; a ``Conversation`` records what was sent when, as the model wants it."""

import selectors
import socket
import time


class Exchange:
    __slots__ = ("received", "eof", "reset", "sent", "hang", "elapsed", "error")

    def __init__(self):
        self.received = bytearray()
        self.eof = False
        self.reset = False
        self.sent = 0
        self.hang = False
        self.elapsed = 0.0
        self.error = None


def connect(port, timeout=10.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def pump(sock, data, half_close, deadline, until=None, ex=None):
    """Send ``data`` and read at the same time (a large reply while we still send must not
    deadlock), optionally half-close, read until EOF, ``until(received)`` or the deadline.
    With ``ex``, adds to that exchange (several sends on one connection)."""
    ex = ex if ex is not None else Exchange()
    started = time.monotonic()
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    sel = selectors.DefaultSelector()
    writing = len(view) > 0
    if not writing and half_close:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
    try:
        while True:
            if until is not None and not writing and until(ex.received):  # (answers come after our bytes)
                break
            left = deadline - time.monotonic()
            if left <= 0:
                ex.hang = True
                break
            for _key, events in sel.select(left):
                if events & selectors.EVENT_WRITE and writing:
                    try:
                        n = sock.send(view[sent:sent + (1 << 18)])
                        sent += n
                    except BlockingIOError:
                        n = 0
                    except OSError as exc:  # the server closed on us (HTTP, a budget, a refusal)
                        ex.error = f"send: {exc.__class__.__name__}"
                        sent = len(view)
                    if sent >= len(view):
                        writing = False
                        sel.modify(sock, selectors.EVENT_READ)
                        if half_close:
                            try:
                                sock.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                if events & selectors.EVENT_READ:
                    try:
                        chunk = sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        ex.reset = True
                        ex.eof = True
                        chunk = b""
                    if not chunk:
                        ex.eof = True
                        break
                    ex.received += chunk
            if ex.eof:
                break
    finally:
        sel.close()
        ex.sent += sent
        ex.elapsed += time.monotonic() - started
    return ex


class Conversation:
    """One fuzz connection: what we sent and when (seconds after connecting, as the model wants
    them), whether and when we half-closed, what came back."""

    def __init__(self, sock):
        self.sock = sock
        self.opened = time.monotonic()
        self.sends = []  # [(seconds after connecting, bytes)]
        self.end_at = None  # when we half-closed
        self.ex = Exchange()

    def send(self, data, timeout, until=None, half_close=False):
        """Send ``data`` while reading; back once ``until(received)`` holds, the server closed,
        or ``timeout`` passed (a hang)."""
        if self.ex.eof or self.ex.hang:
            return
        at = time.monotonic() - self.opened
        if data:
            self.sends.append((at, data))
        if half_close:
            self.end_at = at
        pump(self.sock, data, half_close, time.monotonic() + timeout, until, self.ex)

    def pause(self, seconds):
        """Send nothing for ``seconds`` (part of the input: a peer that stops), reading meanwhile."""
        if not self.over():
            pump(self.sock, b"", False, time.monotonic() + seconds, None, self.ex)
            self.ex.hang = False  # the pause ended by design, not for want of an answer

    def over(self):
        return self.ex.eof or self.ex.hang


def hang_limit(ctx, size):
    # The server answers at once; the idle limit is the longest it may legitimately wait, plus
    # time to move the bytes on a busy machine.
    return ctx.idle_timeout + 5.0 + size / 20e6


def sync_line(k):
    return b'{"id":"fuzz-sync-%d","type":"hello"}\n' % k


def lines_at_least(count):
    return lambda received: received.count(b"\n") >= count
