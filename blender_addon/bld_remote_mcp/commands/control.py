"""Commands about the server itself: ping, hello, authenticate, status, sessions, shutdown, polyhaven."""

import os
import time

from ..wire import auth, params
from ..wire.replies import PROTOCOL_VERSION
from . import command


@command("ping")
def ping(ctx, _params):
    return {"pong": True, "time": time.time()}


def _authenticated(ctx):
    return ctx.service.token is None or ctx.connection.authenticated


@command("hello")
def hello(ctx, p):
    """Before authentication only the handshake's side of it (auth.py); after, who this is."""
    if not _authenticated(ctx):
        return auth.hello_before_auth(ctx, p)
    return _about(ctx)


@command("authenticate")
def authenticate(ctx, p):
    if not _authenticated(ctx):
        auth.authenticate(ctx, p)
    return _about(ctx)


def _about(ctx):
    service = ctx.service
    return {
        "protocol_version": PROTOCOL_VERSION,
        "server": "bld-remote",
        "addon_version": service.addon_version,
        "blender_version": service.blender_version,
        "mode": service.mode,
        "pid": os.getpid(),
        "port": service.port,
        "connection_id": ctx.connection.id,
        "instance_id": service.instance_id,
        "auth_required": service.token is not None,
        "authenticated": ctx.connection.authenticated,
    }


@command("status")
def status(ctx, _params):
    return ctx.service.status()


@command("reset_session")
def reset_session(ctx, p):
    session = params.get(p, "session", (str,), None)
    existed = ctx.service.sessions.reset(ctx.connection.id, session)
    return {"reset": True, "existed": existed, "session": session}


@command("shutdown")
def shutdown(ctx, p):
    code = params.get(p, "exit_code", (int,), 0)
    ctx.after_reply.append(lambda: ctx.service.request_shutdown(code, quit_blender=True))
    return {"message": "shutting down", "exit_code": code}


@command("server_shutdown")
def server_shutdown(ctx, _params):
    # As in 1.3.3: the server stops; a background Blender quits, a GUI Blender stays open.
    ctx.after_reply.append(lambda: ctx.service.request_shutdown(0, quit_blender=ctx.service.mode == "background"))
    return {"message": "Server shutdown initiated"}


@command("get_polyhaven_status")
def get_polyhaven_status(ctx, _params):
    return {"enabled": False, "reason": "Asset providers are not supported by bld-remote"}
