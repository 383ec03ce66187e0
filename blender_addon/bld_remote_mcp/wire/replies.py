"""Reply shapes of the protocol (see docs/protocol.md); the error codes are in ``errors``.

Pure module (no bpy). Every v1 reply is a JSON object with ``id`` (echoed from the request),
``status`` and ``result``/``error``. ``execute_code`` replies add the execution envelope fields.
"""

import json

from .errors import ERROR_CODES

PROTOCOL_VERSION = 2


class CommandError(Exception):
    """An error a command handler reports to its caller as a structured v1 error. ``code`` is one
    of ``errors.ERROR_CODES`` (by its constant there)."""

    def __init__(self, code, message, **details):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_error(self):
        error = {"code": self.code, "message": self.message}
        error.update(self.details)
        return error


def success(request_id, result):
    return {"id": request_id, "status": "success", "result": result, "error": None}


def failure(request_id, code, message, **details):
    error = {"code": code, "message": message}
    error.update(details)
    return {"id": request_id, "status": "error", "result": None, "error": error}


def from_command_error(request_id, exc):
    return {"id": request_id, "status": "error", "result": None, "error": exc.to_error()}


def encode(reply):
    """One reply as bytes. ``allow_nan=False``: replies are strict JSON, never NaN/Infinity.

    A reply holding something JSON cannot carry (a NaN stored with ``bld_remote.persist`` from
    Python, say) is made safe by the serializer rather than failing: a reply is never lost.
    """
    try:
        text = json.dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        from .serialize import to_json_safe

        reply = to_json_safe(reply)
        text = json.dumps(reply, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a `"\ud800"` escape in an echoed id, a print of one): valid JSON,
        # not encodable as UTF-8. Escaped as ASCII it travels as the same JSON string.
        return json.dumps(reply, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
