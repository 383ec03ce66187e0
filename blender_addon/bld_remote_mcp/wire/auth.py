"""Authentication: the token, where it is kept, and the gate every request passes. Pure (no bpy).

Anyone who can connect to the port can run code in Blender, and on a shared machine (or from a
web page, or another user's process) "loopback" is not the same as "you". So by default every
server makes a random token at start and writes it to a file only its user can read:
``<state dir>/tokens/<port>.token`` (the state dir of ``bld-remote``: ``BLD_REMOTE_STATE_DIR``,
else ``$XDG_STATE_HOME/bld-remote`` / ``~/.local/state/bld-remote`` on Linux,
``~/Library/Application Support/bld-remote`` on macOS, ``%LOCALAPPDATA%\\bld-remote`` on Windows;
``$XDG_RUNTIME_DIR/bld-remote`` when there is no home; never a shared temp dir).

The token never travels: a connection authenticates with the challenge-response handshake of
``handshake.py`` (docs/protocol.md §1a). ``hello`` with a ``client_nonce`` gets the server's
nonce and proof; ``authenticate`` with the client's proof authenticates the connection. Before
that, nothing else is served: any other request, any 1.3.3 message, a request carrying a
``token`` (protocol 1 clients) or a wrong proof is refused and the connection closed.
``BLD_REMOTE_MCP_AUTH=off`` turns this off, which 1.3.3 clients need; then any local process
can run code.
"""

import hmac
import os
import secrets
import sys

from . import errors, handshake, private_files, replies
from .replies import PROTOCOL_VERSION, CommandError

TOKEN_BYTES = 32


def generate_token():
    return secrets.token_urlsafe(TOKEN_BYTES)


class NoStateDir(ValueError):
    pass


def _absolute(path):
    return path if path and os.path.isabs(path) else None


def default_state_dir(env=None, platform=None, home=None):
    """The state dir ``bld-remote`` uses (same rules as its Rust side). Raises ``NoStateDir``
    when neither a home nor a per-user runtime dir is known: a shared temp dir is never used."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = _absolute(os.path.expanduser("~") if home is None else home)
    if env.get("BLD_REMOTE_STATE_DIR"):
        return env["BLD_REMOTE_STATE_DIR"]
    if platform == "darwin" and home:
        return os.path.join(home, "Library", "Application Support", "bld-remote")
    if platform.startswith("win"):
        base = _absolute(env.get("LOCALAPPDATA")) or (home and os.path.join(home, "AppData", "Local"))
    else:
        base = _absolute(env.get("XDG_STATE_HOME")) or (home and os.path.join(home, ".local", "state"))
    base = base or _absolute(env.get("XDG_RUNTIME_DIR"))
    if not base:
        raise NoStateDir("no home directory and no XDG_RUNTIME_DIR to keep the token in: set "
                         "BLD_REMOTE_STATE_DIR to a directory of your own")
    return os.path.join(base, "bld-remote")


def token_path(state_dir, port):
    return os.path.join(state_dir, "tokens", f"{port}.token")


def prepare_token_dir(state_dir):
    """Makes or checks ``<state_dir>/tokens`` (``private_files``); returns the state dir."""
    return private_files.ensure_private_tree(state_dir, "tokens")


def write_token_file(path, token):
    """Writes the token readable by its owner only (0600), atomically, after checking that the
    directories it goes into cannot be changed by another user (``private_files``)."""
    tokens_dir = os.path.dirname(path)
    private_files.ensure_private_tree(os.path.dirname(tokens_dir), os.path.basename(tokens_dir))
    private_files.write_private_file(path, token.encode("ascii"))


def remove_token_file(path, token):
    """Removes the file if it still holds our token (a newer server may own the port now)."""
    try:
        with open(path, encoding="ascii") as handle:
            if not hmac.compare_digest(handle.read().strip(), token):
                return
        os.remove(path)
    except (OSError, ValueError):
        pass


HINT = ("this bld-remote server requires authentication: bld-remote's own client proves the token "
        "(file {path}) without sending it (protocol §1a: hello with client_nonce, then authenticate). "
        "BLD_REMOTE_MCP_AUTH=off disables this (needed by blender-remote 1.3.3 clients)")

# The requests an unauthenticated connection may send; anything else ends it.
HANDSHAKE_COMMANDS = ("hello", "authenticate")


def gate(service, connection, body, legacy):
    """None if the request may go on to its command; else the refusal to send, after which the
    connection is closed. Nothing in ``body`` but ``id``/``type``/``token`` is read."""
    if service.token is None or connection.authenticated:
        return None
    hint = HINT.format(path=service.token_file or "not written")
    if legacy:
        return {"status": "error", "message": f"Unauthorized: {hint}", "code": errors.UNAUTHORIZED}
    request_id = body.get("id")
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
        request_id = None
    if "token" in body:
        return replies.failure(
            request_id, errors.UNAUTHORIZED,
            "protocol 2 never takes the token on the wire (whoever answers a port would receive it): "
            "prove it with the handshake instead; update the client; " + hint)
    if body.get("type") in HANDSHAKE_COMMANDS:
        return None
    return replies.failure(request_id, errors.UNAUTHORIZED, "not authenticated; " + hint)


def hello_before_auth(ctx, params):
    """``hello`` on a connection not yet authenticated: no details about this Blender, only what a
    client needs to authenticate, and with a ``client_nonce`` the server's side of the proof."""
    service, connection = ctx.service, ctx.connection
    result = {"protocol_version": PROTOCOL_VERSION, "server": "bld-remote", "auth_required": True,
              "authenticated": False, "auth": {"scheme": handshake.SCHEME}}
    client_nonce = params.get("client_nonce")
    connection.challenge = None
    if client_nonce is None:
        return result
    if not handshake.is_nonce(client_nonce):
        raise CommandError(errors.INVALID_PARAMS, "param 'client_nonce' must be 32 random bytes in unpadded "
                           "base64url (43 characters)", param="client_nonce")
    server_nonce = handshake.new_nonce()
    connection.challenge = (server_nonce, client_nonce)
    result["auth"]["server_nonce"] = server_nonce
    result["auth"]["server_proof"] = handshake.proof(service.token, handshake.SERVER, server_nonce, client_nonce,
                                                     connection.binding)
    return result


def authenticate(ctx, params):
    """Checks the client's proof against this connection's challenge (one attempt per challenge);
    authenticates the connection, or refuses and closes it."""
    connection = ctx.connection
    challenge, connection.challenge = connection.challenge, None
    if challenge is None:
        ctx.close_after_reply = True
        raise CommandError(errors.UNAUTHORIZED, "no challenge to answer: send hello with a client_nonce first "
                           "(protocol §1a)")
    server_nonce, client_nonce = challenge
    expected = handshake.proof(ctx.service.token, handshake.CLIENT, server_nonce, client_nonce, connection.binding)
    if not handshake.proof_matches(expected, params.get("client_proof")):
        ctx.close_after_reply = True
        raise CommandError(
            errors.UNAUTHORIZED, "the client's proof does not match: a wrong token, or the client dialled another "
            f"address than this server's {connection.binding} (a relay, tunnel or port forward; "
            "protocol §1a)")
    connection.authenticated = True
