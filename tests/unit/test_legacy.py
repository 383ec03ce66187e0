"""1.3.3 reply shapes, with a fake ``run_command`` standing in for the dispatcher."""

import base64
import types

import pytest

from bld_remote_mcp import commands
from bld_remote_mcp.engine.executor import envelope
from bld_remote_mcp.wire import legacy
from bld_remote_mcp.wire.replies import CommandError

commands.load()


class Recorder:
    """A run_command that answers per command name and records its calls."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def __call__(self, ctx, command, params):
        self.calls.append((command.name, params))
        answer = self.answers[command.name]
        if isinstance(answer, BaseException):
            raise answer
        return answer(params) if callable(answer) else answer


CTX = types.SimpleNamespace(service=types.SimpleNamespace(port=6688, settings=types.SimpleNamespace(host="127.0.0.1"),
                                                          exit_code=None))


def success_env(stdout="", stderr="", result=None):
    return envelope("success", result=result, output={"stdout": stdout, "stderr": stderr, "logs": []},
                    duration=0.25)


# -- typed requests ----------------------------------------------------------------------------
def test_execute_code_success_shape():
    run = Recorder(execute_code=success_env("hello\n", "warn\n", result=42))
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "print('hello')"}}, run)
    assert reply == {
        "status": "success",
        "result": {
            "executed": True,
            "result": "hello\n",
            "output": {"stdout": "hello\n", "stderr": "warn\n"},
            "duration": 0.25,
        },
    }
    assert run.calls == [("execute_code", {"code": "print('hello')"})]


def test_execute_code_return_as_base64():
    run = Recorder(execute_code=success_env("ünïcode\n"))
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "x", "return_as_base64": True}}, run)
    result = reply["result"]
    assert result["result_is_base64"] is True
    assert base64.b64decode(result["result"]).decode("utf-8") == "ünïcode\n"
    assert result["output"]["stdout"] == "ünïcode\n"  # the plain copy stays plain


def test_execute_code_return_as_base64_with_no_output():
    run = Recorder(execute_code=success_env(""))
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "x", "return_as_base64": True}}, run)
    assert reply["result"]["result"] == "" and reply["result"]["result_is_base64"] is False


def test_execute_code_error_message_names_the_exception_type():
    env = envelope("error", error={"code": "execution_error", "type": "ZeroDivisionError",
                                   "message": "division by zero", "line": 1})
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "1/0"}}, Recorder(execute_code=env))
    assert reply == {"status": "error", "message": "Code execution error: ZeroDivisionError: division by zero"}


def test_execute_code_timeout_message():
    env = envelope("timeout", error={"code": "timeout", "type": "ExecutionTimeout", "message": "too slow"})
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "x"}}, Recorder(execute_code=env))
    assert reply == {"status": "error", "message": "Code execution timed out: too slow"}


def test_execute_code_cancelled_without_error_details():
    env = envelope("cancelled")
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "x"}}, Recorder(execute_code=env))
    assert reply == {"status": "error", "message": "Code execution error: cancelled"}


def test_async_execute_reply_is_passed_through_as_a_result():
    run = Recorder(execute_code={"job_id": "job-1", "state": "queued"})
    reply = legacy.handle(CTX, {"type": "execute_code", "params": {"code": "x", "execution_mode": "async"}}, run)
    assert reply == {"status": "success", "result": {"job_id": "job-1", "state": "queued"}}


def test_other_commands_wrap_their_result():
    run = Recorder(get_persist_data={"data": 1, "found": True})
    reply = legacy.handle(CTX, {"type": "get_persist_data", "params": {"key": "k"}}, run)
    assert reply == {"status": "success", "result": {"data": 1, "found": True}}


def test_missing_or_null_params_mean_an_empty_object():
    run = Recorder(ping={"pong": True})
    legacy.handle(CTX, {"type": "ping"}, run)
    legacy.handle(CTX, {"type": "ping", "params": None}, run)
    assert run.calls == [("ping", {}), ("ping", {})]


def test_params_that_are_not_an_object():
    reply = legacy.handle(CTX, {"type": "ping", "params": [1, 2]}, Recorder())
    assert reply == {"status": "error", "message": "'params' must be an object"}


@pytest.mark.parametrize("command_type", ["make_coffee", 5, None])
def test_unknown_command(command_type):
    reply = legacy.handle(CTX, {"type": command_type}, Recorder())
    assert reply == {"status": "error", "message": f"Unknown command type: {command_type}"}


def test_command_error_becomes_its_message():
    run = Recorder(get_job=CommandError("not_found", "no job 'job-7'"))
    reply = legacy.handle(CTX, {"type": "get_job", "params": {"job_id": "job-7"}}, run)
    assert reply == {"status": "error", "message": "no job 'job-7'"}


def test_unexpected_exception_is_an_error_reply_not_a_crash(caplog):
    run = Recorder(status=KeyError("oops"))
    reply = legacy.handle(CTX, {"type": "status"}, run)
    assert reply == {"status": "error", "message": "KeyError: 'oops'"}
    assert "legacy command status failed" in caplog.text


# -- the untyped {code} / {message} shape -------------------------------------------------------
def test_untyped_message_only():
    reply = legacy.handle(CTX, {"message": "hi there"}, Recorder())
    assert reply == {"response": "OK", "message": "Printed message: hi there", "source": "tcp://127.0.0.1:6688"}


def test_untyped_code_success_with_output():
    run = Recorder(execute_code=success_env("out\n"))
    reply = legacy.handle(CTX, {"code": "print('out')"}, run)
    assert reply == {"response": "OK", "message": "Code executed successfully", "source": "tcp://127.0.0.1:6688",
                     "output": "out\n"}
    assert run.calls == [("execute_code", {"code": "print('out')"})]


def test_untyped_code_success_without_output_has_no_output_key():
    reply = legacy.handle(CTX, {"code": "x = 1"}, Recorder(execute_code=success_env("")))
    assert reply["response"] == "OK" and "output" not in reply


def test_untyped_code_and_message_together():
    reply = legacy.handle(CTX, {"code": "x = 1", "message": "m"}, Recorder(execute_code=success_env("")))
    assert reply["message"] == "Code executed successfully"


def test_untyped_code_failure():
    env = envelope("error", error={"code": "execution_error", "type": "NameError", "message": "name 'y' is not defined"})
    reply = legacy.handle(CTX, {"code": "y"}, Recorder(execute_code=env))
    assert reply["response"] == "FAILED"
    assert reply["message"] == "Error executing code: name 'y' is not defined"


def test_untyped_code_that_is_not_a_string():
    run = Recorder()
    reply = legacy.handle(CTX, {"code": 123}, run)
    assert reply["response"] == "FAILED" and "'code' must be a string" in reply["message"]
    assert run.calls == []


def test_untyped_code_command_error():
    run = Recorder(execute_code=CommandError("queue_full", "too many jobs"))
    reply = legacy.handle(CTX, {"code": "x"}, run)
    assert reply["response"] == "FAILED" and reply["message"] == "Error executing code: too many jobs"


def test_typed_request_with_a_code_key_is_not_untyped():
    run = Recorder(ping={"pong": True})
    reply = legacy.handle(CTX, {"type": "ping", "code": "ignored"}, run)
    assert reply == {"status": "success", "result": {"pong": True}}
