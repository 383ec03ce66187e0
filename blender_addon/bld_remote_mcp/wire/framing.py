"""Turns the bytes of one TCP connection into messages.

Pure module (no bpy). Two framings share a port:

* protocol v1: one JSON object per line (newline-delimited JSON);
* blender-remote 1.3.3 ("legacy"): one raw JSON object with no delimiter at all.

A newline-terminated object is v1. A complete object with no newline after it is legacy,
unless it carries an ``id`` (then it is a v1 request whose newline has not arrived yet).
Anything that starts like an HTTP request is reported so that the server can refuse it
and close the connection without executing anything. In strict mode (a connection that has not
yet shown it speaks the protocol) any first byte but ``{`` ends the stream at once: a letter is
taken for an HTTP request (any method, any case), anything else is a parse error; the server then
closes the connection, so junk can never be skipped to reach a JSON line behind it.
"""

import json

from . import errors

V1 = "v1"
LEGACY = "legacy"

_WHITESPACE = b" \t\r\n"
_HTTP_METHODS = (b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"PRI")
_HTTP_PREFIXES = tuple(m + b" " for m in _HTTP_METHODS)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# Strict JSON in, as out: NaN/Infinity are Python extensions that other peers cannot read back.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class Message:
    """A well-formed JSON object and the framing it arrived in."""

    __slots__ = ("style", "body")

    def __init__(self, style, body):
        self.style = style
        self.body = body

    def __repr__(self):
        return f"Message({self.style!r}, {self.body!r})"


class FramingError:
    """Input that is not a well-formed message. ``code`` is a protocol error code."""

    __slots__ = ("style", "code", "message")

    def __init__(self, style, code, message):
        self.style = style
        self.code = code
        self.message = message

    def __repr__(self):
        return f"FramingError({self.style!r}, {self.code!r}, {self.message!r})"


class CloseAfterReply:
    """Input after which the stream cannot be resynchronised: answer, then close."""

    __slots__ = ()


class HttpDetected:
    """The peer speaks HTTP (for example a web page POSTing to localhost)."""

    __slots__ = ()


def _is_incomplete(exc, text):
    """Whether a JSON error only means 'more bytes are needed'."""
    if exc.msg.startswith("Unterminated string"):
        return True
    return exc.pos >= len(text.rstrip())



class MessageDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the events completed by those bytes."""

    def __init__(self, max_message_bytes, strict=False):
        self.max_message_bytes = max_message_bytes
        self.strict = strict  # see the module doc; the server clears it once the peer is vetted
        self._buf = bytearray()
        self._scan_from = 0  # bytes before this offset hold no newline
        self._skipping = False  # dropping the rest of an oversized/bad line
        # A 1.3.3 message has no delimiter: an unterminated buffer ending in '}' is parsed to see
        # whether it is complete. Parsing the whole buffer at every read would let a peer that
        # drips bytes cost O(n^2), so: the end is tracked over new bytes only, a parse is tried
        # again only once the buffer has doubled, and otherwise put off ("deferred") until the
        # peer pauses (the server then calls retry_deferred()).
        self._tail_from = 0  # bytes before this offset were looked at for the last significant byte
        self._last_significant = -1  # offset of the last non-whitespace byte, or -1
        self._parsed_at = 0  # buffer size at the last parse that found the message incomplete
        self._deferred = False
        self._force = False

    def has_deferred(self):
        """True when a possibly complete 1.3.3 message waits for the peer to pause."""
        return self._deferred

    def retry_deferred(self):
        """Events from parsing the deferred message now (the peer paused)."""
        self._force = True
        try:
            yield from self.events(b"")
        finally:
            self._force = False

    def has_partial(self):
        """True when bytes of an unfinished message are buffered."""
        # feed() strips leading whitespace, so any buffered byte belongs to a message.
        return bool(self._buf) and not self._skipping

    def expire(self):
        """Drop an unfinished message after the idle limit; returns the error to send."""
        size = len(self._buf)
        style = self._guess_style()
        self._reset_buffer()
        return FramingError(
            style, errors.INCOMPLETE_MESSAGE, f"incomplete message dropped after idle limit ({size} bytes buffered)"
        )

    def _guess_style(self):
        """Framing of a message that never completed: v1 requests are the ones carrying an id."""
        return V1 if b'"id"' in self._buf else LEGACY

    def _forget_scans(self):
        self._scan_from = 0
        self._tail_from = 0
        self._last_significant = -1
        self._parsed_at = 0
        self._deferred = False

    def _reset_buffer(self):
        del self._buf[:]
        self._forget_scans()

    def _consume(self, count):
        del self._buf[:count]
        self._forget_scans()

    def _ends_with_brace(self):
        """Whether the last non-whitespace byte is '}', looking only at bytes not seen before."""
        new = bytes(self._buf[self._tail_from:]).rstrip(_WHITESPACE)
        if new:
            self._last_significant = self._tail_from + len(new) - 1
        self._tail_from = len(self._buf)
        return self._last_significant >= 0 and self._buf[self._last_significant] == 0x7D  # '}'

    def _leading_whitespace(self):
        """How many whitespace bytes start the buffer. Counted in place: `lstrip` would copy
        the whole buffer at every chunk, quadratic in the size of a large message (a 10 MB
        request arrives in about 160 chunks). The bytes counted are consumed next, so each
        is looked at once."""
        buf, count = self._buf, 0
        size = len(buf)
        while count < size and buf[count] in _WHITESPACE:
            count += 1
        return count

    def feed(self, data):
        """All the events completed by ``data``, as a list."""
        return list(self.events(data))

    def events(self, data):
        """The events completed by ``data``, one at a time: the caller may change
        ``max_message_bytes`` between two (a connection that just authenticated)."""
        self._buf += data
        while True:
            if self._skipping:
                nl = self._buf.find(b"\n")
                if nl < 0:
                    self._reset_buffer()
                    break
                self._consume(nl + 1)
                self._skipping = False
            # Skip inter-message whitespace (including the newline after a legacy-looking object).
            start = self._leading_whitespace()
            if start:
                self._consume(start)
            if not self._buf:
                break
            first = self._buf[0]
            if first != 0x7B and self.strict:  # not '{', from a peer not yet vetted
                is_letter = 0x41 <= first <= 0x5A or 0x61 <= first <= 0x7A  # an HTTP method
                self._reset_buffer()
                if is_letter:
                    yield HttpDetected()
                else:
                    yield FramingError(V1, errors.PARSE_ERROR, "a message must be a JSON object starting with '{'")
                return
            if first != 0x7B:  # not '{'
                head = bytes(self._buf[:8])
                if head.startswith(_HTTP_PREFIXES):
                    self._reset_buffer()
                    yield HttpDetected()
                    return
                if any(p.startswith(head) for p in _HTTP_PREFIXES) and b"\n" not in head:
                    break  # could still become an HTTP request line: wait for more
                self._skipping = True
                yield FramingError(V1, errors.PARSE_ERROR, "a message must be a JSON object starting with '{'")
                continue
            event = self._next_message()
            if event is None:
                break
            if isinstance(event, FramingError) and event.code == errors.MESSAGE_TOO_LARGE and event.style == LEGACY:
                self._reset_buffer()
                yield event
                yield CloseAfterReply()
                return
            yield event

    def _next_message(self):
        """One event from the buffer start (which is '{'), or None when more bytes are needed."""
        nl = self._buf.find(b"\n", self._scan_from)
        if nl >= 0:
            if nl > self.max_message_bytes:
                self._consume(nl + 1)
                return self._too_large(V1, nl)
            line = bytes(self._buf[:nl])
            self._consume(nl + 1)
            return self._parse_line(line)
        self._scan_from = len(self._buf)
        if len(self._buf) > self.max_message_bytes:
            size = len(self._buf)
            style = self._guess_style()
            self._reset_buffer()
            # v1: drop the rest of this line and go on. A legacy stream has no delimiter to find
            # the end of the message by, so that connection is closed after the error.
            self._skipping = style == V1
            return self._too_large(style, size)
        if not self._ends_with_brace():
            return None
        if len(self._buf) < 2 * self._parsed_at and not self._force:
            self._deferred = True
            return None
        self._deferred = False
        event = self._parse_unterminated()
        if event is None:
            self._parsed_at = len(self._buf)
        return event

    def _too_large(self, style, size):
        return FramingError(
            style,
            errors.MESSAGE_TOO_LARGE,
            f"message of {size} bytes exceeds the limit of {self.max_message_bytes} bytes",
        )

    def _parse_line(self, line):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return FramingError(V1, errors.PARSE_ERROR, f"message is not valid UTF-8: {exc}")
        try:
            body = _DECODER.decode(text)
        except ValueError as exc:  # JSONDecodeError is a ValueError, so is a rejected NaN
            return FramingError(V1, errors.PARSE_ERROR, f"malformed JSON: {exc}")
        except RecursionError:
            return FramingError(V1, errors.PARSE_ERROR, "malformed JSON: nested too deeply")
        return Message(V1, body)  # a line starting with '{' that parses is an object

    def _parse_unterminated(self):
        """Parse an object with no newline after it (the 1.3.3 framing)."""
        try:
            text = bytes(self._buf).decode("utf-8")
        except UnicodeDecodeError as exc:
            self._reset_buffer()
            return FramingError(LEGACY, errors.PARSE_ERROR, f"message is not valid UTF-8: {exc}")
        try:
            body, end = _DECODER.raw_decode(text)
        except json.JSONDecodeError as exc:
            if _is_incomplete(exc, text):
                return None
            self._reset_buffer()
            return FramingError(LEGACY, errors.PARSE_ERROR, f"malformed JSON: {exc}")
        except ValueError as exc:  # NaN / Infinity
            self._reset_buffer()
            return FramingError(LEGACY, errors.PARSE_ERROR, f"malformed JSON: {exc}")
        except RecursionError:
            self._reset_buffer()
            return FramingError(LEGACY, errors.PARSE_ERROR, "malformed JSON: nested too deeply")
        rest = text[end:].encode("utf-8")
        self._reset_buffer()
        self._buf += rest
        style = V1 if "id" in body else LEGACY
        return Message(style, body)
