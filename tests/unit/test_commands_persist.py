"""commands/persist.py: the 1.3.3 persist-data commands."""

import types

import pytest

from bld_remote_mcp import commands
from bld_remote_mcp.commands import persist as persist_commands
from bld_remote_mcp.engine.persist_store import PersistStore
from bld_remote_mcp.wire.replies import CommandError

commands.load()


@pytest.fixture
def ctx():
    return types.SimpleNamespace(service=types.SimpleNamespace(persist=PersistStore()))


def test_put_get_remove(ctx):
    assert persist_commands.put_persist_data(ctx, {"key": "k", "data": {"a": [1, 2]}}) == "Data stored with key: k"
    assert persist_commands.get_persist_data(ctx, {"key": "k"}) == {"data": {"a": [1, 2]}, "found": True}
    assert persist_commands.remove_persist_data(ctx, {"key": "k"}) == {"removed": True}
    assert persist_commands.remove_persist_data(ctx, {"key": "k"}) == {"removed": False}
    assert persist_commands.get_persist_data(ctx, {"key": "k"}) == {"data": None, "found": False}


def test_get_missing_key_with_a_default(ctx):
    assert persist_commands.get_persist_data(ctx, {"key": "nope", "default": 5}) == {"data": 5, "found": False}


def test_null_data_is_stored(ctx):
    persist_commands.put_persist_data(ctx, {"key": "n", "data": None})
    assert persist_commands.get_persist_data(ctx, {"key": "n", "default": 1}) == {"data": None, "found": True}


@pytest.mark.parametrize(
    "fn,params,param",
    [
        (persist_commands.put_persist_data, {"data": 1}, "key"),
        (persist_commands.put_persist_data, {"key": "k"}, "data"),
        (persist_commands.put_persist_data, {"key": 5, "data": 1}, "key"),
        (persist_commands.get_persist_data, {}, "key"),
        (persist_commands.remove_persist_data, {"key": ["k"]}, "key"),
    ],
)
def test_param_errors_name_the_param(ctx, fn, params, param):
    with pytest.raises(CommandError) as info:
        fn(ctx, params)
    assert info.value.code == "invalid_params" and info.value.details == {"param": param}
    assert f"'{param}'" in info.value.message


def test_persist_data_is_shared_with_code_and_across_connections(make_service):
    h = make_service()
    a, b = h.client(), h.client()
    assert a.call("put_persist_data", {"key": "cfg", "data": {"n": 1}})["status"] == "success"
    assert b.call("get_persist_data", {"key": "cfg"})["result"] == {"data": {"n": 1}, "found": True}
    assert h.service.persist.get("cfg") == ({"n": 1}, True)
    reply = a.call("put_persist_data", {"key": "cfg"})
    assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "data"


def test_legacy_persist_round_trip(make_service):
    c = make_service().client()
    c.send_raw(b'{"type": "put_persist_data", "params": {"key": "k", "data": [1, 2]}}')
    assert c.read_legacy() == {"status": "success", "result": "Data stored with key: k"}
    c.send_raw(b'{"type": "get_persist_data", "params": {"key": "k"}}')
    assert c.read_legacy() == {"status": "success", "result": {"data": [1, 2], "found": True}}
    c.send_raw(b'{"type": "get_persist_data", "params": {}}')
    assert c.read_legacy() == {"status": "error", "message": "missing required param 'key'"}
