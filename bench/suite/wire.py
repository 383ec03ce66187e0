"""Blocking socket clients for the two protocols a bridge is measured through:

* v1 (bld-remote): newline-delimited JSON with ids, authenticated once per connection (the
  handshake of protocol §1a, with the addon's own ``handshake`` module);
* 1.3.3 (blender-remote): one raw JSON object per request and per reply, no delimiter.

Both keep one connection open and pre-encode the trivial request, so a latency loop measures
the bridge, not the client's JSON encoder."""

import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "blender_addon"))
from bld_remote_mcp.wire import handshake  # noqa: E402

TRIVIAL_CODE = "x = 1"


def _open(port, timeout):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class V1Connection:
    def __init__(self, port, token=None, timeout=120.0):
        self.sock = _open(port, timeout)
        self.buf = b""
        self.next_id = 1
        if token is not None:
            try:
                handshake.authenticate_with(lambda type_, params: self.request({"type": type_, "params": params}),
                                            token, self.sock.getpeername())
            except handshake.PeerNotProven as exc:
                raise ConnectionError(f"authentication refused: {exc}") from exc

    def close(self):
        self.sock.close()

    def _read_line(self):
        end = self.buf.find(b"\n")
        if end >= 0:
            line, self.buf = self.buf[:end], self.buf[end + 1:]
            return line
        # A long reply arrives in many chunks: look for the newline in each new chunk only and
        # join once (appending to one bytes object would copy it again at every chunk).
        chunks = [self.buf]
        while True:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("Blender closed the connection")
            end = chunk.find(b"\n")
            if end >= 0:
                chunks.append(chunk[:end])
                self.buf = chunk[end + 1:]
                return b"".join(chunks)
            chunks.append(chunk)

    def round_trip(self, raw_line):
        """Send one encoded request line, return the raw reply line (bytes)."""
        self.sock.sendall(raw_line)
        return self._read_line()

    def request(self, message):
        message = dict(message, id=self.next_id)
        self.next_id += 1
        return json.loads(self.round_trip(json.dumps(message).encode() + b"\n"))

    def execute(self, code, **params):
        return self.request({"type": "execute_code", "params": dict(params, code=code)})

    @staticmethod
    def encoded_execute(code, request_id=1):
        return json.dumps({"id": request_id, "type": "execute_code", "params": {"code": code}}).encode() + b"\n"

    @staticmethod
    def succeeded(raw_reply):
        return b'"status":"success"' in raw_reply


class LegacyConnection:
    """The 1.3.3 wire format. The reply has no delimiter, so it ends where a JSON object parses;
    a parse is only tried when the buffer ends in `}` (quick enough for 50 MB replies)."""

    def __init__(self, port, timeout=120.0):
        self.sock = _open(port, timeout)
        self.decoder = json.JSONDecoder()

    def close(self):
        self.sock.close()

    def _read_object(self):
        chunks = []
        while True:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("Blender closed the connection")
            chunks.append(chunk)
            if chunk.rstrip().endswith(b"}"):
                data = b"".join(chunks)
                try:
                    self.decoder.raw_decode(data.decode())
                    return data
                except ValueError:
                    chunks = [data]

    def round_trip(self, raw_message):
        self.sock.sendall(raw_message)
        return self._read_object()

    def request(self, message):
        return json.loads(self.round_trip(json.dumps(message).encode()))

    def execute(self, code):
        return self.request({"type": "execute_code", "params": {"code": code}})

    @staticmethod
    def encoded_execute(code, request_id=None):
        return json.dumps({"type": "execute_code", "params": {"code": code}}).encode()

    @staticmethod
    def succeeded(raw_reply):
        return b'"status": "success"' in raw_reply or b'"status":"success"' in raw_reply


PROTOCOLS = {"v1": V1Connection, "legacy": LegacyConnection}


def connect(protocol, port, token=None, timeout=120.0):
    if protocol == "v1":
        return V1Connection(port, token=token, timeout=timeout)
    return LegacyConnection(port, timeout=timeout)
