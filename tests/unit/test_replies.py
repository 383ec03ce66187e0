import json

import pytest

from bld_remote_mcp.wire import replies
from bld_remote_mcp.wire.errors import ERROR_CODES
from bld_remote_mcp.wire.replies import CommandError


def test_success_shape():
    assert replies.success(7, {"a": 1}) == {"id": 7, "status": "success", "result": {"a": 1}, "error": None}


def test_failure_shape_with_details():
    reply = replies.failure("x", "not_found", "no job", job_id="job-3")
    assert reply == {"id": "x", "status": "error", "result": None,
                     "error": {"code": "not_found", "message": "no job", "job_id": "job-3"}}


def test_command_error_to_reply():
    exc = CommandError("invalid_params", "param 'code' must be a string", param="code")
    assert str(exc) == "param 'code' must be a string"
    reply = replies.from_command_error(None, exc)
    assert reply["status"] == "error" and reply["id"] is None
    assert reply["error"] == {"code": "invalid_params", "message": "param 'code' must be a string", "param": "code"}


def test_command_error_refuses_an_undocumented_code():
    with pytest.raises(AssertionError):
        CommandError("made_up_code", "nope")


def test_error_codes_are_unique():
    assert len(set(ERROR_CODES)) == len(ERROR_CODES)
    assert {"parse_error", "invalid_request", "timeout", "internal_error"} <= set(ERROR_CODES)


def test_encode_is_compact_utf8_json():
    data = replies.encode(replies.success(1, "héllo ☃"))
    assert data == '{"id":1,"status":"success","result":"héllo ☃","error":null}'.encode("utf-8")
    assert b"\n" not in replies.encode(replies.success(1, "line1\nline2"))


@pytest.mark.parametrize(
    "bad,expected",
    [
        (float("nan"), {"__type__": "float", "value": "nan"}),
        ([float("-inf")], [{"__type__": "float", "value": "-inf"}]),
        ({1: {2, 3}}, {"1": [2, 3]}),
    ],
)
def test_encode_never_fails_and_stays_strict_json(bad, expected):
    # e.g. a NaN stored with bld_remote.persist from Python, then fetched with get_persist_data.
    data = replies.encode(replies.success(1, bad))
    reply = json.loads(data, parse_constant=lambda name: pytest.fail(f"{name} on the wire"))
    assert reply["status"] == "success" and reply["result"] == expected


def test_encode_round_trips():
    reply = replies.failure(3, "timeout", "too slow", line=4)
    assert json.loads(replies.encode(reply)) == reply


def test_a_lone_surrogate_is_escaped_instead_of_failing():
    import json as _json

    data = replies.encode({"id": "\ud800", "status": "success", "result": "a\udc00b"})
    assert data.isascii()
    assert _json.loads(data) == {"id": "\ud800", "status": "success", "result": "a\udc00b"}
    assert replies.encode({"result": "é"}) == '{"result":"é"}'.encode("utf-8"), "UTF-8 kept otherwise"
