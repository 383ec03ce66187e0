"""Token authentication. Pure module (no bpy).

Anyone who can connect to the port can run code in Blender, and on a shared machine (or from a
web page, or another user's process) "loopback" is not the same as "you". So by default every
server makes a random token at start and writes it to a file only its user can read:
``<state dir>/tokens/<port>.token`` (the state dir of ``bld-remote``: ``BLD_REMOTE_STATE_DIR``,
else ``$XDG_STATE_HOME/bld-remote`` / ``~/.local/state/bld-remote`` on Linux,
``~/Library/Application Support/bld-remote`` on macOS, ``%LOCALAPPDATA%\\bld-remote`` on Windows).
``bld-remote`` reads it from there without being told.

A connection is unauthenticated until a v1 request carries ``"token": "<token>"`` at its top
level (clients send it once, with ``hello``). Until then only ``hello`` is answered (it says
that a token is needed); everything else, including every 1.3.3 message, is refused with
``unauthorized`` before it is looked at as a command. ``BLD_REMOTE_MCP_AUTH=off`` turns this
off, which 1.3.3 clients need; then any local process can run code.
"""

import hmac
import os
import secrets
import sys

from . import replies

TOKEN_BYTES = 32


def generate_token():
    return secrets.token_urlsafe(TOKEN_BYTES)


def default_state_dir(env=None, platform=None, home=None):
    """The state dir ``bld-remote`` uses (same rules as its Rust side)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = os.path.expanduser("~") if home is None else home
    if env.get("BLD_REMOTE_STATE_DIR"):
        return env["BLD_REMOTE_STATE_DIR"]
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "bld-remote")
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "bld-remote")
    base = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return os.path.join(base, "bld-remote")


def token_path(state_dir, port):
    return os.path.join(state_dir, "tokens", f"{port}.token")


def write_token_file(path, token):
    """Writes the token readable by its owner only (0600), atomically."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove_token_file(path, token):
    """Removes the file if it still holds our token (a newer server may own the port now)."""
    try:
        with open(path, encoding="ascii") as handle:
            if not hmac.compare_digest(handle.read().strip(), token):
                return
        os.remove(path)
    except OSError:
        pass


HINT = ("this bld-remote server requires a token: bld-remote finds it by itself "
        "(file {path}); other clients send it as \"token\" in their first request. "
        "BLD_REMOTE_MCP_AUTH=off disables this (needed by blender-remote 1.3.3 clients)")


def gate(service, connection, body, legacy):
    """None if the request may go on (authenticating the connection if it carries the token);
    else the refusal to send instead. Nothing in ``body`` but ``token``/``type``/``id`` is read."""
    expected = service.token
    if expected is None or connection.authenticated:
        return None
    hint = HINT.format(path=service.token_file or "not written")
    if legacy:
        return {"status": "error", "message": f"Unauthorized: {hint}", "code": "unauthorized"}
    request_id = body.get("id")
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
        request_id = None
    offered = body.get("token")
    # surrogatepass: a lone-surrogate escape in the token is just a wrong token, not a crash.
    if isinstance(offered, str) and hmac.compare_digest(offered.encode("utf-8", "surrogatepass"),
                                                        expected.encode("ascii")):
        connection.authenticated = True
        return None
    if offered is not None:
        return replies.failure(request_id, "unauthorized", "invalid token; " + hint)
    if body.get("type") == "hello":
        return None  # hello says a token is needed; the connection stays unauthenticated
    return replies.failure(request_id, "unauthorized", "missing token; " + hint)
