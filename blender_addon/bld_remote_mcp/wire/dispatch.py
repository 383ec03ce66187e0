"""From one decoded message to one reply: v1 requests here, 1.3.3 ones through ``legacy``.

Pure module (no bpy): commands that need bpy are handed to the main-thread queue by the service.
"""

import logging

from ..commands import COMMANDS, Envelope
from . import auth, errors, legacy, replies
from .framing import LEGACY
from .replies import CommandError

log = logging.getLogger("bld_remote_mcp")


class RequestContext:
    """What a command handler may use: the service, its connection, and reply hooks."""

    __slots__ = ("service", "connection", "request_id", "style", "after_reply", "close_after_reply")

    def __init__(self, service, connection, request_id, style):
        self.service = service
        self.connection = connection
        self.request_id = request_id
        self.style = style
        self.after_reply = []  # callables run once the reply was sent (or failed to send)
        self.close_after_reply = False  # a refused handshake: the server closes the connection


def run_command(ctx, command, params):
    """Run one command (v1 and 1.3.3 requests alike); nothing runs once a shutdown was requested."""
    if ctx.service.exit_code is not None:
        raise CommandError(errors.SHUTTING_DOWN, "the server is shutting down; nothing was run")
    if command.main_thread:
        return ctx.service.call_on_main(lambda: command.handler(ctx, params))
    return command.handler(ctx, params)


def handle(service, connection, message):
    """Returns ``(reply, ctx)``; the caller sends ``reply`` then runs ``ctx.after_reply``."""
    body = message.body
    ctx = RequestContext(service, connection, body.get("id"), message.style)
    refusal = auth.gate(service, connection, body, legacy=message.style == LEGACY)
    if refusal is not None:
        ctx.close_after_reply = True
        return refusal, ctx
    if message.style == LEGACY:
        return legacy.handle(ctx, body, run_command), ctx
    return _handle_v1(ctx, body), ctx


def _handle_v1(ctx, body):
    request_id = body.get("id")
    if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
        return replies.failure(None, errors.INVALID_REQUEST, "'id' must be a string, an integer or null")
    command_type = body.get("type")
    if not isinstance(command_type, str):
        return replies.failure(request_id, errors.INVALID_REQUEST, "a request needs a string 'type' naming the command")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return replies.failure(request_id, errors.INVALID_REQUEST, "'params' must be an object")
    command = COMMANDS.get(command_type)
    if command is None:
        return replies.failure(
            request_id, errors.UNKNOWN_COMMAND, f"unknown command {command_type!r}", known=sorted(COMMANDS)
        )
    try:
        result = run_command(ctx, command, params)
    except CommandError as exc:
        return replies.from_command_error(request_id, exc)
    except Exception as exc:
        log.exception("command %s failed", command_type)
        return replies.failure(request_id, errors.INTERNAL_ERROR, f"{command_type} failed: {type(exc).__name__}: {exc}")
    if isinstance(result, Envelope):
        reply = {"id": request_id}
        reply.update(result)
        return reply
    return replies.success(request_id, result)
