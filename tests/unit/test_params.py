import pytest

from bld_remote_mcp.wire import params
from bld_remote_mcp.wire.replies import CommandError


def error_of(fn, *args, **kwargs):
    with pytest.raises(CommandError) as info:
        fn(*args, **kwargs)
    exc = info.value
    assert exc.code == "invalid_params"
    return exc


def test_present_value_of_the_right_type():
    assert params.get({"code": "x"}, "code", (str,)) == "x"
    assert params.get({"n": [1]}, "n", (list,)) == [1]


def test_missing_required_param_is_named():
    exc = error_of(params.get, {}, "code", (str,))
    assert exc.message == "missing required param 'code'"
    assert exc.details == {"param": "code"}
    assert exc.to_error() == {"code": "invalid_params", "message": "missing required param 'code'", "param": "code"}


def test_missing_optional_param_gives_the_default():
    assert params.get({}, "session", (str,), None) is None
    assert params.get({}, "capture_output", (bool,), True) is True


def test_null_for_an_optional_param_means_the_default():
    assert params.get({"session": None}, "session", (str,), "dflt") == "dflt"


def test_null_for_a_required_param_is_a_type_error():
    exc = error_of(params.get, {"code": None}, "code", (str,))
    assert exc.message == "param 'code' must be a string, got null"


def test_allow_none_returns_none():
    assert params.get({"x": None}, "x", (str,), "dflt", allow_none=True) is None


@pytest.mark.parametrize(
    "value,expected",
    [(1, "integer"), (1.5, "number"), (True, "boolean"), ([1], "array"), ({"a": 1}, "object"), (b"x", "bytes")],
)
def test_wrong_type_names_the_param_and_both_types(value, expected):
    exc = error_of(params.get, {"code": value}, "code", (str,))
    assert exc.message == f"param 'code' must be a string, got {expected}"
    assert exc.details["param"] == "code"


def test_bool_is_not_accepted_as_a_number():
    exc = error_of(params.get, {"timeout": True}, "timeout", (int, float))
    assert exc.message == "param 'timeout' must be an integer or a number, got boolean"
    error_of(params.get, {"exit_code": False}, "exit_code", (int,))
    error_of(params.number, {"wait": True}, "wait")


def test_bool_is_accepted_where_bool_is_allowed():
    assert params.get({"flag": False}, "flag", (bool,)) is False


def test_int_is_accepted_where_a_float_is_expected():
    assert params.get({"t": 3}, "t", (float,)) == 3


def test_string_is_not_a_number():
    exc = error_of(params.number, {"timeout": "5"}, "timeout")
    assert "got string" in exc.message


def test_number_range_checks_name_the_param():
    assert params.number({"t": 5}, "t", minimum=0, maximum=10) == 5
    assert params.number({"t": 0}, "t", minimum=0) == 0
    low = error_of(params.number, {"t": -1}, "t", minimum=0)
    assert low.message == "param 't' must be >= 0, got -1" and low.details == {"param": "t"}
    high = error_of(params.number, {"t": 11.5}, "t", maximum=10)
    assert high.message == "param 't' must be <= 10, got 11.5"


def test_number_default_when_missing():
    assert params.number({}, "wait", 0, minimum=0) == 0
    assert params.number({}, "wait", None) is None
    error_of(params.number, {}, "wait")


def test_choice():
    assert params.choice({"m": "async"}, "m", ("sync", "async")) == "async"
    assert params.choice({}, "m", ("sync", "async"), "sync") == "sync"
    exc = error_of(params.choice, {"m": "later"}, "m", ("sync", "async"))
    assert exc.message == "param 'm' must be one of 'sync', 'async', got 'later'"
    assert "must be a string" in error_of(params.choice, {"m": 1}, "m", ("sync",)).message
