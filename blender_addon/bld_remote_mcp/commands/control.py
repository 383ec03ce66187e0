"""Commands about the server itself: ping, hello, authenticate, status, sessions, reset_blender,
shutdown, polyhaven."""

import os
import time

from ..wire import auth, errors, params
from ..wire.replies import PROTOCOL_VERSION, CommandError
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


@command("reset_blender")
def reset_blender(ctx, p):
    """Headless workers only: back to a baseline scene with nothing left of earlier clients.

    What needs no Blender is answered here at once (the param, the GUI refusal, a missing file);
    the reset itself runs on the main thread (``Service.reset_blender``).
    """
    service = ctx.service
    file = params.get(p, "file", (str,), None)
    service.check_can_reset()
    path = None
    if file is not None:
        if not file:
            raise CommandError(errors.INVALID_PARAMS, "param 'file' must be the path of a .blend file, or null "
                               "for Blender's factory startup scene", param="file")
        path = os.path.abspath(file)
        if not os.path.exists(path):
            raise CommandError(errors.NOT_FOUND, f"no file at {path}; nothing was reset", file=path)
        if not os.path.isfile(path):
            raise CommandError(errors.INVALID_PARAMS, f"{path} is not a file; nothing was reset", param="file",
                               file=path)
    return service.call_on_main(lambda: service.reset_blender(path))


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
