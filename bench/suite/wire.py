"""The two protocols a bridge is measured through, as one interface (``round_trip``,
``request``, ``execute``, ``encoded_execute``, ``succeeded``) over the shared wire client
(tests/support/wire_client.py):

* v1 (bld-remote): newline-delimited JSON with ids, authenticated once per connection (the
  handshake of protocol §1a);
* 1.3.3 (blender-remote): one raw JSON object per request and per reply, no delimiter.

Both keep one connection open and pre-encode the trivial request, so a latency loop measures
the bridge, not the client's JSON encoder."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
from wire_client import Client  # noqa: E402

TRIVIAL_CODE = "x = 1"


class V1Connection:
    def __init__(self, port, token=None, timeout=120.0):
        self.client = Client(port, token=token, timeout=timeout)

    def close(self):
        self.client.close()

    def round_trip(self, raw_line):
        """Send one encoded request line, return the raw reply line (bytes)."""
        self.client.send_raw(raw_line)
        return self.client.read_raw_line()

    def request(self, message):
        return self.client.call(message["type"], message.get("params"))

    def execute(self, code, **params):
        return self.client.execute(code, **params)

    @staticmethod
    def encoded_execute(code, request_id=1):
        return json.dumps({"id": request_id, "type": "execute_code", "params": {"code": code}}).encode() + b"\n"

    @staticmethod
    def succeeded(raw_reply):
        return b'"status":"success"' in raw_reply


class LegacyConnection:
    """The 1.3.3 wire format: the reply has no delimiter, so it ends where a JSON object parses."""

    def __init__(self, port, timeout=120.0):
        self.client = Client(port, timeout=timeout)

    def close(self):
        self.client.close()

    def round_trip(self, raw_message):
        self.client.send_raw(raw_message)
        return self.client.read_raw_legacy()

    def request(self, message):
        return self.client.legacy_call(message)

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
