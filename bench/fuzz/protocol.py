"""What the fuzzer knows of the server it attacks (docs/protocol.md): the documented error
codes, the commands, the pre-auth hello, how the server reads and its timers; and ``Ctx``, what
inputs and checks depend on in one run."""

import os

from bld_remote_mcp.wire import handshake


# docs/protocol.md §3; tests/e2e/test_fuzz_socket.py checks that this is the table there.
KNOWN_CODES = frozenset((
    "parse_error", "invalid_request", "unknown_command", "invalid_params", "message_too_large",
    "incomplete_message", "execution_error", "timeout", "cancelled", "queue_full", "not_found", "busy",
    "shutting_down", "internal_error", "unauthorized", "guard_refused", "checkpoint_failed",
))
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI")
COMMANDS = (
    "ping", "hello", "authenticate", "status", "execute_code", "get_job", "cancel_job", "list_jobs",
    "reset_session", "put_persist_data", "get_persist_data", "remove_persist_data", "shutdown", "server_shutdown",
    "get_polyhaven_status", "get_scene_info", "get_object_info", "get_viewport_screenshot", "reset_blender",
)
HANDSHAKE_COMMANDS = ("hello", "authenticate")  # all a connection may send before authenticating (§1a)
# The pre-auth hello of §1a: nothing about this Blender. A challenge adds server_nonce and server_proof to "auth".
PREAUTH_HELLO = {"protocol_version": 2, "server": "bld-remote", "auth_required": True, "authenticated": False,
                 "auth": {"scheme": handshake.SCHEME}}

SERVER_RECV = 1 << 16  # server.py reads at most this much at a time (and before auth, no more than the budget left)
DEFERRED_PARSE_DELAY = 0.02  # server.py: a possible 1.3.3 message put off by the decoder is parsed after this pause
SLACK = 3.0  # seconds allowed past a deadline of the server (timers, a loaded 2-core machine)
# A client's send and a server timer closer than this (seconds) are too close to call: the model
# allows both orders. Our clock starts at connect(), the server's at accept(), a little later.
TOO_CLOSE = 0.15


class Ctx:
    """What inputs and checks depend on: the server's address, token and limits, this run's sentinels."""

    def __init__(self, port, token, max_message_bytes, preauth_bytes, preauth_messages, idle_timeout, auth_timeout,
                 sentinel_dir):
        self.port = port
        self.token = token
        self.max_message_bytes = max_message_bytes
        # Before authenticating, a message may be no larger than the byte budget either (§1a).
        self.limit = min(max_message_bytes, preauth_bytes)
        self.preauth_bytes = preauth_bytes
        self.preauth_messages = preauth_messages
        self.idle_timeout = idle_timeout
        self.auth_timeout = auth_timeout
        # What the handshake binds its proofs to: the address we dial (§1a).
        self.binding = handshake.binding(("127.0.0.1", port))
        self.sentinel_dir = str(sentinel_dir)
        self.sentinel_file = os.path.join(self.sentinel_dir, "executed")
        # A real handshake of ours (the monitor's): client nonce, server nonce, client proof. The
        # replay inputs send it again on a stranger's connection. None until the monitor connects.
        self.recorded = None
