"""dispatch.handle with a fake service and test-only commands (patched into the command table)."""

import threading
import types
from pathlib import Path

import pytest

from bld_remote_mcp import commands
from bld_remote_mcp.commands import COMMANDS, Command, Envelope
from bld_remote_mcp.engine.mainthread import MainThreadCall
from bld_remote_mcp.wire import dispatch
from bld_remote_mcp.wire.framing import LEGACY, V1, Message
from bld_remote_mcp.wire.replies import CommandError

commands.load()


class FakeService:
    port = 1234
    exit_code = None  # set once a shutdown was requested
    token = None  # auth off (test_auth.py covers the gate)

    def __init__(self):
        self.main_calls = 0
        self.ran_on = None

    def call_on_main(self, fn):
        """Like Service.call_on_main: run on another thread, hand back its result or exception."""
        self.main_calls += 1
        call = MainThreadCall(fn)
        t = threading.Thread(target=call.run)
        t.start()
        t.join()
        self.ran_on = t.ident
        if call.error is not None:
            raise call.error
        return call.result


CONNECTION = types.SimpleNamespace(id=3, authenticated=True)


@pytest.fixture
def service():
    return FakeService()


@pytest.fixture
def register(monkeypatch):
    def add(name, handler, main_thread=False):
        monkeypatch.setitem(COMMANDS, name, Command(name, handler, main_thread))

    return add


def v1(service, body):
    reply, ctx = dispatch.handle(service, CONNECTION, Message(V1, body))
    return reply, ctx


def test_success_reply_and_context(service, register):
    seen = {}

    def echo(ctx, params):
        seen.update(ctx=ctx, params=params)
        return {"echo": params}

    register("t_echo", echo)
    reply, ctx = v1(service, {"id": "abc", "type": "t_echo", "params": {"a": 1}})
    assert reply == {"id": "abc", "status": "success", "result": {"echo": {"a": 1}}, "error": None}
    assert seen["ctx"] is ctx and seen["params"] == {"a": 1}
    assert (ctx.service, ctx.connection, ctx.request_id, ctx.style) == (service, CONNECTION, "abc", V1)
    assert ctx.after_reply == []
    assert service.main_calls == 0


@pytest.mark.parametrize("request_id", [1, "x", None, 0, ""])
def test_valid_ids_are_echoed(service, register, request_id):
    register("t_ok", lambda ctx, p: "ok")
    body = {"type": "t_ok"}
    if request_id is not None:
        body["id"] = request_id
    reply, _ = v1(service, body)
    assert reply["id"] == request_id and reply["status"] == "success"


@pytest.mark.parametrize("bad_id", [True, 1.5, [1], {"a": 1}])
def test_invalid_id(service, bad_id):
    reply, _ = v1(service, {"id": bad_id, "type": "ping"})
    assert reply["id"] is None
    assert reply["error"]["code"] == "invalid_request" and "'id'" in reply["error"]["message"]


@pytest.mark.parametrize("body", [{"id": 4}, {"id": 4, "type": 12}, {"id": 4, "type": None}])
def test_missing_or_non_string_type(service, body):
    reply, _ = v1(service, body)
    assert reply["id"] == 4 and reply["status"] == "error"
    assert reply["error"]["code"] == "invalid_request" and "'type'" in reply["error"]["message"]


def test_params_null_means_empty(service, register):
    register("t_params", lambda ctx, p: p)
    assert v1(service, {"id": 1, "type": "t_params", "params": None})[0]["result"] == {}
    assert v1(service, {"id": 1, "type": "t_params"})[0]["result"] == {}


@pytest.mark.parametrize("params", [[1], "x", 5])
def test_params_not_an_object(service, params):
    reply, _ = v1(service, {"id": 2, "type": "ping", "params": params})
    assert reply["error"]["code"] == "invalid_request" and reply["id"] == 2


def test_unknown_command_lists_the_known_ones(service):
    reply, _ = v1(service, {"id": 5, "type": "make_coffee"})
    assert reply["status"] == "error" and reply["result"] is None
    assert reply["error"]["code"] == "unknown_command"
    assert "make_coffee" in reply["error"]["message"]
    known = reply["error"]["known"]
    assert known == sorted(known) and {"execute_code", "ping", "get_job"} <= set(known)


def test_command_error_is_a_structured_error(service, register):
    def fail(ctx, p):
        raise CommandError("invalid_params", "param 'x' is wrong", param="x")

    register("t_fail", fail)
    reply, _ = v1(service, {"id": 6, "type": "t_fail"})
    assert reply == {"id": 6, "status": "error", "result": None,
                     "error": {"code": "invalid_params", "message": "param 'x' is wrong", "param": "x"}}


def test_unexpected_exception_is_an_internal_error(service, register, caplog):
    register("t_bug", lambda ctx, p: {}["missing"])
    reply, _ = v1(service, {"id": 7, "type": "t_bug"})
    assert reply["error"]["code"] == "internal_error"
    assert reply["error"]["message"] == "t_bug failed: KeyError: 'missing'"
    assert "command t_bug failed" in caplog.text


def test_envelope_result_goes_to_the_top_of_the_reply(service, register):
    register("t_env", lambda ctx, p: Envelope(status="success", result=1, output={}, error=None))
    reply, _ = v1(service, {"id": 8, "type": "t_env"})
    assert reply == {"id": 8, "status": "success", "result": 1, "output": {}, "error": None}
    assert list(reply)[0] == "id"


def test_main_thread_commands_go_through_call_on_main(service, register):
    register("t_main", lambda ctx, p: threading.get_ident(), main_thread=True)
    reply, _ = v1(service, {"id": 9, "type": "t_main"})
    assert service.main_calls == 1
    assert reply["result"] == service.ran_on != threading.get_ident()


def test_command_error_from_the_main_thread_is_reported(service, register):
    def fail(ctx, p):
        raise CommandError("not_found", "gone")

    register("t_main_fail", fail, main_thread=True)
    reply, _ = v1(service, {"id": 1, "type": "t_main_fail"})
    assert reply["error"] == {"code": "not_found", "message": "gone"}


def test_legacy_messages_get_legacy_replies(service, register):
    register("t_echo", lambda ctx, p: p)
    reply, ctx = dispatch.handle(service, CONNECTION, Message(LEGACY, {"type": "t_echo", "params": {"k": 1}}))
    assert reply == {"status": "success", "result": {"k": 1}}
    assert ctx.style == LEGACY and ctx.request_id is None
    reply, _ = dispatch.handle(service, CONNECTION, Message(LEGACY, {"type": "nope"}))
    assert reply == {"status": "error", "message": "Unknown command type: nope"}


def test_nothing_runs_once_a_shutdown_was_requested(service, register):
    ran = []
    register("t_side_effect", lambda ctx, p: ran.append(1))
    service.exit_code = 0
    reply, _ = v1(service, {"id": 12, "type": "t_side_effect"})
    assert reply["id"] == 12 and reply["status"] == "error"
    assert reply["error"]["code"] == "shutting_down"
    legacy, _ = dispatch.handle(service, CONNECTION, Message(LEGACY, {"type": "t_side_effect", "params": {}}))
    assert legacy == {"status": "error", "message": "the server is shutting down; nothing was run"}
    assert ran == []


def test_run_command_calls_plain_handlers_directly(service):
    cmd = Command("x", lambda ctx, p: ("direct", threading.get_ident(), p), False)
    ctx = dispatch.RequestContext(service, CONNECTION, 1, V1)
    assert dispatch.run_command(ctx, cmd, {"a": 1}) == ("direct", threading.get_ident(), {"a": 1})


def test_commands_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered twice"):
        commands.command("ping")(lambda ctx, p: None)


def test_the_command_table_is_complete():
    expected = {"ping", "hello", "status", "reset_session", "shutdown", "server_shutdown", "get_polyhaven_status",
                "execute_code", "get_job", "cancel_job", "list_jobs", "put_persist_data", "get_persist_data",
                "remove_persist_data", "get_scene_info", "get_object_info", "get_viewport_screenshot",
                "reset_blender"}
    assert expected <= set(COMMANDS)
    assert COMMANDS["execute_code"].main_thread is False  # it queues its own job
    assert COMMANDS["get_scene_info"].main_thread is True
    # Its refusals answer at once; it queues its own main-thread part.
    assert COMMANDS["reset_blender"].main_thread is False


def documented_commands():
    """The command names of the table of docs/protocol.md §4, in its order."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("\n## 4."):]
    section = section[:section.index("\n## ", 1)]
    rows = section[section.index("| command | thread | params | result |"):].splitlines()[2:]
    names = []
    for row in rows:
        if not row.startswith("|"):
            break
        names.append(row.split("|")[1].strip().strip("`"))
    return names


def test_the_command_table_is_the_table_of_the_protocol_document():
    """Every command the addon serves is documented in §4 and every documented one is served (the
    Rust side holds its Command enum to the same table in crates/bld-remote-protocol/src/request.rs)."""
    documented = documented_commands()
    assert len(documented) >= 19 and len(set(documented)) == len(documented), documented
    assert sorted(COMMANDS) == sorted(documented)
