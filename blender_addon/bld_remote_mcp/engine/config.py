"""Server settings read from the environment.

Pure module (no bpy): every knob the server has lives here, with its default and the
environment variable that overrides it, so that tests and docs have one place to look.
"""

import ipaddress
import os
from dataclasses import dataclass, field

from .timeline import DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS, STUCK_GRACE_SECS

DEFAULT_PORT = 6688
LOOPBACK_HOST = "127.0.0.1"

MIB = 1024 * 1024


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _env_number(env, name, default, minimum, parse, kind):
    raw = env.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = parse(str(raw).strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be {kind}, got {raw!r}") from exc
    if value != value or value < minimum:  # value != value: NaN
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _env_int(env, name, default, minimum=0):
    return _env_number(env, name, default, minimum, int, "an integer")


def _env_float(env, name, default, minimum=0.0):
    return _env_number(env, name, default, minimum, float, "a number")


def is_loopback(host):
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    host: str = LOOPBACK_HOST
    port: int = DEFAULT_PORT
    # Binding anything but loopback exposes arbitrary code execution: it needs an explicit opt-in.
    allow_remote: bool = False
    start_now: bool = False
    # Incoming message size limit (bytes). Larger messages get `message_too_large`.
    max_message_bytes: int = 64 * MIB
    # An incomplete message with no new byte for this long is dropped with `incomplete_message`.
    idle_timeout: float = 30.0
    # Default and maximum `execute_code` timeouts (seconds; timeline.py).
    default_timeout: float = DEFAULT_TIMEOUT_SECS
    max_timeout: float = MAX_TIMEOUT_SECS
    # After the deadline the runaway code is interrupted; if it is still running after this grace
    # period it is stuck inside a C call and the caller is told so (timeline.py).
    stuck_grace: float = STUCK_GRACE_SECS
    # Captured stdout/stderr per stream, and serialized result size; past these, explicit markers.
    max_output_bytes: int = 64 * MIB
    max_result_bytes: int = 64 * MIB
    # Async jobs: queued/running limit, and how many finished jobs are kept, for how long.
    max_pending_jobs: int = 64
    max_finished_jobs: int = 256
    finished_job_ttl: float = 3600.0
    max_connections: int = 256
    # A synchronous caller that disconnects mid-call: "finish" lets its code run to the end
    # (it may be building something the agent will look at next), "cancel" stops it.
    on_disconnect: str = "finish"
    # Before a connection has authenticated (auth on) it may send this many bytes and messages
    # (the handshake needs about 300 bytes in 2 messages) within auth_timeout, then it is closed:
    # strangers cannot hold buffers, threads, CPU or connection slots (auth.py, tcp_server.py).
    preauth_bytes: int = 4096
    preauth_messages: int = 4
    auth_timeout: float = 10.0
    # GUI timer: how long one drain of the queue may hold the UI before yielding.
    gui_slice_seconds: float = 0.05
    # Token authentication (auth.py): on unless turned off; the token is random per start
    # unless given; it is written under state_dir/tokens (None = bld-remote's state dir).
    auth: bool = True
    token: str = None
    state_dir: str = None
    # Guard mode (guard.py): a seatbelt refusing subprocesses, network sockets and file writes
    # outside guard_allow while an agent's code runs. Off unless asked for.
    guard: bool = False
    # GUI: one undo step per execute_code that changed the scene.
    undo: bool = True
    # Empty: the service's own private temp dir (service.py), never the shared one.
    guard_allow: tuple = field(default_factory=tuple)

    def check(self):
        # One meaning on both sides: a client resolving "localhost" to ::1 while we listen on
        # 127.0.0.1 would reach whoever holds [::1]:port.
        if self.host.strip().lower() == "localhost":
            self.host = LOOPBACK_HOST
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(
                f"refusing to listen on non-loopback address {self.host!r}: anyone who can reach it "
                "can run code in Blender. Set BLD_REMOTE_MCP_ALLOW_REMOTE=1 to opt in explicitly."
            )
        if not is_loopback(self.host) and not self.auth:
            raise ValueError(
                f"refusing to listen on {self.host!r} without authentication: "
                "BLD_REMOTE_MCP_AUTH=off is only allowed on loopback"
            )
        if self.token is not None and len(self.token) < 16:
            raise ValueError("BLD_REMOTE_MCP_TOKEN must be at least 16 characters")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {self.port}")
        return self


def _env_switch(env, name, default):
    raw = str(env.get(name, "")).strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off, got {env.get(name)!r}")


def _env_choice(env, name, choices, default):
    raw = str(env.get(name, "")).strip().lower()
    if raw == "":
        return default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return raw


def from_env(env=None, preferences=None):
    """Build Settings from environment variables (BLD_REMOTE_MCP_*).

    ``preferences`` (the addon's preferences in Blender: ``port``, ``auto_start``, ``auth``)
    replace the built-in defaults; an environment variable that is set still wins, so a launcher
    (``bld-remote start``, CI) gets what it asked for whatever the user clicked.
    """
    env = os.environ if env is None else env
    prefs = preferences or {}
    settings = Settings(
        host=env.get("BLD_REMOTE_MCP_HOST", LOOPBACK_HOST).strip() or LOOPBACK_HOST,
        port=_env_int(env, "BLD_REMOTE_MCP_PORT", prefs.get("port", DEFAULT_PORT)),
        allow_remote=_truthy(env.get("BLD_REMOTE_MCP_ALLOW_REMOTE", "")),
        start_now=(_truthy(env["BLD_REMOTE_MCP_START_NOW"]) if str(env.get("BLD_REMOTE_MCP_START_NOW", "")).strip()
                   else bool(prefs.get("auto_start", False))),
        max_message_bytes=_env_int(env, "BLD_REMOTE_MCP_MAX_MESSAGE_BYTES", 64 * MIB, 1024),
        idle_timeout=_env_float(env, "BLD_REMOTE_MCP_IDLE_TIMEOUT", 30.0, 0.01),
        default_timeout=_env_float(env, "BLD_REMOTE_MCP_DEFAULT_TIMEOUT", DEFAULT_TIMEOUT_SECS, 0.01),
        stuck_grace=_env_float(env, "BLD_REMOTE_MCP_STUCK_GRACE", STUCK_GRACE_SECS, 0.05),
        max_output_bytes=_env_int(env, "BLD_REMOTE_MCP_MAX_OUTPUT_BYTES", 64 * MIB, 1024),
        max_result_bytes=_env_int(env, "BLD_REMOTE_MCP_MAX_RESULT_BYTES", 64 * MIB, 1024),
        max_pending_jobs=_env_int(env, "BLD_REMOTE_MCP_MAX_PENDING_JOBS", 64, 1),
        max_finished_jobs=_env_int(env, "BLD_REMOTE_MCP_MAX_FINISHED_JOBS", 256, 1),
        finished_job_ttl=_env_float(env, "BLD_REMOTE_MCP_FINISHED_JOB_TTL", 3600.0, 1.0),
        max_connections=_env_int(env, "BLD_REMOTE_MCP_MAX_CONNECTIONS", 256, 1),
        on_disconnect=_env_choice(env, "BLD_REMOTE_MCP_ON_DISCONNECT", ("finish", "cancel"), "finish"),
        preauth_bytes=_env_int(env, "BLD_REMOTE_MCP_PREAUTH_BYTES", 4096, 512),
        preauth_messages=_env_int(env, "BLD_REMOTE_MCP_PREAUTH_MESSAGES", 4, 2),
        auth_timeout=_env_float(env, "BLD_REMOTE_MCP_AUTH_TIMEOUT", 10.0, 0.05),
        auth=_env_switch(env, "BLD_REMOTE_MCP_AUTH", prefs.get("auth", True)),
        token=(env.get("BLD_REMOTE_MCP_TOKEN") or "").strip() or None,
        state_dir=(env.get("BLD_REMOTE_STATE_DIR") or "").strip() or None,
        guard=_env_switch(env, "BLD_REMOTE_MCP_GUARD", False),
        undo=_env_switch(env, "BLD_REMOTE_MCP_UNDO", True),
    )
    allow = (env.get("BLD_REMOTE_MCP_GUARD_ALLOW") or "").strip()
    if allow:
        settings.guard_allow = tuple(d for d in allow.split(os.pathsep) if d.strip())
    return settings
