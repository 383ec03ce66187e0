"""commands/control.py: unit-level with a fake context, and over the wire for shutdown."""

import os
import time
import types

import pytest

from bld_remote_mcp import commands
from bld_remote_mcp.commands import control
from bld_remote_mcp.engine.sessions import SessionStore
from bld_remote_mcp.wire.replies import CommandError

commands.load()


class FakeService:
    def __init__(self, mode="background"):
        self.mode = mode
        self.port = 4321
        self.addon_version = "9.9.9"
        self.blender_version = "3.4.1"
        self.sessions = SessionStore()
        self.shutdowns = []
        self.token = None
        self.instance_id = "a1b2c3"

    def request_shutdown(self, code=0, quit_blender=True):
        self.shutdowns.append((code, quit_blender))

    def status(self):
        return {"running": True}


def ctx_for(service, connection_id=1):
    return types.SimpleNamespace(service=service, connection=types.SimpleNamespace(id=connection_id, authenticated=True),
                                 after_reply=[])


def test_ping():
    before = time.time()
    result = control.ping(ctx_for(FakeService()), {})
    assert result["pong"] is True and before <= result["time"] <= time.time()


def test_hello_fields():
    result = control.hello(ctx_for(FakeService(mode="gui"), connection_id=17), {})
    assert result == {"protocol_version": 2, "server": "bld-remote", "addon_version": "9.9.9",
                      "blender_version": "3.4.1", "mode": "gui", "pid": os.getpid(), "port": 4321,
                      "connection_id": 17, "instance_id": "a1b2c3", "auth_required": False,
                      "authenticated": True}


def test_status_is_the_service_status():
    assert control.status(ctx_for(FakeService()), {}) == {"running": True}


def test_reset_session_of_the_connection_and_of_a_named_session():
    service = FakeService()
    service.sessions.namespace(1)["x"] = 1
    ctx = ctx_for(service)
    assert control.reset_session(ctx, {}) == {"reset": True, "existed": True, "session": None}
    assert control.reset_session(ctx, {}) == {"reset": True, "existed": False, "session": None}
    service.sessions.namespace(2, "shared")
    assert control.reset_session(ctx, {"session": "shared"}) == {"reset": True, "existed": True,
                                                                "session": "shared"}


def test_reset_session_checks_its_param():
    with pytest.raises(CommandError) as info:
        control.reset_session(ctx_for(FakeService()), {"session": 3})
    assert info.value.code == "invalid_params" and info.value.details == {"param": "session"}


def test_shutdown_happens_after_the_reply():
    service = FakeService()
    ctx = ctx_for(service)
    assert control.shutdown(ctx, {"exit_code": 3}) == {"message": "shutting down", "exit_code": 3}
    assert service.shutdowns == []  # not before the reply was sent
    for hook in ctx.after_reply:
        hook()
    assert service.shutdowns == [(3, True)]


@pytest.mark.parametrize("bad", ["1", 1.5, True])
def test_shutdown_exit_code_must_be_an_integer(bad):
    with pytest.raises(CommandError) as info:
        control.shutdown(ctx_for(FakeService()), {"exit_code": bad})
    assert "exit_code" in info.value.message


@pytest.mark.parametrize("mode,quits", [("background", True), ("gui", False)])
def test_server_shutdown_quits_only_a_background_blender(mode, quits):
    service = FakeService(mode=mode)
    ctx = ctx_for(service)
    assert control.server_shutdown(ctx, {}) == {"message": "Server shutdown initiated"}
    for hook in ctx.after_reply:
        hook()
    assert service.shutdowns == [(0, quits)]


def test_polyhaven_is_reported_disabled():
    result = control.get_polyhaven_status(ctx_for(FakeService()), {})
    assert result["enabled"] is False and result["reason"]


# -- over the wire -----------------------------------------------------------------------------
def test_shutdown_over_the_wire_replies_then_stops_with_the_code(make_service):
    h = make_service()
    c = h.client()
    reply = c.call("shutdown", {"exit_code": 7})
    assert reply["status"] == "success" and reply["result"] == {"message": "shutting down", "exit_code": 7}
    assert h.wait_loop_done() == 7
    assert c.read_until_closed() == b""


def test_server_shutdown_over_the_wire_stops_a_background_service_with_0(make_service):
    h = make_service()
    assert h.client().call("server_shutdown")["status"] == "success"
    assert h.wait_loop_done() == 0


def test_shutdown_with_a_bad_exit_code_does_not_shut_down(make_service):
    h = make_service()
    c = h.client()
    reply = c.call("shutdown", {"exit_code": "now"})
    assert reply["error"]["code"] == "invalid_params" and reply["error"]["param"] == "exit_code"
    assert c.call("ping")["status"] == "success"
    assert not h.loop_done.is_set()


def test_reset_session_over_the_wire(make_service):
    c = make_service().client()
    c.execute("kept = 1")
    c.execute("shared_value = 2", session="s1")
    assert c.call("reset_session")["result"]["existed"] is True
    assert c.execute("kept")["error"]["type"] == "NameError"
    assert c.execute("shared_value", session="s1")["result"] == 2
    assert c.call("reset_session", {"session": "s1"})["result"]["existed"] is True
    assert c.execute("shared_value", session="s1")["error"]["type"] == "NameError"
