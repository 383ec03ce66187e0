"""Serving blender-remote 1.3.3 clients in their own reply shapes.

Pure module (no bpy). Their requests are ``{"type", "params"}`` with no framing and no id; a
success is ``{"status": "success", "result": ...}`` and an error ``{"status": "error",
"message": ...}``. An even older shape, ``{"code": ...}`` / ``{"message": ...}`` with no type,
gets ``{"response": "OK"|"FAILED", ...}``. See docs/protocol.md, "Compatibility".
"""

import base64
import logging

from ..commands import COMMANDS
from .replies import CommandError

log = logging.getLogger("bld_remote_mcp")


def _error(message):
    return {"status": "error", "message": message}


def handle(ctx, body, run_command):
    command_type = body.get("type")
    if command_type is None and ("code" in body or "message" in body):
        return _handle_untyped(ctx, body, run_command)
    params = body.get("params") or {}
    if not isinstance(params, dict):
        return _error("'params' must be an object")
    command = COMMANDS.get(command_type) if isinstance(command_type, str) else None
    if command is None:
        return _error(f"Unknown command type: {command_type}")
    try:
        result = run_command(ctx, command, params)
    except CommandError as exc:
        return _error(exc.message)
    except Exception as exc:
        log.exception("legacy command %s failed", command_type)
        return _error(f"{type(exc).__name__}: {exc}")
    if command_type == "execute_code" and isinstance(result, dict) and "status" in result and "output" in result:
        return _execute_reply(result, params)
    return {"status": "success", "result": result}


def _execute_reply(envelope, params):
    status = envelope["status"]
    if status != "success":
        error = envelope.get("error") or {}
        message = error.get("message", status)
        if status == "error" and error.get("type"):
            message = f"{error['type']}: {message}"
        prefix = "Code execution timed out" if status == "timeout" else "Code execution error"
        return _error(f"{prefix}: {message}")
    output = envelope["output"]
    stdout = output.get("stdout", "")
    result = {
        "executed": True,
        "result": stdout,
        "output": {"stdout": stdout, "stderr": output.get("stderr", "")},
        "duration": envelope.get("duration", 0.0),
    }
    if params.get("return_as_base64"):
        if stdout:
            result["result"] = base64.b64encode(stdout.encode("utf-8")).decode("ascii")
            result["result_is_base64"] = True
        else:
            result["result_is_base64"] = False
    return {"status": "success", "result": result}


def _handle_untyped(ctx, body, run_command):
    """The pre-``type`` shape: ``{"message": ...}`` and/or ``{"code": ...}``."""
    reply = {"response": "OK", "message": "Task received", "source": f"tcp://{ctx.service.settings.host}:{ctx.service.port}"}
    if "message" in body:
        reply["message"] = f"Printed message: {body['message']}"
    if "code" in body:
        code = body["code"]
        if not isinstance(code, str):
            reply.update(response="FAILED", message="Error executing code: 'code' must be a string")
            return reply
        try:
            envelope = run_command(ctx, COMMANDS["execute_code"], {"code": code})
        except CommandError as exc:
            reply.update(response="FAILED", message=f"Error executing code: {exc.message}")
            return reply
        if envelope["status"] == "success":
            reply["message"] = "Code executed successfully"
            if envelope["output"]["stdout"]:
                reply["output"] = envelope["output"]["stdout"]
        else:
            error = envelope.get("error") or {}
            reply.update(response="FAILED", message=f"Error executing code: {error.get('message', envelope['status'])}")
    return reply
