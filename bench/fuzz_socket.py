#!/usr/bin/env python3
"""Socket fuzzer against a live addon: hostile bytes on the port, an oracle checked all along.

Fuzz connections never authenticate (protocol 2, docs/protocol.md §1a). Everything they send is a
stranger's: garbage, requests for every command, protocol 1 requests carrying a ``token`` (the
real one included: protocol 2 refuses the field whatever it holds), handshakes with forged,
replayed, reflected or wrongly bound proofs (``forged_proof``), ``authenticate`` with no
challenge, malformed client nonces, and inputs that spend the pre-auth budget. A fuzz connection
may hold a *valid* client proof (it sends a real ``hello`` first and computes the proof for the
server's nonce), but only inside a frame that is malformed by construction
(``real_proof_malformed``: 1.3.3 framing, a ``token`` key beside it, a bad id, a truncated,
oversized or invalid line, junk first...; see ``g_real_proof_malformed``). It never sends a
well-formed ``authenticate`` with a valid proof: every input built from the server's nonces is
checked against the reference model below, for many ways of splitting it into reads, when it is
made (with stand-in nonces) and again with the real nonces just before it is sent.

So docs/protocol.md says that no fuzz input may ever run anything, and every command whose effect
is visible carries a trace: code sets ``builtins.__fuzz_executed__`` and appends to a sentinel
file, ``session``/``key`` params are named ``fuzz-…``, screenshot paths point into the sentinel
dir, and ``shutdown`` would end Blender.

Oracle, checked while the fuzzer runs (each violation is a finding, printed with a reproduction):

* **Nothing executes.** A monitor connection (authenticated) checks every 2 s that the builtins
  marker is unset, no persist key or named session starts with ``fuzz``, the sentinel dir is
  empty, and that every job ``list_jobs`` shows was created by the probe or the monitor (by its
  ``code_preview``), with no gap in the job ids: a fuzz input cannot even *queue* a job.
* **Blender never crashes**: the process stays alive (when this script started it) and
  ``status`` answers every second.
* **Other clients keep their latency**: a probe in a separate process (so that the fuzzer's own
  CPU use does not count) runs ``execute_code 1 + 1`` on its own authenticated connection every
  50 ms, first alone (baseline), then during the fuzzing. No probe call may fail, and
  p99 during <= max(latency_factor x p99 baseline, latency_floor) (10x and 50 ms by default),
  checked apart for the calls that overlap a hostile stranger (below) and for the others.
* **Memory stays bounded**: ``rss_bytes`` from ``status`` every second; max - first <= the
  limit (128 MiB by default). Threads and connections return to their level at the end.
* **Every reply is well-formed**: strict UTF-8 JSON; a v1 error line or a 1.3.3 error object
  whose ``code`` is one of docs/protocol.md §3; the pre-auth ``hello`` with exactly the fields of
  §1a (nothing about the Blender); a challenge whose ``server_proof`` is right for the client
  nonce sent and whose server nonce was never handed out before; or the exact ``HTTP/1.1 403``.
  A connection where the server neither answers nor closes in time is a hang.
* **Every reply is the right one.** ``StrangerModel`` is a reference model of a connection that
  never authenticates: the addon's own pure decoder (``framing.py``, strict, as on every
  connection not yet vetted) for message boundaries, and docs/protocol.md §1a for the rest: the
  byte and message budgets and the auth deadline (each an ``unauthorized`` with ``id`` null that
  names the limit, then the close), the gate (a ``token`` key, a 1.3.3 message, a command other
  than ``hello``/``authenticate``: ``unauthorized``, close), ``hello`` (the plain answer, a
  challenge, or ``invalid_params`` for a malformed nonce), ``authenticate`` (no challenge or a
  wrong proof: ``unauthorized``, close), strict framing (any framing error closes after its reply;
  a first byte that is a letter gets the 403). The message of each ``unauthorized`` must say why
  (``WHY``). The server's timers (a deferred 1.3.3 parse after a 20 ms pause, the idle limit,
  the auth deadline) are simulated against the times the bytes were sent; where a send and a
  timer are too close to call, both orders are allowed. A mismatch is replayed twice and is a
  finding only if it reproduces. The model covers the server around the decoder (server loop,
  dispatch, auth, reply encoding, connection life); the decoder itself is checked against the
  documentation directly (``check_doc``: a letter first gets the 403, any other first byte a
  ``parse_error``, a message over the limit ``message_too_large``, in v1 framing when its bytes
  contain ``"id"``).
* **Strangers cannot hold a connection**: connections that stay open (waiters, slow clients
  feeding one byte a second or just under the idle limit, hostile strangers that never stop
  sending) are closed by the budgets or at the auth deadline (+ slack), as the model says.

Delivery: most inputs on a fresh connection (an interactive ``hello`` first when the input needs
the server's nonce; then send, half-close, read until the server closes; sometimes close or reset
at once instead), some several on one connection (each followed by a newline and a plain ``hello``
as a sync marker: the budgets make these short), a few waiter threads that send and wait for the
server to give up on them, slow clients feeding one byte at a time or a few pieces with pauses
(cut mostly just after a ``}``, where the decoder puts a parse off until the pause; a plain hello
last shows whether a connection that should be closed is), and one thread of hostile strangers
that never stop sending, with pauses in between: ``cpu_drip`` (a message kept just under the
limit, then a byte every few ms) and ``byte_stream`` (whitespace, CRLF, non-JSON lines or plain
hellos as fast as the server takes them). Before authenticating, both are cut off by the byte or
message budget within the first 4 KiB.

Report: inputs per generator, bytes sent, connections, how long the server took over them,
replies by code and ``unauthorized`` by reason, probe latency (baseline; during, with and without
a hostile stranger), RSS, findings with reproductions (the exact input is saved next to the JSON:
resend it with ``--send FILE --port P``, or ``--show REF --seed N`` prints the input of item REF;
inputs that need the server's nonce are saved as templates, with the interactive ``hello`` first).
Printed, and written to bench/results/fuzz-socket-<timestamp>.json.

Run: .venv/bin/python bench/fuzz_socket.py --duration 300 --seed 1 [--kind bg|bpy5]
     (starts its own Blender with small limits, SPAWN_ENV), or attach with --port P --token T (and
     tell it that server's limits: --max-message-bytes, --preauth-bytes, --preauth-messages,
     --idle-timeout, --auth-timeout; the job accounting then assumes nobody else uses that
     Blender). Exit status 1 on any finding. tests/e2e/test_fuzz_socket.py runs the same code,
     shorter, as a test.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import itertools
import json
import math
import os
import platform
import random
import re
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The addon's pure modules (no bpy): its decoder is the model's, its proofs are the client's.
sys.path.insert(0, str(REPO / "blender_addon"))
from bld_remote_mcp.wire import framing, handshake  # noqa: E402

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
    "get_polyhaven_status", "get_scene_info", "get_object_info", "get_viewport_screenshot",
)
HANDSHAKE_COMMANDS = ("hello", "authenticate")  # all a connection may send before authenticating (§1a)
# The pre-auth hello of §1a: nothing about this Blender. A challenge adds server_nonce and server_proof to "auth".
PREAUTH_HELLO = {"protocol_version": 2, "server": "bld-remote", "auth_required": True, "authenticated": False,
                 "auth": {"scheme": handshake.SCHEME}}
PROBE_CODE = "1 + 1  # fuzz-probe"
MONITOR_CODE = (
    "# fuzz-monitor\n"
    "import builtins, threading, bld_remote\n"
    "_result = {'marker': repr(getattr(builtins, '__fuzz_executed__', None)),\n"
    "           'persist': sorted(str(k) for k in bld_remote.persist.keys() if str(k).startswith('fuzz')),\n"
    "           'threads': threading.active_count()}\n"
)
OUR_PREVIEWS = (PROBE_CODE, "# fuzz-monitor")

SERVER_RECV = 1 << 16  # server.py reads at most this much at a time (and before auth, no more than the budget left)
DEFERRED_PARSE_DELAY = 0.02  # server.py: a possible 1.3.3 message put off by the decoder is parsed after this pause
SLACK = 3.0  # seconds allowed past a deadline of the server (timers, a loaded 2-core machine)
# A client's send and a server timer closer than this (seconds) are too close to call: the model
# allows both orders. Our clock starts at connect(), the server's at accept(), a little later.
TOO_CLOSE = 0.15

GENERATORS = (
    "random_bytes", "mutated", "wrong_types", "unknown_command", "odd_ids", "preauth_hello",
    "token_field", "truncated_disconnect", "oversized", "deep_nesting", "invalid_utf8",
    "huge_string", "legacy_garbage", "http_prefix", "control_chars", "client_nonce_variants",
    "authenticate_without_challenge", "budget", "forged_proof", "real_proof_malformed",
)
# Strangers that keep sending: a dedicated thread runs one at a time, with pauses, so that the probe's
# latency can be reported with and without one of them at work.
HOSTILE = ("cpu_drip", "byte_stream")
# Generators whose inputs are complete bytes known in advance (no interactive hello first), so they
# may go in a batch on one connection (each followed by a newline and a sync hello) or to a slow client.
SELF_CONTAINED = tuple(g for g in GENERATORS if g not in ("forged_proof", "real_proof_malformed"))
BATCHABLE = tuple(g for g in SELF_CONTAINED if g != "truncated_disconnect")


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


# --------------------------------------------------------------------------------------------
# JSON text with control over every byte: raw fragments, key order, duplicate keys.


class Raw(str):
    """JSON text inserted as is (NaN, 1e400, a 5000-digit number, a lone surrogate escape)."""


class Obj(list):
    """A JSON object as a list of (key, value) pairs: order kept, duplicates allowed."""


def dumps(value, sep=(",", ":"), ascii_only=True):
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        value = Obj(value.items())
    if isinstance(value, Obj):
        items = (dumps(k, sep, ascii_only) + sep[1] + dumps(v, sep, ascii_only) for k, v in value)
        return "{" + sep[0].join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + sep[0].join(dumps(v, sep, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(value, rng=None):
    """Bytes of a JSON value; with rng, a random but valid spacing and escaping style."""
    sep, ascii_only = (",", ":"), True
    if rng is not None:
        sep = rng.choice(((",", ":"), (", ", ": "), (",", ":"), (" ,\t", " :\r")))
        ascii_only = rng.random() < 0.6
    # surrogatepass: a lone surrogate in a non-ASCII dump becomes (invalid) CESU bytes, on purpose.
    return dumps(value, sep, ascii_only).encode("utf-8", "surrogatepass")


def _get(obj, key):
    for k, v in obj:
        if k == key:
            return v
    return None


def _set(obj, key, value):
    for i, (k, _) in enumerate(obj):
        if k == key:
            obj[i] = (key, value)
            return obj
    obj.append((key, value))
    return obj


def _without(obj, key):
    return Obj((k, v) for k, v in obj if k != key)


def _printable(rng, size, alphabet=b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./"):
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rng.randbytes(size).translate(table)


def _whitespace(rng, size):
    """JSON whitespace (what the decoder skips between messages), ``size`` bytes."""
    return _printable(rng, size, b" \t\r\n")


# --------------------------------------------------------------------------------------------
# Requests: every command, plausible params, every effect leaving a trace.


def sentinel_code(ctx, tag):
    # No braces (see _padded users) and no newline: one line that would leave two traces.
    return (f"import builtins; builtins.__fuzz_executed__ = {tag!r}; "
            f"open({ctx.sentinel_file!r}, 'a').write({tag!r} + chr(10))")


def random_nonce(rng):
    """A well-formed nonce (§1a: 32 bytes, unpadded base64url), from the item's rng."""
    return base64.urlsafe_b64encode(rng.randbytes(handshake.NONCE_BYTES)).rstrip(b"=").decode()


def near_miss_tokens(token):
    """Strings close to the token (never an escape of the token itself: JSON would decode that
    back to the token)."""
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    variants = [
        token[:-1], token + "x", token[1:], " " + token, token + " ", token + "\n", token + "\u0000",
        flipped, token.upper(), token.lower(), token[::-1], token * 2, "", token[:16], token + token[-1],
        token[:8] + "\uff41" + token[9:], token[:5] + "\u00e9" + token[6:], token.replace(token[0], "\t", 1),
        "Bearer " + token, token + "\r",
    ]
    return [v for v in variants if v != token]


def random_json(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.4:
        return rng.choice([None, True, False, 0, -1, 2 ** 53, 1.5, "", "x", "\u00e9\U0001F642", "\u2028"])
    if r < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return Obj((f"k{i}", random_json(rng, depth + 1)) for i in range(rng.randint(0, 3)))


def valid_params(rng, ctx, command, tag):
    p = Obj()
    if command == "execute_code":
        code = sentinel_code(ctx, tag)
        if rng.random() < 0.2:
            p += [("code", base64.b64encode(code.encode()).decode()), ("code_is_base64", True)]
        else:
            p.append(("code", code))
        for key, make in (
            ("execution_mode", lambda: rng.choice(["sync", "async"])),
            ("timeout", lambda: rng.choice([0.5, 5, 30, 86400])),
            ("_timeout_seconds", lambda: rng.choice([1, 3600])),
            ("capture_output", lambda: rng.random() < 0.5),
            ("session", lambda: f"fuzz-{tag}"),
            ("max_result_bytes", lambda: rng.choice([0, 1024, 2 ** 31])),
            ("undo", lambda: rng.random() < 0.5),
            ("checkpoint", lambda: rng.random() < 0.5),
            ("return_as_base64", lambda: rng.random() < 0.5),
        ):
            if rng.random() < 0.25:
                p.append((key, make()))
    elif command == "hello":
        if rng.random() < 0.5:
            p.append(("client_nonce", random_nonce(rng)))
    elif command == "authenticate":
        # Proof-shaped, but for no challenge this connection was given: a stranger's guess.
        p.append(("client_proof", random_nonce(rng)))
    elif command in ("get_job", "cancel_job"):
        p.append(("job_id", f"job-{rng.randint(1, 40)}"))
        if command == "get_job" and rng.random() < 0.5:
            p.append(("wait", rng.choice([0, 0.5, 2])))
        if command == "get_job" and rng.random() < 0.3:
            p.append(("stdout_offset", rng.randint(0, 10)))
    elif command == "reset_session":
        p.append(("session", f"fuzz-{tag}"))
    elif command == "put_persist_data":
        p += [("key", f"fuzz-{tag}"), ("data", random_json(rng))]
    elif command in ("get_persist_data", "remove_persist_data"):
        p.append(("key", f"fuzz-{tag}"))
    elif command == "shutdown":
        p.append(("exit_code", rng.randint(0, 3)))
    elif command == "get_scene_info":
        p += [("limit", rng.choice([None, 0, 5])), ("offset", rng.randint(0, 3))]
    elif command == "get_object_info":
        p.append((rng.choice(["object_name", "name"]), "Cube"))
    elif command == "get_viewport_screenshot":
        p += [("max_size", rng.choice([16, 800])), ("format", rng.choice(["png", "jpg"])),
              ("filepath", os.path.join(ctx.sentinel_dir, f"{tag}.png"))]
    if rng.random() < 0.1:
        p.append(("note", rng.choice(["\u00e9\U0001F642", "\u2028\u2029", "a\"b\\c", "\t"])))
    return p


# Most requests carry no "token": protocol 2 refuses any that does, so a token everywhere would hide
# what lies behind the gate. token_field sends it on purpose.
TOKEN_MODES = ("none",) * 8 + ("real", "near", "wrong_type", "null")
WRONG_VALUES = (
    Raw("true"), Raw("false"), Raw("1.5"), Raw("-1"), Raw("0"), Raw("9223372036854775808"),
    Raw("-9223372036854775809"), Raw("1e400"), Raw("-0"), Raw("null"), [], [1, "a"], Obj(),
    Obj([("a", 1)]), "", "x", "\u00e9", Raw('"\\u0000"'), Raw("1E+2"), Raw("-0.0e-0"),
)


def token_value(rng, ctx, mode):
    """The value of a "token" field: the real token (what a protocol 1 client sends), a near miss,
    a wrong type, or null (the key alone is refused)."""
    if mode == "real":
        return ctx.token
    if mode == "near":
        return rng.choice(near_miss_tokens(ctx.token))
    if mode == "wrong_type":
        return rng.choice([Raw("true"), 12345, [ctx.token[:4]], Obj([("token", "x")]), Raw("1e400")])
    return None


def request(rng, ctx, tag, command=None, token_mode=None, with_id=None):
    """A plausible v1 request from a stranger."""
    command = command or rng.choice(COMMANDS)
    token_mode = token_mode or rng.choice(TOKEN_MODES)
    obj = Obj()
    if with_id if with_id is not None else rng.random() < 0.9:
        obj.append(("id", rng.choice([rng.randint(0, 10 ** 6), f"r-{tag}", None, rng.randint(-5, 5)])))
    obj.append(("type", command))
    if rng.random() < 0.85:
        obj.append(("params", valid_params(rng, ctx, command, tag)))
    if token_mode != "none":
        obj.append(("token", token_value(rng, ctx, token_mode)))
    if rng.random() < 0.3:
        rng.shuffle(obj)
    return obj


def ending(rng):
    return rng.choice((b"\n", b"\n", b"\n", b"\n", b"\n", b"\n", b"", b"", b"\r\n", b"\n\n"))


# --------------------------------------------------------------------------------------------
# Mutations.

BAD_UTF8 = (b"\xff", b"\xfe", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
            b"\xc3\x28", b"\xf8\x88\x80\x80\x80")
INTERESTING = b'{}[]":,\\\x00\r\n\xff \t0-e.'


def boundaries(data):
    """Truncation points by kind: after structure, inside a string/escape/number/literal/UTF-8."""
    kinds = collections.defaultdict(list)
    in_string = False
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if in_string:
            if c == 0x5C:  # backslash: the escape and what follows
                kinds["in_escape"].extend(range(i + 1, min(i + 6, n)))
                i += 2
                continue
            if c == 0x22:
                in_string = False
                kinds["after_string"].append(i + 1)
            elif c >= 0xC0 and i + 1 < n:
                kinds["in_utf8"].append(i + 1)
            else:
                kinds["in_string"].append(i)
        else:
            if c == 0x22:
                in_string = True
                kinds["string_start"].append(i + 1)
            elif c in b"{}[]:,":
                kinds["after_" + chr(c)].append(i + 1)
            elif c in b"0123456789" and i + 1 < n and data[i + 1] in b"0123456789.eE":
                kinds["in_number"].append(i + 1)
            elif c in b"tfn" and i + 1 < n and data[i + 1] in b"rual":
                kinds["in_literal"].append(i + 1)
        i += 1
    kinds["start"].append(0)
    kinds["before_last"].append(max(n - 1, 0))
    return kinds


def truncate(rng, data):
    kinds = boundaries(data)
    positions = kinds[rng.choice(sorted(kinds))]
    pos = rng.choice(positions)
    return data[:min(pos, max(len(data) - 1, 0))]


def mutate(rng, data):
    """One random mutation of a bytearray, in place."""
    if not data:
        data.extend(rng.choice((b"{", b"}", b"\n", b"{\n")))
        return
    op = rng.randrange(14)
    i = rng.randrange(len(data))
    if op == 0:
        data[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        data[i] = rng.randrange(256)
    elif op == 2:
        data.insert(i, INTERESTING[rng.randrange(len(INTERESTING))])
    elif op == 3:
        del data[i]
    elif op == 4:
        data[:] = truncate(rng, bytes(data))
    elif op == 5:  # duplicate a brace
        braces = [j for j, c in enumerate(data) if c in b"{}"]
        if braces:
            j = rng.choice(braces)
            data.insert(j, data[j])
    elif op == 6:  # drop a brace
        braces = [j for j, c in enumerate(data) if c in b"{}"]
        if braces:
            del data[rng.choice(braces)]
    elif op == 7:  # duplicate a slice elsewhere
        j = rng.randrange(len(data))
        chunk = data[i:i + rng.randint(1, 32)]
        data[j:j] = chunk
    elif op == 8:
        j = rng.randrange(len(data))
        data[i], data[j] = data[j], data[i]
    elif op == 9:
        data[i:i] = rng.choice(BAD_UTF8)
    elif op == 10:  # a quote becomes an apostrophe
        quotes = [j for j, c in enumerate(data) if c == 0x22]
        if quotes:
            data[rng.choice(quotes)] = 0x27
    elif op == 11:
        data[i:i] = rng.choice((b"\r\n", b"\r", b"\x00", b"\n", b"\x00\n"))
    elif op == 12:  # a number becomes something odd
        digits = [j for j, c in enumerate(data) if c in b"0123456789"]
        if digits:
            j = rng.choice(digits)
            data[j:j + 1] = rng.choice((b"1e400", b"-0", b"NaN", b"9" * 30, b"1.5", b"Infinity", b"0x10", b"01"))
    else:  # replace a literal
        for lit in (b"true", b"false", b"null"):
            j = data.find(lit)
            if j >= 0:
                data[j:j + len(lit)] = rng.choice((b"True", b"nul", b"None", b"1", b"\"null\"", b"-"))
                break



# --------------------------------------------------------------------------------------------
# Inputs, and the values of an input only known once connected.


class Input:
    __slots__ = ("data", "armed", "mode", "doc", "prelude", "slots", "side", "edit")

    def __init__(self, data, armed=False, mode=None, doc=None, prelude=(), slots=(), side=False, edit=None):
        self.data = bytes(data)
        self.armed = armed  # holds a valid client proof (inside a frame that must not be served)
        self.mode = mode  # preferred delivery, or None
        self.doc = doc or {}  # documented expectations checked without the model; "form": which variant
        # Client nonces (None: no nonce) of hellos sent first, one at a time, each answer awaited:
        # the server's nonces are what later proofs are computed from.
        self.prelude = list(prelude)
        # Values only known once connected (see Session.value), written as slot(i) in data and prelude.
        self.slots = list(slots)
        self.side = side  # needs a challenge the server gave another connection
        # Applied once the slots are filled in (a cut inside a slot would leave its stand-in text):
        # ("cut", i, suffix): the first i bytes, then suffix; ("insert", i, bytes) at offset i.
        self.edit = edit

    @property
    def interactive(self):
        return bool(self.prelude or self.slots or self.side or self.edit)


def slot(i):
    """Stand-in text for the value of slot ``i``. As long as a nonce or a proof (43 characters), so
    that sizes computed on the template (a line placed at the budget's edge) hold once filled in."""
    return f"~slot{i}~".ljust(43, "~")


def fill(template, slots, session):
    """``template`` (bytes or str) with each slot(i) replaced by its value in ``session``."""
    as_bytes = isinstance(template, bytes)
    text = template.decode("utf-8", "surrogateescape") if as_bytes else template
    for i, spec in enumerate(slots):
        if slot(i) in text:
            text = text.replace(slot(i), session.value(spec))
    return text.encode("utf-8", "surrogateescape") if as_bytes else text


def concrete(inp, session):
    """The bytes an input sends after its prelude, with its slots filled in from ``session``."""
    data = fill(inp.data, inp.slots, session)
    if inp.edit is not None:
        what, at, extra = inp.edit
        data = data[:at] + extra if what == "cut" else data[:at] + extra + data[at:]
    return data


def prelude_line(k, client_nonce):
    """The k-th hello sent before an interactive input's bytes."""
    params = {} if client_nonce is None else {"client_nonce": client_nonce}
    return json.dumps({"id": f"pre-{k}", "type": "hello", "params": params}, separators=(",", ":")).encode() + b"\n"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def transcript_proof(key, domain, role, server_nonce, client_nonce, binding):
    """HMAC-SHA256 over a transcript of §1a with any part of it chosen (a forger's tool): with the
    documented domain, role "client", the token and the right binding, it is the valid proof."""
    transcript = "\n".join((domain, role, server_nonce, client_nonce, binding)).encode("utf-8", "surrogatepass")
    return b64url(hmac.new(key.encode("utf-8", "surrogatepass"), transcript, hashlib.sha256).digest())


def _changed(value, fallback):
    return lambda p: value(p) if value(p) != p else fallback(p)


# Ways to spoil a valid proof; each always gives another string.
MANGLES = {
    "drop_last": lambda p: p[:-1],
    "extra_char": lambda p: p + "A",
    "padded": lambda p: p + "=",
    "flip_last": lambda p: p[:-1] + ("B" if p[-1] != "B" else "C"),
    "swapcase": _changed(str.swapcase, lambda p: p + "a"),
    "standard_alphabet": _changed(lambda p: p.replace("-", "+").replace("_", "/"), lambda p: p + "/"),
    "reversed": _changed(lambda p: p[::-1], lambda p: p + "r"),
    "leading_space": lambda p: " " + p,
    "trailing_newline": lambda p: p + "\n",
    "nul": lambda p: p + "\u0000",
    "hex": lambda p: base64.urlsafe_b64decode(p + "=").hex(),
}


class MissingChallenge(LookupError):
    """A slot refers to a challenge the server did not give (its reply is checked by the model)."""


def stand_in_nonce(label):
    """A well-formed nonce that no server hands out: for inputs built before connecting."""
    return b64url(hashlib.sha256(f"bld-fuzz stand-in {label}".encode()).digest())


class Session:
    """What one fuzz connection learnt from the server: the challenges it was given, in order,
    as (client nonce, server nonce, server proof); with ``side``, one given to another connection."""

    def __init__(self, ctx, side=None):
        self.ctx = ctx
        self.challenges = []
        self.side = side

    def recorded(self):
        # Before the monitor has connected (--show, construction checks): a stand-in handshake.
        if self.ctx.recorded is not None:
            return self.ctx.recorded
        client_nonce, server_nonce = stand_in_nonce("recorded client"), stand_in_nonce("recorded server")
        return {"client_nonce": client_nonce, "server_nonce": server_nonce,
                "client_proof": handshake.proof(self.ctx.token, handshake.CLIENT, server_nonce, client_nonce,
                                                self.ctx.binding)}

    def value(self, spec):
        """The text of a slot. Specs: ("recorded_nonce",), ("recorded_proof",): a real handshake of
        ours, done before on another connection; ("server_proof", i): the server's own proof of
        challenge i (reflected); ("proof", i, changes): the client proof of challenge i (or of the
        side connection's, i = "side"), with ``changes`` to the key, domain, role, nonces, binding,
        or a mangle applied: without changes, the valid proof."""
        kind = spec[0]
        if kind == "recorded_nonce":
            return self.recorded()["client_nonce"]
        if kind == "recorded_proof":
            return self.recorded()["client_proof"]
        index = spec[1]
        if index == "side":
            challenge = self.side
        else:
            challenge = self.challenges[index] if index < len(self.challenges) else None
        if challenge is None:
            raise MissingChallenge(f"no challenge {index}")
        client_nonce, server_nonce, server_proof = challenge
        if kind == "server_proof":
            return server_proof
        changes = spec[2] if len(spec) > 2 else {}
        if changes.get("swap_nonces"):
            client_nonce, server_nonce = server_nonce, client_nonce
        value = transcript_proof(changes.get("key", self.ctx.token), changes.get("domain", "bld-remote/2"),
                                 changes.get("role", handshake.CLIENT), server_nonce, client_nonce,
                                 changes.get("binding", self.ctx.binding))
        if "mangle" in changes:
            value = MANGLES[changes["mangle"]](value)
        return value


# --------------------------------------------------------------------------------------------
# Generators: rng, ctx, tag -> Input. The same (seed, space, n) always gives the same input.


JSONISH = b'{}[]":,\\ \n\r\t0123456789abcdeftrulnsxyz-+.eEIN'


def g_random_bytes(rng, ctx, tag):
    size = rng.choice((rng.randint(0, 8), rng.randint(0, 256), rng.randint(0, 4096),
                       rng.randint(0, 2 * ctx.preauth_bytes)))
    style = rng.random()
    if style < 0.4:
        data = rng.randbytes(size)
    elif style < 0.75:
        data = _printable(rng, size, JSONISH)
    else:
        data = _printable(rng, size)
    if rng.random() < 0.5:
        data = b"{" + data
    if rng.random() < 0.5:
        data += b"\n"
    return Input(data)


def g_mutated(rng, ctx, tag):
    data = bytearray(encode(request(rng, ctx, tag), rng))
    for _ in range(rng.randint(1, 4)):
        mutate(rng, data)
    return Input(bytes(data) + ending(rng))


def g_wrong_types(rng, ctx, tag):
    command = rng.choice(HANDSHAKE_COMMANDS) if rng.random() < 0.4 else rng.choice(COMMANDS)
    obj = request(rng, ctx, tag, command=command, token_mode="none" if command in HANDSHAKE_COMMANDS else None)
    target = rng.choice(("id", "type", "params", "token", "param", "param", "param", "extra"))
    wrong = rng.choice(WRONG_VALUES)
    if target in ("id", "type", "token"):
        _set(obj, target, wrong)
    elif target == "params":
        _set(obj, "params", rng.choice([Raw("[]"), "params", 1, Raw("true"), [Obj()], Raw("null")]))
    elif target == "param":
        params = _get(obj, "params")
        if not isinstance(params, Obj):
            params = valid_params(rng, ctx, command, tag)
            _set(obj, "params", params)
        keys = [k for k, _ in params] or ["code", "client_nonce", "client_proof", "job_id", "key"]
        _set(params, rng.choice(keys), wrong)
    else:
        obj.append((rng.choice(["ID", "Type", "params ", "", "\u00e9", "__proto__", "jsonrpc"]), wrong))
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")))


UNKNOWN_NAMES = ("", " hello", "hello ", "HELLO", "Hello", "hello\u0000", "__init__", "__class__", "COMMANDS",
                 "../execute_code", "execute_code\n", "exec", "eval", "execute-code", "execute_code\u200b",
                 "\u0435xecute_code", "make_coffee", "ping" * 200, "get_job/../status", "\U0001F642",
                 "Authenticate", "authenticate ", "auth", "login", "handshake", "hello_before_auth", "gate")


def g_unknown_command(rng, ctx, tag):
    name = rng.choice(UNKNOWN_NAMES) if rng.random() < 0.7 else _printable(rng, rng.randint(1, 64)).decode()
    obj = Obj([("id", rng.randint(0, 999)), ("type", name)])
    if rng.random() < 0.7:
        obj.append(("params", valid_params(rng, ctx, "execute_code", tag)))
    if rng.random() < 0.2:
        obj.append(("token", token_value(rng, ctx, rng.choice(("near", "real")))))
    return Input(encode(obj, rng) + ending(rng))


def g_odd_ids(rng, ctx, tag):
    odd = rng.choice((
        Raw("9" * 19), Raw("9" * 20), Raw("-" + "9" * 40), Raw("1" + "0" * 4299), Raw("1" + "0" * 4300),
        Raw("9" * 10000), Raw("-1"), Raw("-0"), Raw("0.0"), Raw("1.0"), Raw("-1.5"), Raw("1e5"), Raw("1E-7"),
        Raw("1e400"), Raw("-1e400"), Raw("null"), Raw("true"), "", "\u00e9\U0001F642", "x" * 1000,
        [1], Obj([("id", 1)]), Raw("NaN"), Raw("-Infinity"), Raw("0x1F"), Raw("+1"), Raw(".5"), Raw("01"),
    ))
    command = rng.choice(("hello", "hello", "authenticate", "ping", "execute_code", "status"))
    obj = request(rng, ctx, tag, command=command, token_mode="none" if rng.random() < 0.8 else None)
    _set(obj, "id", odd)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"")))


def g_preauth_hello(rng, ctx, tag):
    """The first thing a client does: variants of hello, with and without a client nonce."""
    obj = Obj([("type", "hello")])
    if rng.random() < 0.8:
        obj.append(("id", rng.choice([1, "h", None, -7, 2 ** 62, f"hello-{tag}", Raw("1.0"), Raw("true")])))
    nonce = Obj([("client_nonce", random_nonce(rng))])
    params = rng.choice([None, Obj(), Obj([("x", 1)]), Raw("null"), [], "s", 1, Raw("{}"), nonce, nonce,
                         Obj([("client_nonce", None)])])
    if params is not None:
        obj.append(("params", params))
    extra = rng.random()
    if extra < 0.15:
        obj.append(("token", None))  # the key alone is refused (§1a)
    elif extra < 0.25:
        obj.append(("type", rng.choice(["ping", "execute_code", "authenticate"])))  # duplicate key: the last wins
    elif extra < 0.35:
        obj.insert(0, ("type", "ping"))  # ...so this one is a hello
    elif extra < 0.45:
        obj.append(("Type", "ping"))
    elif extra < 0.5:
        obj.append(("jsonrpc", "2.0"))
    if rng.random() < 0.3:
        rng.shuffle(obj)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\r\n", b"")))


def g_token_field(rng, ctx, tag):
    """Protocol 1's way in: a "token" beside the request. Protocol 2 refuses the field whatever it
    holds, the real token included, and closes (§1a): nothing may run, not even a hello."""
    command = rng.choice(("hello", "hello", "authenticate", "execute_code", "execute_code", "ping",
                          "put_persist_data", "shutdown", "status"))
    mode = rng.choice(("real", "real", "real", "near", "wrong_type", "null"))
    obj = request(rng, ctx, tag, command=command, token_mode=mode)
    form = rng.choice(("plain", "plain", "legacy", "in_params_too", "twice", "first_key"))
    if form == "legacy":  # 1.3.3 framing: no id, no newline
        return Input(encode(_without(obj, "id"), rng), doc={"form": form})
    if form == "in_params_too":
        params = _get(obj, "params")
        if isinstance(params, Obj):
            params.append(("token", ctx.token))
    elif form == "twice":  # the last one counts, and either way the key is there
        obj.append(("token", token_value(rng, ctx, rng.choice(("real", "near", "null")))))
    elif form == "first_key":
        obj = Obj([kv for kv in obj if kv[0] == "token"] + [kv for kv in obj if kv[0] != "token"])
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")), doc={"form": form})


def g_truncated_disconnect(rng, ctx, tag):
    command = rng.choice(("execute_code", "hello", "authenticate", "put_persist_data"))
    data = truncate(rng, encode(request(rng, ctx, tag, command=command), rng))
    return Input(data, mode=rng.choice(("close", "close", "rst", "shut")))


def _padded(prefix, suffix, total, filler=b"a"):
    """prefix + filler* + suffix of exactly ``total`` bytes (total >= len(prefix + suffix))."""
    room = total - len(prefix) - len(suffix)
    return prefix + (filler * (room // len(filler) + 1))[:room] + suffix


def g_oversized(rng, ctx, tag):
    """Messages around the size limit (before authenticating: the smaller of the message limit and
    the byte budget) and around the byte budget."""
    L, B = ctx.limit, ctx.preauth_bytes
    size = rng.choice((L - 1, L, L + 1, L + 1, L + 2, L + rng.randint(3, 4096), L + rng.randint(1, L), B - 1, B,
                       B + 1))
    code = sentinel_code(ctx, tag).encode()
    shape = rng.choice(("v1_line", "v1_line", "id_no_newline", "legacy_no_newline", "line_no_id", "ws_pad",
                        "id_late"))
    if shape == "ws_pad":  # whitespace inside the object, not a long string
        data = _padded(b'{"id":1,"type":"hello",', b'"params":null}', size, b" \t\r")
    elif shape == "id_late":  # "id" only at the end: see the framing guess in check_doc
        data = _padded(b'{"pad":"', b'","id":1,"type":"hello"}', size)
    elif shape == "legacy_no_newline" or shape == "line_no_id":
        data = _padded(b'{"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    else:
        data = _padded(b'{"id":1,"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    newline = shape in ("v1_line", "line_no_id", "ws_pad") or (shape == "id_late" and rng.random() < 0.5)
    data += b"\n" if newline else b""
    return Input(data, doc={"too_large": size > L, "size": size, "form": shape})


def g_deep_nesting(rng, ctx, tag):
    depth = rng.choice((50, 900, 999, 1000, 1001, 2000, 10000, 100000))
    form = rng.choice(("arr_closed", "arr_open", "obj_closed", "obj_open", "in_params", "in_id", "in_token", "mixed"))
    room = ctx.limit - 64
    if form in ("obj_closed", "obj_open", "in_token"):
        depth = min(depth, room // 6)
    else:
        depth = min(depth, room // 2)
    if form == "arr_closed":
        data = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    elif form == "arr_open":
        data = b'{"a":' + b"[" * depth
    elif form == "obj_closed":
        data = b'{"a":' * depth + b"1" + b"}" * depth
    elif form == "obj_open":
        data = b'{"a":' * depth
    elif form == "in_params":
        data = b'{"id":1,"type":"hello","params":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    elif form == "in_id":
        data = b'{"id":' + b"[" * depth + b"]" * depth + b',"type":"hello"}'
    elif form == "in_token":
        data = b'{"id":1,"type":"ping","token":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    else:
        data = b'{"a":' + b'[{"b":' * (depth // 2) + b"0" + b"}]" * (depth // 2) + b"}"
    # Within a few hundred levels of the recursion limit the answer depends on the parser's stack.
    return Input(data + rng.choice((b"\n", b"\n", b"", b"\r\n")), doc={"recursion_edge": 600 <= depth <= 1400})


LONE_SURROGATES = ("\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d", "\\ude00\\ud83d", "\\ud83d\\u0041")
VALID_NON_ASCII = ("\u00e9", "\U0001F642", "\u2028", "\u200b", "\ufeff", "\U0001D54F", "e\u0301", "\u202e")


def g_invalid_utf8(rng, ctx, tag):
    form = rng.choice(("bad_in_string", "bad_outside", "lone_surrogate", "lone_surrogate", "bom", "valid_raw",
                       "cesu"))
    if form == "lone_surrogate":
        field = rng.choice(("id", "type", "token", "key", "param", "code", "client_nonce", "client_proof"))
        esc = Raw('"' + rng.choice(LONE_SURROGATES) + '"')
        if field in ("client_nonce", "client_proof"):
            command = "hello" if field == "client_nonce" else "authenticate"
        elif field in ("id", "key") and rng.random() < 0.5:
            command = "hello"
        else:
            command = rng.choice(COMMANDS)
        obj = request(rng, ctx, tag, command=command, token_mode="none")
        if field in ("id", "type", "token"):
            _set(obj, field, esc)
        elif field == "key":
            obj.append((Raw('"k' + rng.choice(LONE_SURROGATES) + '"'), 1))
        else:
            params = _get(obj, "params")
            if not isinstance(params, Obj):
                params = Obj()
                _set(obj, "params", params)
            _set(params, field if field in ("code", "client_nonce", "client_proof") else "note", esc)
        return Input(encode(obj) + rng.choice((b"\n", b"\n", b"")))
    base = bytearray(encode(request(rng, ctx, tag, command=rng.choice(("hello", "ping", "execute_code"))), rng))
    if form == "bad_in_string":
        kinds = boundaries(bytes(base))
        spots = kinds["in_string"] or [1]
        i = rng.choice(spots)
        base[i:i] = rng.choice(BAD_UTF8)
    elif form == "bad_outside":
        spots = [j for j, c in enumerate(base) if c in b"{,:"] or [1]
        i = rng.choice(spots) + 1
        base[i:i] = rng.choice(BAD_UTF8)
    elif form == "bom":
        base[0:0] = b"\xef\xbb\xbf"
    elif form == "valid_raw":
        i = base.rfind(b"}")
        base[i:i] = b',"note":"' + rng.choice(VALID_NON_ASCII).encode() + b'"'
    else:  # an astral character as two UTF-8-encoded surrogates (CESU-8), invalid UTF-8
        i = base.rfind(b"}")
        base[i:i] = b',"note":"' + "\ud83d\ude42".encode("utf-8", "surrogatepass") + b'"'
    return Input(bytes(base) + rng.choice((b"\n", b"\n", b"")))


def g_huge_string(rng, ctx, tag):
    field = rng.choice(("id", "id", "token", "code", "key", "unknown_param", "type", "param_name", "client_nonce",
                        "client_proof"))
    unit = rng.choice((b"a", b"a", b"\\u00e9", "\u00e9".encode(), b'\\"', b"\\n", "\U0001F642".encode()))
    repeat = unit if len(unit) > 1 else None
    command = ({"id": "hello", "client_nonce": "hello", "client_proof": "authenticate"}.get(field)
               or rng.choice(COMMANDS))
    obj = Obj([("id", 1), ("type", command)])
    params = valid_params(rng, ctx, "execute_code", tag)
    placeholder = "\u0000PLACEHOLDER\u0000"
    if field in ("id", "type", "token"):
        _set(obj, field, placeholder)
    elif field == "code":
        _set(params, "code", placeholder)
    elif field == "key":
        params = Obj([("key", placeholder), ("data", 1)])
        _set(obj, "type", "put_persist_data")
    elif field in ("client_nonce", "client_proof"):
        params = Obj([(field, placeholder)])
    elif field == "unknown_param":
        params.append(("blob", placeholder))
    else:
        params.append((placeholder, 1))
    obj.append(("params", params))
    skeleton = encode(obj)
    hole = json.dumps(placeholder).encode()
    overhead = len(skeleton) - len(hole) + 2  # the quotes stay
    room = max(1, ctx.limit - overhead - 2)
    size = rng.randint(room // 4, room) if rng.random() < 0.7 else rng.randint(min(1000, room), room)
    if repeat is None:
        content = b"a" * size if rng.random() < 0.5 else _printable(rng, size)
    else:
        content = (repeat * (size // len(repeat)))
    data = skeleton.replace(hole, b'"' + content + b'"')
    return Input(data + rng.choice((b"\n", b"\n", b"\n", b"")))


def g_legacy_garbage(rng, ctx, tag):
    form = rng.random()
    if form < 0.4:
        obj = Obj([("type", rng.choice(COMMANDS))])
        if rng.random() < 0.8:
            obj.append(("params", valid_params(rng, ctx, _get(obj, "type"), tag)))
        if rng.random() < 0.2:
            obj.append(("token", token_value(rng, ctx, rng.choice(("near", "real")))))
    elif form < 0.7:
        obj = Obj([("code", sentinel_code(ctx, tag))])
        if rng.random() < 0.4:
            obj.append(("message", "hi"))
    elif form < 0.8:
        obj = Obj([("message", rng.choice(["hi", "\u00e9", "x" * 100]))])
    else:
        obj = rng.choice((Obj(), Obj([("params", Obj())]), Obj([("type", None)]), Obj([("type", 5)])))
    garbage = rng.choice((
        b"", b"", _printable(rng, rng.randint(1, 64), JSONISH), rng.randbytes(rng.randint(1, 64)),
        encode(Obj([("type", "ping")])), b'{"type":', b"}}}}", b"   ", b"\n", b'{"id":1,"type":"hello"}\n',
        b"{", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * rng.randint(1, 8), b"\r", encode(obj),
    ))
    return Input(encode(obj, rng) + garbage)


def g_http_prefix(rng, ctx, tag):
    method = rng.choice(HTTP_METHODS + ("get", "Post", "GE", "GET", "POS", "HTTP/1.1", "G E T", "GETX", "PRI *",
                                        "FOO", "GET\t"))
    body = encode(request(rng, ctx, tag, command="execute_code", token_mode="none")) + b"\n"
    form = rng.choice(("request", "request", "ws_first", "no_space", "partial", "after_hello", "h2", "tls",
                       "response"))
    if form == "request":
        data = (f"{method} / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    elif form == "ws_first":
        data = rng.choice((b"\r\n", b" ", b"\n\n", b"\t \r\n")) + method.encode() + b" /x HTTP/1.0\r\n\r\n" + body
    elif form == "no_space":
        data = method.encode() + b"\n" + body
    elif form == "partial":
        data = method.encode()[:rng.randint(1, max(1, len(method)))]
    elif form == "after_hello":
        data = b'{"id":1,"type":"hello"}\n' + method.encode() + b" / HTTP/1.1\r\n\r\n" + body
    elif form == "h2":
        data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + body
    elif form == "tls":
        data = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(64)
    else:
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    return Input(data)


SEPARATORS = (b"\r\n", b"\r", b"\n", b"\x00", b"\r\r\n", b"\n\r", b" \t", b"\x0c", b"\x0b", b"\x00\n", b"\r\x00\n")


def g_control_chars(rng, ctx, tag):
    form = rng.choice(("separators", "separators", "nul_in_string", "escaped_nul", "cr_whitespace", "lone_cr_end",
                       "nul_before"))
    hello = b'{"id":%d,"type":"hello"}'
    if form == "separators":
        parts = [hello % i if rng.random() < 0.6 else encode(request(rng, ctx, f"{tag}-{i}"))
                 for i in range(rng.randint(2, 6))]
        data = b"".join(p + rng.choice(SEPARATORS) for p in parts)
    elif form == "nul_in_string":
        data = b'{"id":1,"type":"hel\x00lo"}\n'
    elif form == "escaped_nul":
        data = b'{"id":"\\u0000","type":"hello","params":{"x":"a\\u0000b"}}\n'
    elif form == "cr_whitespace":
        data = b'{\r"id"\r:\r1\r,\r"type"\r:\r"hello"\r}\r\n'
    elif form == "lone_cr_end":
        data = (hello % 7) + b"\r"
    else:
        data = rng.choice((b"\x00", b"\x00\x00", b"\x0c")) + (hello % 3) + b"\n"
    return Input(data)


def _noncanonical(nonce):
    """The same 32 bytes with the spare low bits of the last character set: decodes alike, but is
    not the canonical text (§1a asks for it)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return nonce[:-1] + alphabet[alphabet.index(nonce[-1]) | 1]


def nonce_variants(rng):
    """client_nonce values: one well-formed, one escaped that JSON decodes to a well-formed one, and
    every way to be wrong (§1a: the canonical 43 base64url characters of 32 bytes)."""
    good = random_nonce(rng)
    standard = base64.b64encode(rng.randbytes(32)).decode()
    escaped = "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(good))
    return [
        good, good, Raw(f'"{escaped}"'),
        good[:-1], good + "A", "", good * 2, good[:42] + "=", good + "=", standard, standard.rstrip("="),
        _noncanonical(good), " " + good[1:], good[:-1] + " ", good[:10] + "\uff41" + good[11:],
        good[:5] + "\u00e9" + good[6:], good[:20] + "\u0000" + good[21:], "!" * 43, "=" * 43,
        b64url(rng.randbytes(31)), b64url(rng.randbytes(33)), b64url(rng.randbytes(16)),
        Raw('"' + good[:20] + "\\ud800" + good[21:] + '"'),
        1, 1.5, Raw("true"), [good], Obj([("nonce", good)]), Raw("null"), Raw("1e400"),
    ]


def g_client_nonce_variants(rng, ctx, tag):
    """One to three hellos with client nonces good and bad (a malformed one is invalid_params and
    clears any challenge; each good one replaces it), sometimes an authenticate after them."""
    lines = []
    for k in range(rng.randint(1, 3)):
        params = Obj([("client_nonce", rng.choice(nonce_variants(rng)))])
        obj = Obj([("id", f"n{k}"), ("type", "hello"), ("params", params)])
        lines.append(encode(obj, rng) + b"\n")
    if rng.random() < 0.4:
        proof = rng.choice((random_nonce(rng), "", None, 1))
        lines.append(encode(Obj([("id", "a"), ("type", "authenticate"), ("params", Obj([("client_proof", proof)]))]))
                     + b"\n")
    return Input(b"".join(lines))


def g_authenticate_without_challenge(rng, ctx, tag):
    """authenticate with no challenge to answer (never asked for one, or it was cleared): always
    "unauthorized" and the close, whatever the proof (§1a)."""
    proof = rng.choice((random_nonce(rng), random_nonce(rng), "", None, 1, [random_nonce(rng)], Obj(), Raw("true")))
    params = rng.choice((Obj([("client_proof", proof)]), Obj([("client_proof", proof)]), Obj(), None))
    auth = Obj([("id", rng.choice((1, "auth", None, -3))), ("type", "authenticate")])
    if params is not None:
        auth.append(("params", params))
    form = rng.choice(("first", "first", "after_plain_hello", "after_bad_nonce", "after_invalid_hello", "after_cleared",
                       "after_invalid_authenticate", "legacy"))
    before = {
        "first": [],
        "after_plain_hello": [b'{"id":"h","type":"hello"}\n'],
        "after_bad_nonce": [b'{"id":"h","type":"hello","params":{"client_nonce":"%s"}}\n'
                            % random_nonce(rng)[:-1].encode()],
        # invalid_request: the hello itself never ran, so no challenge
        "after_invalid_hello": [b'{"id":"h","type":"hello","params":["%s"]}\n' % random_nonce(rng).encode()],
        # a challenge, then a plain hello that clears it (each hello replaces it)
        "after_cleared": [b'{"id":"h1","type":"hello","params":{"client_nonce":"%s"}}\n' % random_nonce(rng).encode(),
                          b'{"id":"h2","type":"hello"}\n'],
        "after_invalid_authenticate": [b'{"id":true,"type":"authenticate","params":{"client_proof":"x"}}\n'],
        "legacy": [],
    }[form]
    if form == "legacy":
        return Input(encode(_without(auth, "id"), rng), doc={"form": form})
    return Input(b"".join(before) + encode(auth, rng) + ending(rng), doc={"form": form})


BUDGET_FORMS = ("many_hellos", "keepers", "exact_messages", "whitespace_then_hello", "hello_then_whitespace",
                "line_at_the_edge", "whitespace_only", "long_ids", "padding_inside", "messages_then_bytes")


def g_budget(rng, ctx, tag):
    """The pre-auth budget (§1a): past its bytes or messages, one "unauthorized" naming the limit
    and the close; up to them, every message is answered. Many small hellos, whitespace padding,
    lines placed at the budget's edge."""
    B, M = ctx.preauth_bytes, ctx.preauth_messages
    form = rng.choice(BUDGET_FORMS)

    def hello(k, nonce=False):
        params = b',"params":{"client_nonce":"%s"}' % random_nonce(rng).encode() if nonce else b""
        return b'{"id":%d,"type":"hello"%s}\n' % (k, params)

    if form == "many_hellos":
        data = b"".join(hello(k, rng.random() < 0.3) for k in range(max(1, M + rng.choice((-1, 0, 1, 1, 2, 10)))))
    elif form == "keepers":  # errors that leave the connection open, and no challenge
        keepers = (b'{"id":true,"type":"hello"}\n', b'{"id":%d,"type":"authenticate","params":[]}\n',
                   b'{"id":%d,"type":"hello","params":{"client_nonce":"short"}}\n',
                   b'{"id":%d,"type":"hello","params":7}\n')
        data = b"".join((rng.choice(keepers).replace(b"%d", b"%d" % k)) for k in range(M + rng.choice((0, 1, 3))))
    elif form == "exact_messages":  # all answered: the budget is that many messages
        data = b"".join(hello(k) for k in range(M))
    elif form == "whitespace_then_hello":
        line = hello(1, rng.random() < 0.5)
        data = _whitespace(rng, B - len(line) + rng.choice((-2, -1, 0, 1, 2))) + line
    elif form == "hello_then_whitespace":
        line = hello(1)
        data = line + _whitespace(rng, B - len(line) + rng.choice((-1, 0, 1, 1000)))
    elif form == "line_at_the_edge":
        # The newline as byte B (answered, then the budget is spent), as byte B + 1 (the object
        # is complete without it and has an id: v1, answered), or the object cut by the budget.
        line = hello(1, rng.random() < 0.5)
        data = _whitespace(rng, B + rng.choice((0, 1, 2, 5, 30)) - len(line)) + line
    elif form == "whitespace_only":
        data = _whitespace(rng, B + rng.choice((-1, 0, 1, 4096)))
    elif form == "long_ids":
        count = rng.randint(2, 6)
        width = max(1, B // count + rng.randint(-60, 60))
        data = b"".join(b'{"id":"%s","type":"hello"}\n' % (b"x" * width) for _ in range(count))
    elif form == "padding_inside":  # whitespace inside one object: the size limit, or the byte budget
        size = rng.choice((ctx.limit - 1, ctx.limit, ctx.limit + 1, B - 1, B, B + 1))
        data = _padded(b'{"id":1,', b'"type":"hello"}', size, b" \t\r\n") + b"\n"
    else:  # messages_then_bytes: the message budget spent, then the byte budget crossed
        data = b"".join(hello(k) for k in range(M)) + _whitespace(rng, B) + hello(M)
    return Input(data, doc={"form": form})


def auth_line(proof_text, request_id="auth"):
    """A well-formed authenticate carrying ``proof_text`` (a slot, or a literal)."""
    params = Obj([("client_proof", proof_text)])
    return encode(Obj([("id", request_id), ("type", "authenticate"), ("params", params)])) + b"\n"


def same_hmac_key(a, b):
    """Whether two keys are one HMAC key: a key shorter than the hash's block is padded with zero
    bytes, so the token and the token + "\0" prove alike (HMAC's design, not the server's)."""
    return hmac.new(a.encode("utf-8", "surrogatepass"), b"k", hashlib.sha256).digest() == \
        hmac.new(b.encode("utf-8", "surrogatepass"), b"k", hashlib.sha256).digest()


def wrong_bindings(port):
    """Addresses a proof may be bound to that are not the one we dial (127.0.0.1:port)."""
    return [f"[::1]:{port}", f"127.0.0.1:{port + 1}", f"localhost:{port}", f"127.0.0.2:{port}", f"0.0.0.0:{port}",
            f"[::ffff:127.0.0.1]:{port}", f"127.0.0.1:0{port}", "127.0.0.1", f"127.0.0.1:{port} ", f"127.1:{port}"]


FORGED_FORMS = ("wrong_binding", "wrong_token", "reflected", "wrong_role", "swapped_nonces", "wrong_domain",
                "mangled", "random", "stale_challenge", "cleared_challenge", "cleared_by_bad_nonce", "replayed",
                "replayed_proof", "other_connection", "two_attempts", "at_message_limit", "past_message_limit",
                "past_byte_limit")


def g_forged_proof(rng, ctx, tag):
    """A real hello first (the server's nonce and proof), then a well-formed authenticate whose
    proof is wrong: bound to another address, made with another key, domain or role, the server's
    own proof reflected, the nonces swapped, a valid proof spoilt, one for a challenge that was
    replaced or cleared, one recorded from another connection's handshake, one for a challenge
    given to another connection; or a wrong proof at and past the message and byte budgets.
    Each gets "unauthorized" (no challenge / a wrong proof / a budget) and the close."""
    B, M = ctx.preauth_bytes, ctx.preauth_messages
    form = rng.choice(FORGED_FORMS)
    nonce = random_nonce(rng)
    prelude = [nonce]
    slots = [("proof", 0, {})]
    side = False
    changes = slots[0][2]
    if form == "wrong_binding":
        changes["binding"] = rng.choice(wrong_bindings(ctx.port))
    elif form == "wrong_token":
        changes["key"] = rng.choice([t for t in near_miss_tokens(ctx.token) if not same_hmac_key(t, ctx.token)])
    elif form == "reflected":  # the server's proof of this very challenge, sent back
        slots = [("server_proof", 0)]
    elif form == "wrong_role":
        changes["role"] = rng.choice(("server", "Client", "client ", "", "relay"))
    elif form == "swapped_nonces":
        changes["swap_nonces"] = True
    elif form == "wrong_domain":
        changes["domain"] = rng.choice(("bld-remote/1", "bld-remote/3", "bld-remote", "bld-remote/2 ", ""))
    elif form == "mangled":
        changes["mangle"] = rng.choice(sorted(MANGLES))
    elif form == "random":
        slots = []
    elif form == "stale_challenge":  # valid for the first challenge, but a second hello replaced it
        prelude = [nonce, random_nonce(rng)]
    elif form == "cleared_challenge":  # a plain hello clears the challenge
        prelude = [nonce, None]
    elif form == "cleared_by_bad_nonce":  # so does a hello with a malformed nonce (invalid_params)
        prelude = [nonce, rng.choice((nonce[:-1], nonce + "=", "", _noncanonical(nonce)))]
    elif form == "replayed":  # a recorded handshake of ours: its client nonce, then its proof
        prelude = [slot(1)]
        slots = [("recorded_proof",), ("recorded_nonce",)]
    elif form == "replayed_proof":
        slots = [("recorded_proof",)]
    elif form == "other_connection":  # valid for the challenge another connection was given
        slots = [("proof", "side", {})]
        side = True
    else:  # the budgets: a wrong proof at them and past them
        changes["mangle"] = rng.choice(sorted(MANGLES))
    proof_text = slot(0) if slots else random_nonce(rng)
    line = auth_line(proof_text)
    if form == "two_attempts":  # the first wrong proof closes: the second is never read
        data = line + auth_line(slot(0), "again")
    elif form in ("at_message_limit", "past_message_limit"):
        # Fillers that keep the challenge (invalid_request: no hello or authenticate ran), so that
        # the authenticate is message M (answered: a wrong proof) or M + 1 (the budget first).
        count = M - 2 if form == "at_message_limit" else M - 1
        filler = rng.choice((b'{"id":true,"type":"hello"}\n', b'{"id":1.5,"type":"authenticate","params":{}}\n',
                             b'{"id":"f","type":"authenticate","params":"x"}\n'))
        data = filler * max(0, count) + line
    elif form == "past_byte_limit":
        # Whitespace so that the authenticate starts within the byte budget and ends past it.
        room = B - len(prelude_line(0, nonce))
        inside = rng.randint(1, len(line) - 2)
        data = _whitespace(rng, max(0, room - inside)) + line
    else:
        data = line
    return Input(data, prelude=prelude, slots=slots, side=side, doc={"form": form})


REAL_PROOF_FORMS = ("legacy", "token_key", "bad_id", "params_not_object", "proof_key", "proof_wrapped", "dup_proof",
                    "dup_type", "type_case", "proof_elsewhere", "truncated", "truncated_newline", "bad_utf8", "nan",
                    "junk_first", "http", "oversized", "no_close", "double_open", "raw_newline_in_string")


def g_real_proof_malformed(rng, ctx, tag):
    """A real hello first, then the *valid* client proof of its challenge, inside a frame that
    docs/protocol.md says is never served as an authenticate (each shape stays so however the
    bytes are split into reads: checked against the model in make_input and before sending)."""
    form = rng.choice(REAL_PROOF_FORMS)
    proof = slot(0)
    params = Obj([("client_proof", proof)])
    obj = Obj([("id", rng.choice((1, "auth", 0)))] if form != "legacy" else [])
    obj += [("type", "authenticate"), ("params", params)]
    mode = None
    if form == "token_key":  # protocol 1's field beside it: refused whatever it holds
        obj.append(("token", token_value(rng, ctx, rng.choice(("real", "near", "null")))))
    elif form == "bad_id":  # invalid_request: the authenticate never runs (the challenge stays)
        _set(obj, "id", rng.choice((Raw("true"), Raw("1.5"), [1], Obj([("a", 1)]), Raw("1e400"), Raw("-0.0"))))
    elif form == "params_not_object":
        _set(obj, "params", rng.choice(([proof], proof, Raw("[" + json.dumps(proof) + "]"))))
    elif form == "proof_key":
        key = rng.choice(("client_proof ", "clientProof", "proof", "Client_proof", "client_proof\u0000",
                          "client-proof", "server_proof"))
        _set(obj, "params", Obj([(key, proof)]))
    elif form == "proof_wrapped":
        _set(params, "client_proof", rng.choice(([proof], Obj([("proof", proof)]), Raw(f'"{proof}\\u0000"'),
                                                 Raw(f'" {proof}"'), Raw(f'"{proof}="'), Raw(f'"{proof}\\n"'))))
    elif form == "dup_proof":  # valid JSON whose last client_proof (the one that counts) is wrong
        params.append(("client_proof", rng.choice((random_nonce(rng), "", None))))
    elif form == "dup_type":
        obj.append(("type", rng.choice(("ping", "execute_code", "hello", "status"))))
    elif form == "type_case":
        _set(obj, "type", rng.choice(("Authenticate", "AUTHENTICATE", "authenticate ", "authenticate\u0000",
                                      "authenticat", " authenticate")))
    elif form == "proof_elsewhere":
        obj = rng.choice((
            Obj([("id", 1), ("type", "authenticate"), ("client_proof", proof)]),  # top level, no params
            Obj([("id", proof), ("type", "authenticate"), ("params", Obj())]),
            Obj([("id", 1), ("type", "authenticate"), ("params", Obj([(proof, proof)]))]),
        ))
    text = encode(obj)
    edit = None
    if form == "legacy":  # no id and no newline anywhere: 1.3.3 framing, refused
        data = text
    elif form == "truncated":  # a strict prefix (of the real frame: cut once filled in), then the peer leaves
        data = text
        edit = ("cut", rng.randint(1, len(text) - 1), b"")
        mode = rng.choice(("close", "rst", "shut"))
    elif form == "truncated_newline":
        data = text
        edit = ("cut", rng.randint(1, len(text) - 1), b"\n")
    elif form == "bad_utf8":  # anywhere before the final brace, the proof included
        data = text + rng.choice((b"\n", b""))
        edit = ("insert", rng.randint(1, len(text) - 1), rng.choice(BAD_UTF8))
    elif form == "nan":
        i = text.rfind(b"}")
        constant = rng.choice((b"NaN", b"Infinity", b"-Infinity"))
        data = text[:i] + b',"x":' + constant + text[i:] + rng.choice((b"\n", b""))
    elif form == "junk_first":  # not whitespace: before authenticating, the connection ends there
        data = rng.choice((b"x", b"\x00", b"\xef\xbb\xbf", b"[", b"}", b"\x0c", b'"', b"\x0b", b"1")) + text + b"\n"
    elif form == "http":
        data = rng.choice(HTTP_METHODS).encode() + b" / HTTP/1.1\r\n\r\n" + text + b"\n"
    elif form == "oversized":  # over the size limit (or the byte budget, whichever is smaller)
        i = text.rfind(b"}}")
        size = ctx.limit + rng.randint(1, 512)
        data = _padded(text[:i] + b',"pad":"', b'"' + text[i:], size) + rng.choice((b"\n", b""))
    elif form == "no_close":
        data = text[:-1] + b"\n"
    elif form == "double_open":
        data = b"{" + text + b"\n"
    elif form == "raw_newline_in_string":  # a raw newline inside the proof splits it into two broken lines
        data = text + b"\n"
        edit = ("insert", text.find(proof.encode()) + rng.randint(1, 42), b"\n")
    else:
        data = text + rng.choice((b"\n", b"\n", b"\r\n"))
    if form == "legacy":
        assert b"\n" not in data
    return Input(data, armed=True, mode=mode, prelude=[random_nonce(rng)], slots=[("proof", 0, {})], edit=edit,
                 doc={"form": form})


def g_cpu_drip(rng, ctx, tag):
    """A message that stays incomplete just under the limit, then one byte every few ms: each byte
    makes the decoder look at the buffer again. Before authenticating, the byte budget (or the
    size limit) ends it within the first few KiB."""
    form = rng.choice(("whitespace", "whitespace", "brace_in_string"))
    room = max(0, ctx.limit - 64)
    if form == "whitespace":
        data, unit = b"{" + b" " * room, rng.choice((b" ", b"\t", b"\r"))
    else:
        data, unit = b'{"a":"' + b"x" * room, b"}"
    return Input(data, doc={"form": form, "hostile": {"form": form, "unit": unit,
                                                      "interval": rng.choice((0.002, 0.005))}})


def g_byte_stream(rng, ctx, tag):
    """Bytes as fast as the server takes them: whitespace between messages, lines that are not
    JSON, plain hellos."""
    form = rng.choice(("whitespace", "crlf", "not_json_lines", "hellos"))
    unit = {"whitespace": b" " * (1 << 20), "crlf": b"\r\n" * (1 << 19), "not_json_lines": b"x\n" * (1 << 15),
            "hellos": b'{"id":1,"type":"hello"}\n' * 2048}[form]
    return Input(b"", doc={"form": form, "hostile": {"form": form, "unit": unit, "interval": 0.0}})


GENERATOR_FUNCS = {
    "random_bytes": g_random_bytes, "mutated": g_mutated, "wrong_types": g_wrong_types,
    "unknown_command": g_unknown_command, "odd_ids": g_odd_ids, "preauth_hello": g_preauth_hello,
    "token_field": g_token_field, "truncated_disconnect": g_truncated_disconnect,
    "oversized": g_oversized, "deep_nesting": g_deep_nesting, "invalid_utf8": g_invalid_utf8,
    "huge_string": g_huge_string, "legacy_garbage": g_legacy_garbage, "http_prefix": g_http_prefix,
    "control_chars": g_control_chars, "client_nonce_variants": g_client_nonce_variants,
    "authenticate_without_challenge": g_authenticate_without_challenge, "budget": g_budget,
    "forged_proof": g_forged_proof, "real_proof_malformed": g_real_proof_malformed,
    "cpu_drip": g_cpu_drip, "byte_stream": g_byte_stream,
}
assert tuple(GENERATOR_FUNCS) == GENERATORS + HOSTILE


class FuzzerBug(AssertionError):
    pass


def stand_in_session(inp, ctx):
    """The pieces an interactive input would send and the server nonces the model should use, with
    stand-ins for what the server will say (its nonces): for checks made before connecting."""
    session = Session(ctx)
    if inp.side:
        side_nonce, side_server = stand_in_nonce("side client"), stand_in_nonce("side server")
        session.side = (side_nonce, side_server,
                        handshake.proof(ctx.token, handshake.SERVER, side_server, side_nonce, ctx.binding))
    pieces = []
    for k, entry in enumerate(inp.prelude):
        nonce = None if entry is None else fill(entry, inp.slots, session)
        pieces.append(prelude_line(k, nonce))
        if handshake.is_nonce(nonce):
            server_nonce = stand_in_nonce(f"server {k}")
            session.challenges.append((nonce, server_nonce, handshake.proof(
                ctx.token, handshake.SERVER, server_nonce, nonce, ctx.binding)))
    pieces.append(concrete(inp, session))
    return pieces, [c[1] for c in session.challenges]


def make_input(ctx, gen, rng, tag):
    item = GENERATOR_FUNCS[gen](rng, ctx, tag)
    if item.interactive:
        # Never a well-formed authenticate with a valid proof: the model must say that no split of
        # these bytes into reads authenticates (with stand-in nonces; checked again when sent).
        pieces, server_nonces = stand_in_session(item, ctx)
        split = authenticating_split(pieces, ctx, server_nonces, thorough=True, seed=tag)
        if split is not None:
            raise FuzzerBug(f"{gen} input would authenticate for reads of {split}: {pieces[-1][:200]!r}")
    return item


# --------------------------------------------------------------------------------------------
# Items: what one fuzz step does. Spaces: "f" fuzz workers, "w" waiters, "s" slow clients, "h" hostile.


class Item:
    def __init__(self, ref, kind, gens, inputs, mode):
        self.ref = ref  # "f:123": regenerate with the same seed
        self.kind = kind  # single, batch, wait, slow, paced, hostile
        self.gens = gens
        self.inputs = inputs
        self.mode = mode

    @property
    def data(self):
        """The bytes sent (for an interactive input: its template, after its prelude's hellos)."""
        prelude = b"".join(prelude_line(k, n) for i in self.inputs for k, n in enumerate(i.prelude))
        return prelude + b"".join(i.data for i in self.inputs)


PACED_MARKER = b'\n{"id":"fuzz-after","type":"hello"}\n'  # (the newline first ends whatever came before)


def make_item(seed, space, n, ctx):
    rng = random.Random(f"{seed}/{space}/{n}")
    tag = f"fuzz-{space}{n}"
    ref = f"{space}:{n}"
    if space == "f":
        if rng.random() < 0.12:
            # Short: a batch's sync hellos count against the message budget too.
            gens = [rng.choice(BATCHABLE) for _ in range(rng.randint(2, 3))]
            inputs = [make_input(ctx, g, rng, f"{tag}-{i}") for i, g in enumerate(gens)]
            return Item(ref, "batch", gens, inputs, "batch")
        gen = rng.choice(GENERATORS)
        item = make_input(ctx, gen, rng, tag)
        mode = item.mode or rng.choice(("shut",) * 17 + ("close", "close", "rst"))
        return Item(ref, "single", [gen], [item], mode)
    if space == "h":
        gen = rng.choice(HOSTILE)
        return Item(ref, "hostile", [gen], [make_input(ctx, gen, rng, tag)], "hostile")
    if space == "w":
        gen = rng.choice(GENERATORS)
        return Item(ref, "wait", [gen], [make_input(ctx, gen, rng, tag)], "wait")
    gen = rng.choice(BATCHABLE)
    item = make_input(ctx, gen, rng, tag)
    if rng.random() < 0.5:
        # Paced: a few pieces with pauses between them, then the half-close. Cut mostly right
        # after a '}', where a 1.3.3 message may look complete: its parse is then put off until
        # the pause (the deferred parse of §2), and a read boundary decides v1 or legacy.
        data = item.data
        after_brace = [i + 1 for i, c in enumerate(data[:-1]) if c == 0x7D]
        cuts = set()
        for _ in range(rng.randint(1, 3)):
            if after_brace and rng.random() < 0.7:
                cuts.add(rng.choice(after_brace))
            elif len(data) > 1:
                cuts.add(rng.randrange(1, len(data)))
        cuts = sorted(cuts)
        it = Item(ref, "paced", [gen], [item], "paced")
        # Last, a plain hello: answered only if the connection is still open, so a connection the
        # server should have closed (after a refusal, a framing error) shows.
        it.pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])] + [PACED_MARKER]
        return it
    # One byte a second (the case asked for); faster; slower than the idle limit (each byte starts
    # a partial message that expires); just under it (a partial kept alive until the auth deadline).
    interval = rng.choice((1.0, 1.0, 0.25, ctx.idle_timeout * 1.3, ctx.idle_timeout * 0.8))
    it = Item(ref, "slow", [gen], [item], "slow")
    it.interval = interval
    return it


# --------------------------------------------------------------------------------------------
# Reference model of the server's answers to a connection that never authenticates.


class Expected(collections.namedtuple("Expected", "framing label id why client_nonce", defaults=(None, None, None))):
    """One reply the model expects: framing (v1, legacy, http), label (an error code, "hello",
    "challenge", "http"; "AUTH": the server would authenticate, which no input may cause), the id
    (v1), for "unauthorized" why (a key of WHY), for "challenge" the client nonce it answers."""


# What the message of each "unauthorized" says (auth.py, server.py): that it is the right refusal.
# The budget and deadline notices have the documented shape "<which limit>; closing" (§1a).
WHY = {
    "bytes": lambda m, ctx: m == f"the {ctx.preauth_bytes} bytes allowed before authenticating are spent; closing",
    "messages": lambda m, ctx: m == f"more than {ctx.preauth_messages} messages sent before authenticating; closing",
    "deadline": lambda m, ctx: m == f"not authenticated within {ctx.auth_timeout:g} s; closing",
    "legacy": lambda m, ctx: m.startswith("Unauthorized: "),
    "token": lambda m, ctx: "never takes the token" in m,
    "not_authenticated": lambda m, ctx: m.startswith("not authenticated; "),
    "no_challenge": lambda m, ctx: m.startswith("no challenge to answer"),
    "wrong_proof": lambda m, ctx: "proof does not match" in m,
}


def why_of(message, ctx):
    """Which refusal an "unauthorized" message is (for the report), or "?"."""
    for why, matches in WHY.items():
        if isinstance(message, str) and matches(message, ctx):
            return why
    return "?"


class StrangerModel:
    """What the server answers one connection that has not authenticated, step by step as
    server.py's loop goes: reads capped by the byte budget left, the strict decoder, the message
    budget, the gate and the two handshake commands; every refusal and framing error ends the
    connection (docs/protocol.md §1a, §2, §3).

    ``server_nonces``: the nonces the server put in its challenges, in order (known after the
    fact, from its replies); a challenge past them has an unknown nonce, which no proof matches."""

    def __init__(self, ctx, server_nonces=()):
        self.ctx = ctx
        self.decoder = framing.MessageDecoder(ctx.limit, strict=True)
        self.bytes_left = ctx.preauth_bytes
        self.messages = 0
        self.challenge = None  # (server nonce or None if unknown, client nonce) of the last hello with a nonce
        self.server_nonces = list(server_nonces)
        self.replies = []
        self.ended = False  # the connection is over
        self.closed_by_server = False  # ...because the server closed it (not after our EOF)
        self.authenticated = False
        self.now = 0.0  # seconds after connecting when the server last went back to recv()

    # The server loop -------------------------------------------------------------------------

    def receive(self, data, at=None):
        """Bytes that arrived at ``at``: the server reads them (no further than the byte budget)
        and answers; a spent budget closes the connection at once, before the next read."""
        if at is not None:
            self.now = max(self.now, at)
        while data and not self.ended:
            size = min(SERVER_RECV, self.bytes_left)
            chunk, data = data[:size], data[size:]
            self.bytes_left -= len(chunk)
            self._answer(self.decoder.events(chunk))
            if not self.ended and self.bytes_left <= 0:
                self._close_with("bytes")

    def wait(self, until, choose):
        """The server in recv() until our next bytes (or EOF) at ``until`` (None: we send nothing
        more). Its timers may fire first: the deferred 1.3.3 parse after a 20 ms pause, the idle
        limit of a partial message, the auth deadline. ``choose()`` decides the races too close
        to call (see explore)."""
        while not self.ended:
            timers = self._timers()
            when, name = timers[0]
            if len(timers) > 1 and timers[1][0] - when <= TOO_CLOSE and choose():
                when, name = timers[1]
            if until is not None and when > until - TOO_CLOSE:
                if when > until + TOO_CLOSE or not choose():
                    return
            self._fire(name, when)

    def _timers(self):
        """The timeouts armed while the server waits in recv(), earliest first (server.py's _wait_limit)."""
        timers = [(self.ctx.auth_timeout, "deadline")]
        if self.decoder.has_deferred():
            timers.append((self.now + DEFERRED_PARSE_DELAY, "deferred"))
        elif self.decoder.has_partial():
            timers.append((self.now + self.ctx.idle_timeout, "idle"))
        return sorted(timers)

    def _fire(self, name, when):
        self.now = max(self.now, when)
        if name == "deadline":
            self._close_with("deadline")
        elif name == "deferred":
            self._answer(self.decoder.retry_deferred())
        else:  # the idle limit: the partial message is dropped, the connection goes on (§2)
            expired = self.decoder.expire()
            self.replies.append(Expected(expired.style, expired.code))

    # Events and replies ----------------------------------------------------------------------

    def _close_with(self, why):
        """The budget or deadline notice (§1a), then the close."""
        self.replies.append(Expected("v1", "unauthorized", None, why))
        self._end()

    def _end(self):
        self.ended = self.closed_by_server = True

    def _answer(self, events):
        for event in events:
            if isinstance(event, framing.HttpDetected):
                self.replies.append(Expected("http", "http"))
                self._end()
                return
            if isinstance(event, framing.CloseAfterReply):
                self._end()
                return
            if isinstance(event, framing.FramingError):
                # Strict until vetted: the error, then the close (§1a).
                self.replies.append(Expected(event.style, event.code))
                self._end()
                return
            self.messages += 1
            if self.messages > self.ctx.preauth_messages:
                self._close_with("messages")
                return
            if not self._request(event):
                # The refusal is sent, then the connection closed; the rest of these events is not
                # looked at (also on the deferred-parse path).
                self._end()
                return
            if self.ended:
                return

    def _request(self, message):
        """One message through the gate and dispatch (auth.py, dispatch.py). False when the
        connection must close after its reply."""
        body = message.body
        if message.style == framing.LEGACY:
            return self._refuse(Expected("legacy", "unauthorized", None, "legacy"))
        request_id = body.get("id")
        good_id = request_id is None or (isinstance(request_id, (str, int)) and not isinstance(request_id, bool))
        echo = request_id if good_id else None
        if "token" in body:  # protocol 1's field, whatever it holds
            return self._refuse(Expected("v1", "unauthorized", echo, "token"))
        command = body.get("type")
        if command not in HANDSHAKE_COMMANDS:
            return self._refuse(Expected("v1", "unauthorized", echo, "not_authenticated"))
        if not good_id:
            return self._reply(Expected("v1", "invalid_request", None))
        params = body.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return self._reply(Expected("v1", "invalid_request", request_id))
        if command == "hello":
            return self._hello(request_id, params)
        return self._authenticate(request_id, params)

    def _hello(self, request_id, params):
        # Each hello replaces the challenge: one without a (valid) nonce leaves none.
        self.challenge = None
        nonce = params.get("client_nonce")
        if nonce is None:
            return self._reply(Expected("v1", "hello", request_id))
        if not handshake.is_nonce(nonce):
            return self._reply(Expected("v1", "invalid_params", request_id))
        server_nonce = self.server_nonces.pop(0) if self.server_nonces else None
        self.challenge = (server_nonce, nonce)
        return self._reply(Expected("v1", "challenge", request_id, None, nonce))

    def _authenticate(self, request_id, params):
        challenge, self.challenge = self.challenge, None  # one attempt per challenge
        if challenge is None:
            return self._refuse(Expected("v1", "unauthorized", request_id, "no_challenge"))
        server_nonce, client_nonce = challenge
        if server_nonce is not None:
            valid = handshake.proof(self.ctx.token, handshake.CLIENT, server_nonce, client_nonce, self.ctx.binding)
            if handshake.proof_matches(valid, params.get("client_proof")):
                # The model stops here: no fuzz input may ever get this far (make_input, send_guarded).
                self.authenticated = True
                self.replies.append(Expected("v1", "AUTH", request_id))
                self.ended = True
                return True
        return self._refuse(Expected("v1", "unauthorized", request_id, "wrong_proof"))

    def _reply(self, expected):
        self.replies.append(expected)
        return True

    def _refuse(self, expected):
        self.replies.append(expected)
        return False


def explore(run, limit=64):
    """Every outcome of ``run(choose)``. ``choose()`` is called where the model cannot call a race
    (a send and a timer too close together): both answers are followed, one run each."""
    outcomes, todo = [], [()]
    while todo and len(outcomes) < limit:
        preset = todo.pop()
        taken = []

        def choose(preset=preset, taken=taken):
            if len(taken) < len(preset):
                answer = preset[len(taken)]
            else:
                answer = False
                todo.append(tuple(taken) + (True,))
            taken.append(answer)
            return answer

        outcome = run(choose)
        if outcome not in outcomes:
            outcomes.append(outcome)
    return outcomes


def expected_variants(sends, ctx, server_nonces=(), end_at=None):
    """Every reply sequence the server may give a connection on which we sent ``sends`` ([(seconds
    after connecting, bytes)], each arriving as one read) and then half-closed at ``end_at``, or
    (None) waited for the server to close. Returns [(replies, closed_by_server)]."""

    def run(choose):
        model = StrangerModel(ctx, server_nonces)
        for at, data in sends:
            model.wait(at, choose)
            if model.ended:
                break
            model.receive(data, at)
        if not model.ended:
            model.wait(end_at, choose)  # with end_at None: until the deadline at the latest
            model.ended = True  # our EOF: the server closes without a word
        return tuple(model.replies), model.closed_by_server

    return explore(run)


def authenticating_split(pieces, ctx, server_nonces, thorough=False, seed=0):
    """None if the model says these pieces (the prelude's hellos, then the input) cannot
    authenticate however they are split into reads; else the read sizes of a split that would.
    Splits: as sent; with ``thorough`` also the last piece byte by byte and at random cuts. Each
    with the deferred 1.3.3 parse never retried and retried after every read (the two extremes
    of how pauses fall)."""
    head, last = list(pieces[:-1]), pieces[-1][:ctx.preauth_bytes + 1]  # the server reads no further
    splits = [list(pieces)]
    if thorough:
        splits.append(head + [last[i:i + 1] for i in range(len(last))])
        cutter = random.Random(f"cuts/{seed}")
        for _ in range(3):
            if len(last) > 1:
                cuts = sorted(cutter.sample(range(1, len(last)), min(4, len(last) - 1)))
                splits.append(head + [last[a:b] for a, b in zip([0] + cuts, cuts + [len(last)])])
    for split in splits:
        for retry_deferred in (False, True):
            model = StrangerModel(ctx, server_nonces)
            for piece in split:
                model.receive(piece)
                if retry_deferred and not model.ended and model.decoder.has_deferred():
                    model._fire("deferred", model.now)
                if model.ended:
                    break
            if model.authenticated:
                return [len(p) for p in split]
    return None


# --------------------------------------------------------------------------------------------
# Replies: parse and check.


class Actual(collections.namedtuple("Actual", "framing label id message server_nonce server_proof",
                                    defaults=(None, None, None, None))):
    """One reply received: framing, label (error code, "hello", "challenge", "http", ...), id
    (v1), the error message, and for a challenge the server's nonce and proof."""


def _reject_constant(name):
    raise ValueError(f"{name} in a reply")


_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def parse_replies(raw):
    """[(framing, object)] from a connection's received bytes; framing is v1 (followed by a
    newline), legacy (not) or http. Returns (replies, problem)."""
    replies = []
    pos = 0
    if not raw:
        return replies, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return replies, f"reply bytes are not UTF-8: {exc}"
    while pos < len(text):
        if text.startswith("HTTP/", pos):
            replies.append(("http", text[pos:]))
            return replies, None
        try:
            obj, end = _STRICT.raw_decode(text, pos)
        except ValueError as exc:
            return replies, f"malformed reply at byte {pos}: {exc}: {text[pos:pos + 200]!r}"
        if end < len(text) and text[end] == "\n":
            replies.append(("v1", obj))
            pos = end + 1
        else:
            replies.append(("legacy", obj))
            pos = end
    return replies, None


def check_reply(framing_, obj):
    """(Actual, problem): the reply as the model labels them, and what is wrong with its shape."""
    if framing_ == "http":
        ok = obj.startswith("HTTP/1.1 403 Forbidden\r\n") and "Nothing was run." in obj
        return Actual("http", "http"), None if ok else f"HTTP answer is not the documented 403: {obj[:200]!r}"
    if not isinstance(obj, dict):
        return Actual(framing_, "?"), f"reply is not an object: {obj!r:.200}"
    status = obj.get("status")
    if framing_ == "v1":
        rid = obj.get("id")
        if "id" not in obj:
            return Actual("v1", "?"), f"v1-framed reply without id: {obj!r:.300}"
        if status == "error":
            err = obj.get("error")
            if not isinstance(err, dict) or not isinstance(err.get("message"), str) or obj.get("result") is not None:
                return Actual("v1", "?", rid), f"malformed v1 error: {obj!r:.300}"
            code = err.get("code")
            actual = Actual("v1", str(code), rid, err["message"])
            return actual, None if code in KNOWN_CODES else f"unknown error code {code!r}: {obj!r:.300}"
        result = obj.get("result")
        if status == "success" and obj.get("error") is None and isinstance(result, dict):
            if result == PREAUTH_HELLO:
                return Actual("v1", "hello", rid), None
            auth = result.get("auth")
            if (isinstance(auth, dict) and set(auth) == {"scheme", "server_nonce", "server_proof"}
                    and auth["scheme"] == handshake.SCHEME
                    and {k: v for k, v in result.items() if k != "auth"}
                    == {k: v for k, v in PREAUTH_HELLO.items() if k != "auth"}):
                actual = Actual("v1", "challenge", rid, None, auth["server_nonce"], auth["server_proof"])
                if not handshake.is_nonce(auth["server_nonce"]):
                    return actual, f"the server nonce is not 32 bytes in unpadded base64url: {obj!r:.300}"
                return actual, None
            if result.get("authenticated") is True:
                return Actual("v1", "authenticated", rid), f"a stranger was authenticated: {obj!r:.400}"
            if result.get("server") == "bld-remote":
                return Actual("v1", "hello?", rid), f"a hello before authenticating is not that of §1a: {obj!r:.400}"
        return Actual("v1", "success", rid), f"a stranger got a non-error reply: {obj!r:.400}"
    if "id" in obj:
        return Actual("legacy", "?"), f"reply with an id but no newline after it: {obj!r:.300}"
    if status != "error":
        return Actual("legacy", "success"), f"a stranger got a non-error legacy reply: {obj!r:.400}"
    code = obj.get("code")
    if not isinstance(obj.get("message"), str):
        return Actual("legacy", "?"), f"malformed legacy error: {obj!r:.300}"
    actual = Actual("legacy", str(code), None, obj["message"])
    return actual, None if code in KNOWN_CODES else f"unknown error code {code!r}: {obj!r:.300}"


def compare(expected, closed, actual, reset, ctx):
    """None if ``actual`` (Actual replies) is what the model expects, else the reason."""
    exp = list(expected)
    act = list(actual)
    if reset and closed and len(act) == len(exp) - 1:
        exp = exp[:-1]  # the server closed with our bytes unread: its reset may overtake its last reply
    if len(exp) != len(act):
        return f"expected {len(exp)} replies, got {len(act)}"
    for i, (e, a) in enumerate(zip(exp, act)):
        if e.label == "AUTH":
            return f"reply {i}: the model says this would authenticate"
        if e.label != a.label or e.framing != a.framing:
            return f"reply {i}: expected {e.framing} {e.label}, got {a.framing} {a.label}"
        if e.framing == "v1" and e.id != a.id:
            return f"reply {i}: expected id {e.id!r:.80}, got {a.id!r:.80}"
        if e.why is not None and not WHY[e.why](a.message, ctx):
            return f"reply {i}: expected unauthorized ({e.why}), got unauthorized ({why_of(a.message, ctx)})"
        if e.label == "challenge":
            right = handshake.proof(ctx.token, handshake.SERVER, a.server_nonce, e.client_nonce, ctx.binding)
            if not handshake.proof_matches(right, a.server_proof):
                return f"reply {i}: the challenge's server_proof is not the proof of the token for {ctx.binding}"
    return None


def compare_any(variants, actual, reset, ctx):
    """None if ``actual`` matches one of the model's variants, else the reason for the first."""
    reasons = [compare(expected, closed, actual, reset, ctx) for expected, closed in variants]
    return None if None in reasons else reasons[0]


def check_doc(item, actual, ctx):
    """Documented behaviour checked without the model, for a lone input sent at once and
    half-closed: the first byte before authenticating (§1a, §2), the size limit (§2)."""
    problems = []
    if item.kind != "single" or item.mode != "shut" or item.inputs[0].interactive:
        return problems
    inp = item.inputs[0]
    data = inp.data
    labels = [a.label for a in actual]
    first = data.lstrip(b" \t\r\n")[:1]
    if first and first != b"{":
        # A letter: an HTTP request, the 403; anything else a parse_error; either way the close.
        want = ["http"] if first.isalpha() else ["parse_error"]
        if labels != want:
            problems.append(f"first byte {first!r} before authenticating got {labels}, not {want} and the close")
    if "too_large" in inp.doc and inp.doc["too_large"] and ctx.limit < ctx.preauth_bytes:
        if "message_too_large" not in labels:
            problems.append(f"message of {inp.doc['size']} bytes over the limit of {ctx.limit} got {labels}, "
                            "not message_too_large")
        elif b"\n" not in data[:ctx.preauth_bytes]:
            # §2: with no newline, "the framing is guessed: v1 if the bytes contain "id", else
            # legacy". Buffered when the limit was crossed: the first L + 1 bytes certainly, up to
            # the whole budget if they came in one read; an "id" in between may go either way.
            framing_ = [a.framing for a in actual if a.label == "message_too_large"][0]
            if b'"id"' in data[:ctx.limit + 1]:
                guessed = "v1"
            elif b'"id"' not in data[:ctx.preauth_bytes]:
                guessed = "legacy"
            else:
                guessed = framing_
            if framing_ != guessed:
                problems.append(f"message_too_large came in {framing_} framing; its bytes say {guessed}")
    elif "too_large" in inp.doc and inp.doc["too_large"]:
        # The limit is the byte budget: the budget's notice comes first.
        if not actual or actual[-1].label != "unauthorized" or not WHY["bytes"](actual[-1].message, ctx):
            problems.append(f"message of {inp.doc['size']} bytes over the byte budget of {ctx.preauth_bytes} got "
                            f"{labels}, not the budget's unauthorized")
    elif "too_large" in inp.doc and "message_too_large" in labels:
        problems.append(f"message of {inp.doc['size']} bytes within the limit of {ctx.limit} got message_too_large")
    return problems


# --------------------------------------------------------------------------------------------
# Network.


class Exchange:
    __slots__ = ("received", "eof", "reset", "sent", "hang", "elapsed", "error")

    def __init__(self):
        self.received = bytearray()
        self.eof = False
        self.reset = False
        self.sent = 0
        self.hang = False
        self.elapsed = 0.0
        self.error = None


def connect(port, timeout=10.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def pump(sock, data, half_close, deadline, until=None, ex=None):
    """Send ``data`` and read at the same time (a large reply while we still send must not
    deadlock), optionally half-close, read until EOF, ``until(received)`` or the deadline.
    With ``ex``, adds to that exchange (several sends on one connection)."""
    ex = ex if ex is not None else Exchange()
    started = time.monotonic()
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    sel = selectors.DefaultSelector()
    writing = len(view) > 0
    if not writing and half_close:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
    try:
        while True:
            if until is not None and not writing and until(ex.received):  # (answers come after our bytes)
                break
            left = deadline - time.monotonic()
            if left <= 0:
                ex.hang = True
                break
            for _key, events in sel.select(left):
                if events & selectors.EVENT_WRITE and writing:
                    try:
                        n = sock.send(view[sent:sent + (1 << 18)])
                        sent += n
                    except BlockingIOError:
                        n = 0
                    except OSError as exc:  # the server closed on us (HTTP, a budget, a refusal)
                        ex.error = f"send: {exc.__class__.__name__}"
                        sent = len(view)
                    if sent >= len(view):
                        writing = False
                        sel.modify(sock, selectors.EVENT_READ)
                        if half_close:
                            try:
                                sock.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                if events & selectors.EVENT_READ:
                    try:
                        chunk = sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        ex.reset = True
                        ex.eof = True
                        chunk = b""
                    if not chunk:
                        ex.eof = True
                        break
                    ex.received += chunk
            if ex.eof:
                break
    finally:
        sel.close()
        ex.sent += sent
        ex.elapsed += time.monotonic() - started
    return ex


class Conversation:
    """One fuzz connection: what we sent and when (seconds after connecting, as the model wants
    them), whether and when we half-closed, what came back."""

    def __init__(self, sock):
        self.sock = sock
        self.opened = time.monotonic()
        self.sends = []  # [(seconds after connecting, bytes)]
        self.end_at = None  # when we half-closed
        self.ex = Exchange()

    def send(self, data, timeout, until=None, half_close=False):
        """Send ``data`` while reading; back once ``until(received)`` holds, the server closed,
        or ``timeout`` passed (a hang)."""
        if self.ex.eof or self.ex.hang:
            return
        at = time.monotonic() - self.opened
        if data:
            self.sends.append((at, data))
        if half_close:
            self.end_at = at
        pump(self.sock, data, half_close, time.monotonic() + timeout, until, self.ex)

    def pause(self, seconds):
        """Send nothing for ``seconds`` (part of the input: a peer that stops), reading meanwhile."""
        if not self.over():
            pump(self.sock, b"", False, time.monotonic() + seconds, None, self.ex)
            self.ex.hang = False  # the pause ended by design, not for want of an answer

    def over(self):
        return self.ex.eof or self.ex.hang


def hang_limit(ctx, size):
    # The server answers at once; the idle limit is the longest it may legitimately wait, plus
    # time to move the bytes on a busy machine.
    return ctx.idle_timeout + 5.0 + size / 20e6


def sync_line(k):
    return b'{"id":"fuzz-sync-%d","type":"hello"}\n' % k


def lines_at_least(count):
    return lambda received: received.count(b"\n") >= count


# --------------------------------------------------------------------------------------------
# Statistics and findings.


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.per_gen = collections.defaultdict(lambda: collections.Counter())
        self.replies = collections.Counter()
        self.refusals = collections.Counter()  # "unauthorized" replies by why (WHY)
        self.modes = collections.Counter()
        self.findings = collections.OrderedDict()  # (kind, signature) -> {"count", "examples"}
        self.notes = collections.Counter()
        self.flaky = []
        self.server_nonces = set()
        self.checked = 0  # replies compared with the model

    def count_input(self, gen, nbytes):
        with self.lock:
            c = self.per_gen[gen]
            c["inputs"] += 1
            c["bytes"] += nbytes

    def count(self, gen, key, n=1):
        with self.lock:
            self.per_gen[gen][key] += n

    def timing(self, gen, seconds, ref):
        """How long the server took over one input (send to close): where its time goes."""
        with self.lock:
            c = self.per_gen[gen]
            c["answer_s_total"] = c.get("answer_s_total", 0.0) + seconds
            if seconds > c.get("answer_s_max", 0.0):
                c["answer_s_max"] = seconds
                c["slowest"] = ref

    def count_mode(self, mode):
        with self.lock:
            self.modes[mode] += 1

    def reply(self, gen, label, why=None):
        with self.lock:
            self.replies[label] += 1
            self.per_gen[gen]["replies"] += 1
            if why is not None:
                self.refusals[why] += 1

    def count_checked(self, n):
        with self.lock:
            self.checked += n

    def fresh_server_nonce(self, nonce):
        """False if the server handed out this nonce before (§1a: fresh nonces make proofs single-use)."""
        with self.lock:
            if nonce in self.server_nonces:
                return False
            self.server_nonces.add(nonce)
            return True

    def note(self, key, n=1):
        with self.lock:
            self.notes[key] += n

    def finding(self, kind, signature, example):
        with self.lock:
            entry = self.findings.setdefault((kind, signature), {"kind": kind, "signature": signature,
                                                                  "count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < 5:
                entry["examples"].append(example)
            return entry["count"]


class Findings:
    """Saves the exact inputs of findings next to the report so that they can be resent."""

    def __init__(self, stats, save_dir):
        self.stats = stats
        self.save_dir = save_dir

    def add(self, kind, signature, item=None, detail=None, extra=None):
        example = {"detail": detail}
        if item is not None:
            data = item.data
            example.update(ref=item.ref, generators=item.gens, mode=item.mode, size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), head=repr(data[:300]),
                           forms=[i.doc.get("form") for i in item.inputs])
            if any(i.interactive for i in item.inputs):
                example["template"] = ("hellos answered one at a time, then these bytes with ~slotN~ filled in "
                                       "from the server's nonces")
            if self.save_dir is not None and 0 < len(data) <= 8 << 20:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                path = self.save_dir / f"{item.ref.replace(':', '-')}.bin"
                path.write_bytes(data)
                example["file"] = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
        if extra:
            example.update(extra)
        count = self.stats.finding(kind, signature, example)
        if count == 1:
            print(f"FINDING [{kind}] {signature}: {detail} ({example.get('ref', '')})", file=sys.stderr, flush=True)


def signature_of(reason):
    """Group findings: numbers and quoted text out of the reason."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "#", reason or "")[:160]


_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def has_lone_surrogate_escape(data):
    """Whether the bytes hold a \\uD800-\\uDFFF escape that is not half of a valid pair (JSON accepts
    it; Python then holds a str that cannot be encoded as UTF-8)."""
    codes = [(m.start(), m.end(), int(m.group(1), 16)) for m in _ESCAPE.finditer(data)]
    for i, (start, end, code) in enumerate(codes):
        if 0xD800 <= code <= 0xDBFF:
            nxt = codes[i + 1] if i + 1 < len(codes) else None
            if nxt is None or nxt[0] != end or not 0xDC00 <= nxt[2] <= 0xDFFF:
                return True
        elif 0xDC00 <= code <= 0xDFFF:
            prev = codes[i - 1] if i else None
            if prev is None or prev[1] != start or not 0xD800 <= prev[2] <= 0xDBFF:
                return True
    return False


def item_signature(item, reason):
    """Findings of one cause share a signature: where (the generator, or "batch": the culprit of a
    batch is one of several), the reason without its numbers; inputs holding a lone surrogate
    escape (one known cause of dropped connections) are grouped on their own."""
    sig = signature_of(reason)
    if has_lone_surrogate_escape(item.data):
        return f"lone surrogate escape in the input: {sig}"
    return f"{item.gens[0] if item.kind != 'batch' else 'batch'}: {sig}"


def mismatch(findings, item, reason, variants, actual, conv, ctx, nonces, replays=()):
    """Records a reply that no variant of the model allows."""
    findings.add("reply_mismatch", item_signature(item, reason), item, reason, extra={
        "expected": [list(e) for e in variants[0][0]][:20], "actual": [list(a[:3]) for a in actual][:20],
        "sends": [[round(at, 3), repr(data[:120])] for at, data in conv.sends][:20],
        "received_head": repr(bytes(conv.ex.received[:300])), "replays": list(replays),
    })


# --------------------------------------------------------------------------------------------
# Runners.


class Runner:
    def __init__(self, ctx, seed, stats, findings, stop, verify_replays=2, exclude=()):
        self.ctx = ctx
        self.exclude = frozenset(exclude)
        self.seed = seed
        self.stats = stats
        self.findings = findings
        self.stop = stop
        self.verify_replays = verify_replays
        self.connections = 0
        self.lock = threading.Lock()
        self.hostile_windows = []  # [start, end, generator] of each hostile session (wall clock)

    def _connect(self, gen):
        for attempt in range(50):
            try:
                sock = connect(self.ctx.port)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self.lock:
                    self.connections += 1
                self.stats.count(gen, "connections")
                return sock
            except OSError as exc:
                self.stats.note(f"connect_error:{exc.__class__.__name__}")
                if isinstance(exc, ConnectionRefusedError) and attempt > 5:
                    raise
                time.sleep(0.05)
        raise OSError("cannot connect")

    def side_challenge(self, gen):
        """A challenge the server gave another connection (closed at once): (client nonce,
        server nonce, server proof), or None (a finding) if that hello got none."""
        sock = self._connect(gen)
        conv = Conversation(sock)
        nonce = handshake.new_nonce()
        try:
            conv.send(prelude_line(0, nonce), hang_limit(self.ctx, 0), until=lines_at_least(1))
        finally:
            sock.close()
        replies, _problem = parse_replies(bytes(conv.ex.received))
        for framing_, obj in replies:
            actual, _p = check_reply(framing_, obj)
            if actual.label == "challenge":
                if not self.stats.fresh_server_nonce(actual.server_nonce):
                    self.findings.add("nonce_reuse", "the server handed out a server nonce it gave before", None,
                                      actual.server_nonce)
                return nonce, actual.server_nonce, actual.server_proof
        self.findings.add("bad_reply", "a hello with a client nonce got no challenge", None,
                          repr(bytes(conv.ex.received[:300])))
        return None

    def prelude(self, conv, inp, session):
        """The interactive input's hellos, one at a time, each answer awaited: the challenges go
        into ``session``. False if the server closed or hung meanwhile."""
        for k, entry in enumerate(inp.prelude):
            nonce = None if entry is None else fill(entry, inp.slots, session)
            wanted = bytes(conv.ex.received).count(b"\n") + 1
            conv.send(prelude_line(k, nonce), hang_limit(self.ctx, 0), until=lines_at_least(wanted))
            if conv.over():
                return False
            last = bytes(conv.ex.received).rstrip(b"\n").rsplit(b"\n", 1)[-1]
            try:
                auth = json.loads(last)["result"]["auth"]
                challenge = (nonce, auth["server_nonce"], auth["server_proof"])
            except (ValueError, KeyError, TypeError):
                continue  # no challenge: the model checks this reply
            if handshake.is_nonce(nonce):
                session.challenges.append(challenge)
        return True

    def prepare(self, item, conv, inp):
        """The prelude, then the input's bytes filled in, checked never to authenticate. None if
        they cannot be made (the server closed, or gave no challenge: the model checks why)."""
        session = Session(self.ctx)
        if inp.side:
            session.side = self.side_challenge(item.gens[0])
        if not self.prelude(conv, inp, session):
            return None
        try:
            data = concrete(inp, session)
        except MissingChallenge:
            return None
        if inp.interactive:
            # Never a well-formed authenticate with a valid proof, now with the server's real nonces.
            pieces = [d for _at, d in conv.sends] + [data]
            split = authenticating_split(pieces, self.ctx, [c[1] for c in session.challenges], thorough=inp.armed,
                                         seed=item.ref)
            if split is not None:
                raise FuzzerBug(f"{item.ref}: the model says these bytes would authenticate for reads of {split}")
        return data

    # One item, once. Returns (actual, problems, conv, variants); variants None: nothing to check.
    def run_once(self, item):
        ctx = self.ctx
        if item.kind == "single":
            inp = item.inputs[0]
            sock = self._connect(item.gens[0])
            conv = Conversation(sock)
            try:
                data = self.prepare(item, conv, inp)
                if data is not None and item.mode in ("close", "rst"):
                    sock.settimeout(10)
                    try:
                        sock.sendall(data)
                    except OSError:
                        pass
                    if item.mode == "rst":  # SO_LINGER 0: the close is a reset
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return [], [], conv, None
                conv.send(data or b"", hang_limit(ctx, len(data or b"")), half_close=True)
            finally:
                sock.close()
        elif item.kind == "batch":
            sock = self._connect("batch")
            conv = Conversation(sock)
            try:
                for k, inp in enumerate(item.inputs):
                    data = inp.data if inp.data.endswith(b"\n") else inp.data + b"\n"
                    needle = b'"id":"fuzz-sync-%d"' % k

                    def synced(received, needle=needle):
                        i = received.find(needle)
                        return i >= 0 and received.find(b"\n", i) >= 0

                    conv.send(data + sync_line(k), hang_limit(ctx, len(data)), until=synced)
                    if conv.over():
                        break
                conv.send(b"", hang_limit(ctx, 0), half_close=True)
            finally:
                sock.close()
        else:
            raise ValueError(item.kind)
        actual, problems = self.check(item, conv.ex)
        if conv.ex.hang:
            return actual, problems, conv, None
        variants = expected_variants(conv.sends, ctx, server_nonces_of(actual), conv.end_at)
        return actual, problems, conv, variants

    def check(self, item, ex):
        """The replies received, labelled, and what is wrong with them on their own."""
        gen = item.gens[0]
        replies, problem = parse_replies(bytes(ex.received))
        problems = []
        if problem:
            problems.append(("malformed_reply", problem))
        actual = []
        for framing_, obj in replies:
            reply, p = check_reply(framing_, obj)
            actual.append(reply)
            why = why_of(reply.message, self.ctx) if reply.label == "unauthorized" else None
            self.stats.reply(gen, reply.label, why)
            if p:
                problems.append(("bad_reply", p))
            if reply.label == "challenge" and not self.stats.fresh_server_nonce(reply.server_nonce):
                problems.append(("nonce_reuse", "the server handed out a server nonce it gave before"))
        if ex.hang:
            problems.append(("hang", f"no close from the server within {hang_limit(self.ctx, len(item.data)):.1f} s "
                                     f"({len(ex.received)} bytes received)"))
        return actual, problems

    def run_item(self, item):
        for inp, gen in zip(item.inputs, item.gens):
            self.stats.count_input(gen, len(inp.data))
        if item.kind == "batch":
            self.stats.count("batch", "batches")
        self.stats.count_mode(item.mode)
        try:
            actual, problems, conv, variants = self.run_once(item)
        except FuzzerBug:
            raise
        except OSError as exc:
            self.findings.add("connect", "cannot connect to the server", item, f"{exc}")
            return
        if variants is not None and item.kind == "single":
            self.stats.timing(item.gens[0], conv.ex.elapsed, item.ref)
        for kind, reason in problems:
            self.findings.add(kind, item_signature(item, reason), item, reason)
        if variants is None:
            return
        for reason in check_doc(item, actual, self.ctx):
            self.findings.add("doc", signature_of(reason), item, reason)
        self.stats.count_checked(len(actual))
        reason = self.verdict(item, variants, actual, conv)
        if reason is None:
            return
        # Where reads fall and how timers race can change the events: replay before calling it a finding.
        reasons = [reason]
        for _ in range(self.verify_replays):
            actual2, _p, conv2, variants2 = self.run_once(item)
            again = self.verdict(item, variants2, actual2, conv2) if variants2 is not None else "hang"
            if again is None:
                self.stats.note("model_mismatch_flaky")
                with self.stats.lock:
                    if len(self.stats.flaky) < 20:
                        self.stats.flaky.append({"ref": item.ref, "reason": reason})
                return
            reasons.append(again)
        mismatch(self.findings, item, reason, variants, actual, conv, self.ctx, server_nonces_of(actual), reasons)

    def verdict(self, item, variants, actual, conv):
        """None if the replies are what the model expects, else why not."""
        if any(i.doc.get("recursion_edge") for i in item.inputs):
            return None  # the model's stack is not the server's: near the limit either answer is right
        return compare_any(variants, actual, conv.ex.reset, self.ctx)


def server_nonces_of(actual):
    """The server nonces of the challenges received, in order: the model's challenges use them."""
    return [a.server_nonce for a in actual if a.label == "challenge"]


def excluded(item, exclude):
    """Whether the item uses a generator (or generator:form) listed in ``exclude``."""
    return any(g in exclude or f"{g}:{i.doc.get('form')}" in exclude for g, i in zip(item.gens, item.inputs))


class FuzzWorker(threading.Thread):
    def __init__(self, runner, index, count, deadline, max_items, counter):
        super().__init__(name=f"fuzz-{index}", daemon=True)
        self.runner = runner
        self.index = index
        self.count = count
        self.deadline = deadline
        self.max_items = max_items
        self.counter = counter
        self.error = None

    def run(self):
        n = self.index
        try:
            while not self.runner.stop.is_set() and time.monotonic() < self.deadline:
                if self.max_items is not None and next(self.counter) >= self.max_items:
                    break
                item = make_item(self.runner.seed, "f", n, self.runner.ctx)
                n += self.count
                if excluded(item, self.runner.exclude):
                    continue
                self.runner.run_item(item)
        except BaseException as exc:  # a bug of the fuzzer itself: stop everything, report it
            self.error = f"{type(exc).__name__}: {exc} (item f:{n - self.count})"
            self.runner.stop.set()


class Lingerer(threading.Thread):
    """Waiters (send, then wait for the server to give up on a stranger), slow clients (dribble
    bytes) and hostile strangers (never stop sending): the server must close them when the model
    says, at the auth deadline at the latest."""

    def __init__(self, runner, space, index, count, deadline, pause=0.0):
        super().__init__(name=f"fuzz-{space}{index}", daemon=True)
        self.runner = runner
        self.space = space
        self.index = index
        self.count = count
        self.deadline = deadline
        self.pause = pause
        self.error = None
        self.sessions = 0

    def run(self):
        n = self.index
        try:
            while not self.runner.stop.is_set() and time.monotonic() < self.deadline:
                item = make_item(self.runner.seed, self.space, n, self.runner.ctx)
                if excluded(item, self.runner.exclude):
                    n += self.count
                    self.runner.stop.wait(0.01)  # (everything of this space may be excluded)
                    continue
                if item.kind == "hostile":
                    self.hostile(item)
                else:
                    self.session(item)
                self.sessions += 1
                n += self.count
                if self.pause:
                    self.runner.stop.wait(self.pause)
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc} (item {self.space}:{n})"
            self.runner.stop.set()

    def session(self, item):
        runner, ctx = self.runner, self.runner.ctx
        gen = item.gens[0]
        inp = item.inputs[0]
        runner.stats.count_input(gen, len(inp.data))
        runner.stats.count(gen, "lingering")
        runner.stats.count_mode(item.mode)
        try:
            sock = runner._connect(gen)
        except OSError as exc:
            runner.findings.add("connect", "cannot connect to the server", item, f"{exc}")
            return
        conv = Conversation(sock)
        limit = ctx.auth_timeout + SLACK + len(inp.data) / 20e6
        try:
            if item.kind == "wait":
                data = runner.prepare(item, conv, inp)
                if data is not None:
                    conv.send(data, max(0.0, conv.opened + limit - time.monotonic()))
                if not conv.over():  # the server gave no challenge: wait for its close all the same
                    conv.send(b"", max(0.0, conv.opened + limit - time.monotonic()))
            elif item.kind == "paced":
                self.paced(conv, item.pieces, limit)
            else:
                self.dribble(conv, inp.data, item.interval, limit)
        finally:
            sock.close()
        ex = conv.ex
        actual, problems = runner.check(item, ex)
        for kind, reason in problems:
            if kind == "hang":
                reason = (f"a stranger's connection ({item.kind}) was still open {limit:.1f} s after it "
                          f"connected (auth timeout {ctx.auth_timeout:g} s)")
                kind = "auth_deadline"
            runner.findings.add(kind, item_signature(item, reason), item, reason)
        if ex.hang or inp.doc.get("recursion_edge"):
            return
        runner.stats.count_checked(len(actual))
        variants = expected_variants(conv.sends, ctx, server_nonces_of(actual), end_at=conv.end_at)
        reason = compare_any(variants, actual, ex.reset, ctx)
        if reason is not None:
            mismatch(runner.findings, item, f"{item.kind}: {reason}", variants, actual, conv, ctx,
                     server_nonces_of(actual))

    # Between two pieces: well past the server's 20 ms deferred-parse delay, so that the model
    # need not allow for the pause being too short (TOO_CLOSE).
    PACE = 0.25

    def paced(self, conv, pieces, limit):
        """Each piece, then a pause (reading all along); the half-close after the last pause."""
        for piece in pieces:
            conv.send(piece, limit, until=lambda _received: True)  # back once sent
            conv.pause(self.PACE)
            if conv.over():
                return
        conv.send(b"", max(0.0, conv.opened + limit - time.monotonic()), half_close=True)

    @staticmethod
    def dribble(conv, data, interval, limit):
        """One byte every ``interval`` s (each send recorded with its time), reading all along,
        until the server closes or ``limit`` s after connecting."""
        sock, ex = conv.sock, conv.ex
        sock.setblocking(False)
        i = 0
        next_send = conv.opened
        while time.monotonic() < conv.opened + limit:
            now = time.monotonic()
            if i < len(data) and now >= next_send:
                try:
                    sock.send(data[i:i + 1])
                    conv.sends.append((now - conv.opened, data[i:i + 1]))
                    ex.sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    i = len(data)
                i += 1
                next_send = now + interval
            wait = max(0.0, min(next_send - time.monotonic() if i < len(data) else 0.2, 0.2))
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                try:
                    chunk = sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    ex.reset = ex.eof = True
                    break
                if not chunk:
                    ex.eof = True
                    break
                ex.received += chunk
        ex.hang = not ex.eof
        ex.elapsed = time.monotonic() - conv.opened

    def hostile(self, item):
        """Send the prefix, then keep sending (drip or stream) and reading until the server closes.
        It must close as the model says (a budget within the first KiB, else the auth deadline);
        we give up at the deadline + slack."""
        runner, ctx = self.runner, self.runner.ctx
        gen = item.gens[0]
        spec = item.inputs[0].doc["hostile"]
        try:
            sock = runner._connect(gen)
        except OSError as exc:
            runner.findings.add("connect", "cannot connect to the server", item, f"{exc}")
            return
        opened = time.monotonic()
        window = [time.time(), None, gen]
        with runner.lock:
            runner.hostile_windows.append(window)
        give_up = opened + ctx.auth_timeout + SLACK + len(item.data) / 20e6
        ex = Exchange()
        out = memoryview(item.data)
        next_unit = opened
        sock.setblocking(False)
        try:
            while time.monotonic() < give_up:
                now = time.monotonic()
                if not out and now >= next_unit:
                    out = memoryview(spec["unit"])
                    next_unit = now + spec["interval"]
                want_write = bool(out)
                timeout = 0.05 if want_write else max(0.0, min(next_unit - now, 0.05))
                readable, writable, _ = select.select([sock], [sock] if want_write else [], [], timeout)
                if writable and out:
                    try:
                        n = sock.send(out[:1 << 20])
                        out = out[n:]
                        ex.sent += n
                    except BlockingIOError:
                        pass
                    except OSError:
                        out = memoryview(b"")
                        next_unit = give_up  # the server closed: read what it said
                if readable:
                    try:
                        chunk = sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        ex.eof = ex.reset = True
                        break
                    if not chunk:
                        ex.eof = True
                        break
                    if len(ex.received) < 1 << 20:
                        ex.received += chunk
        finally:
            window[1] = time.time()
            sock.close()
        runner.stats.count_input(gen, ex.sent)
        runner.stats.count(gen, f"form:{spec['form']}")
        runner.stats.count_mode("hostile")
        held = time.monotonic() - opened
        if not ex.eof:
            reason = (f"a stranger sending {spec['form']} ({gen}) was still connected {held:.1f} s after it "
                      f"connected (auth timeout {ctx.auth_timeout:g} s); {ex.sent / 2 ** 20:.1f} MiB sent")
            runner.findings.add("auth_deadline", signature_of(f"{gen} {spec['form']} still connected"), item, reason,
                                extra={"form": spec["form"], "held_s": round(held, 2),
                                       "then": f"{spec['unit'][:24]!r} x {len(spec['unit'])} bytes every "
                                               f"{spec['interval'] * 1e3:g} ms (0: as fast as taken)"})
            return
        actual, problems = runner.check(item, ex)
        for kind, reason in problems:
            runner.findings.add(kind, item_signature(item, reason), item, reason)
        # The server reads no more than the budget before it closes: what it saw is the start of
        # the stream. These streams answer alike however they are split into reads.
        stream = item.data + spec["unit"] * (ctx.preauth_bytes // len(spec["unit"]) + 2)
        variants = expected_variants([(0.0, stream[:ctx.preauth_bytes + 1])], ctx, end_at=None)
        runner.stats.count_checked(len(actual))
        reason = compare_any(variants, actual, ex.reset, ctx)
        if reason is not None:
            runner.findings.add("reply_mismatch", item_signature(item, reason), item, f"hostile: {reason}",
                                extra={"expected": [list(e) for e in variants[0][0]],
                                       "actual": [list(a[:3]) for a in actual][:20]})


# --------------------------------------------------------------------------------------------
# An authenticated client (monitor, probe).


class Client:
    """A v1 connection that completes the handshake of §1a with the token (when given), as
    bld-remote's own client does, with the addon's handshake module. ``handshake_record`` keeps
    what went over the wire (for the replay inputs: a recorded handshake must get nowhere)."""

    def __init__(self, port, token, timeout=30.0):
        self.sock = connect(port)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.ids = 0
        self.handshake_record = None
        if token is not None:
            exchanged = {}

            def call(type_, params):
                exchanged[type_] = (params, self.call(type_, **params))
                return exchanged[type_][1]

            try:
                handshake.authenticate_with(call, token, self.sock.getpeername())
            except handshake.PeerNotProven as exc:
                self.close()
                raise RuntimeError(f"authentication failed: {exc}") from exc
            hello_params, hello_reply = exchanged["hello"]
            self.handshake_record = {"client_nonce": hello_params["client_nonce"],
                                     "server_nonce": hello_reply["result"]["auth"]["server_nonce"],
                                     "client_proof": exchanged["authenticate"][0]["client_proof"]}

    def call(self, type_, **params):
        self.ids += 1
        message = {"id": self.ids, "type": type_, "params": params}
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if reply.get("id") != self.ids:
            raise RuntimeError(f"reply for another request: {reply!r:.300}")
        return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def probe_child(port, interval):
    """Child process: ``execute_code 1 + 1`` every ``interval`` s, one JSON line per call on
    stdout, until stdin closes. Token in BLD_FUZZ_TOKEN."""
    token = os.environ.get("BLD_FUZZ_TOKEN") or None
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    client = None
    while not stop.is_set():
        t0 = time.time()
        started = time.perf_counter()
        record = {"t": t0}
        try:
            if client is None:
                client = Client(port, token, timeout=10.0)
            reply = client.call("execute_code", code=PROBE_CODE)
            record["lat"] = time.perf_counter() - started
            record["ok"] = reply.get("status") == "success" and reply.get("result") == 2
            record["job"] = (reply.get("metadata") or {}).get("job_id")
            if not record["ok"]:
                record["err"] = json.dumps(reply)[:300]
        except Exception as exc:  # noqa: BLE001 - every failure is a probe failure, reported
            record["lat"] = time.perf_counter() - started
            record["ok"] = False
            record["err"] = f"{type(exc).__name__}: {exc}"
            if client is not None:
                client.close()
            client = None
        print(json.dumps(record), flush=True)
        stop.wait(max(0.0, interval - (time.perf_counter() - started)))
    if client is not None:
        client.close()


class Probe:
    def __init__(self, port, token, interval):
        env = dict(os.environ)
        env["BLD_FUZZ_TOKEN"] = token or ""
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--probe-child", "--port", str(port),
             "--interval", str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        self.records = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                pass

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)


class Monitor(threading.Thread):
    """Status every second (alive, RSS, connections); traces and job accounting every 2 s."""

    def __init__(self, ctx, token, stats, findings, instance=None, interval=1.0):
        super().__init__(name="fuzz-monitor", daemon=True)
        self.ctx = ctx
        self.token = token
        self.stats = stats
        self.findings = findings
        self.instance = instance
        self.interval = interval
        self.stopped = threading.Event()
        self.rss = []  # (t, bytes)
        self.connections = []
        self.seen_jobs = {}
        self.threads = []
        self.status_failures = 0
        self.client = None
        self.lock = threading.Lock()

    def _client(self):
        if self.client is None:
            self.client = Client(self.ctx.port, self.token, timeout=30.0)
            if self.ctx.recorded is None:
                self.ctx.recorded = self.client.handshake_record  # replayed by forged_proof
        return self.client

    def tick(self, full):
        with self.lock:
            if self.instance is not None and not self.instance.alive():
                self.findings.add("crash", "Blender exited", None, f"exit code {self.instance.proc.returncode}")
                return False
            try:
                client = self._client()
                status = client.call("status")["result"]
            except Exception as exc:  # noqa: BLE001
                self.status_failures += 1
                self.findings.add("status", "status did not answer", None, f"{type(exc).__name__}: {exc}")
                if self.client is not None:
                    self.client.close()
                self.client = None
                return True
            now = time.time()
            if status.get("rss_bytes") is not None:
                self.rss.append((now, status["rss_bytes"]))
            self.connections.append((now, status.get("connections")))
            named = [n for n in status.get("sessions", {}).get("named", []) if str(n).startswith("fuzz")]
            if named:
                self.findings.add("executed", "a fuzz session exists", None, f"named sessions {named}")
            if full:
                self.check_traces(client)
            return True

    def check_traces(self, client):
        reply = client.call("execute_code", code=MONITOR_CODE)
        if reply.get("status") != "success":
            self.findings.add("monitor", "trace check failed", None, json.dumps(reply)[:300])
            return
        self._account(reply)
        result = reply["result"]
        self.threads.append(result["threads"])
        if result["marker"] != "None":
            self.findings.add("executed", "builtins marker set", None,
                              f"builtins.__fuzz_executed__ = {result['marker']}")
        if result["persist"]:
            self.findings.add("executed", "fuzz persist key stored", None, f"persist keys {result['persist'][:10]}")
        try:
            leftovers = sorted(os.listdir(self.ctx.sentinel_dir))
        except OSError:
            leftovers = []
        if leftovers:
            detail = leftovers[:10]
            if "executed" in leftovers:
                detail = (Path(self.ctx.sentinel_file).read_text()[-500:], leftovers[:10])
            self.findings.add("executed", "file written in the sentinel dir", None, f"{detail}")
        jobs = client.call("list_jobs")["result"]["jobs"]
        for job in jobs:
            self._account_job(job["job_id"], job.get("code_preview"))

    def _account(self, reply):
        job = (reply.get("metadata") or {}).get("job_id")
        if job:
            self._account_job(job, "# fuzz-monitor")

    def _account_job(self, job_id, preview):
        if job_id in self.seen_jobs:
            return
        self.seen_jobs[job_id] = preview
        if preview not in OUR_PREVIEWS:
            self.findings.add("executed", "a job nobody of ours created", None, f"{job_id}: {preview!r}")

    def job_gaps(self):
        numbers = sorted(int(j.rsplit("-", 1)[1]) for j in self.seen_jobs)
        if not numbers:
            return []
        seen = set(numbers)
        return [n for n in range(numbers[0], numbers[-1] + 1) if n not in seen]

    def run(self):
        k = 0
        while not self.stopped.wait(self.interval):
            if not self.tick(full=k % 2 == 0):
                break
            k += 1

    def stop(self):
        self.stopped.set()
        self.join(30)


# --------------------------------------------------------------------------------------------
# The run.


def percentiles(values):
    if not values:
        return {"n": 0}
    s = sorted(values)

    def pick(q):  # nearest rank
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

    return {"n": len(s), "p50_ms": pick(0.5) * 1e3, "p90_ms": pick(0.9) * 1e3, "p99_ms": pick(0.99) * 1e3,
            "max_ms": s[-1] * 1e3}


def run_fuzz(port, token, max_message_bytes, preauth_bytes, preauth_messages, idle_timeout, auth_timeout, seed=0,
             duration=60.0, max_items=None, workers=2, waiters=3, slow_clients=3, baseline=5.0, probe_interval=0.05,
             instance=None, save_dir=None, rss_limit_mib=128.0, latency_factor=10.0, latency_floor=0.05, hostile=True,
             hostile_pause=10.0, sentinel_dir=None, exclude=(), on_fuzzing=None):
    """Fuzz the server at 127.0.0.1:port for ``duration`` s (or ``max_items`` fuzz items); returns the
    report (see ``problems``). The limits are the server's settings (docs/protocol.md §8).
    ``on_fuzzing``: called once the fuzzing has started (a test injects traces with it)."""
    own_sentinel = sentinel_dir is None
    sentinel_dir = Path(tempfile.mkdtemp(prefix="bld-fuzz-sentinel-")) if own_sentinel else Path(sentinel_dir)
    ctx = Ctx(port, token, max_message_bytes, preauth_bytes, preauth_messages, idle_timeout, auth_timeout,
              sentinel_dir)
    stats = Stats()
    findings = Findings(stats, save_dir)
    stop = threading.Event()
    runner = Runner(ctx, seed, stats, findings, stop, exclude=exclude)
    monitor = Monitor(ctx, token, stats, findings, instance=instance)
    monitor.tick(full=True)
    threads_before = monitor.threads[-1] if monitor.threads else None
    probe = Probe(port, token, probe_interval)
    t_base = time.time()
    time.sleep(baseline)
    monitor.start()
    t_fuzz = time.time()
    started = time.monotonic()
    deadline = started + duration
    counter = itertools.count()
    fuzzers = [FuzzWorker(runner, i, workers, deadline, max_items, counter) for i in range(workers)]
    lingerers = [Lingerer(runner, "w", i, waiters, deadline) for i in range(waiters)]
    lingerers += [Lingerer(runner, "s", i, slow_clients, deadline) for i in range(slow_clients)]
    if hostile:
        lingerers.append(Lingerer(runner, "h", 0, 1, deadline, pause=hostile_pause))
    for t in fuzzers + lingerers:
        t.start()
    if on_fuzzing is not None:
        on_fuzzing()
    for t in fuzzers:
        t.join()
    fuzz_elapsed = time.monotonic() - started
    stop.set()  # lingerers finish their current session: at most the auth deadline
    for t in lingerers:
        t.join(auth_timeout + 3 * SLACK + 10)
    t_end = time.time()
    probe.stop()
    monitor.stop()
    # Every stranger is gone by the auth deadline: only the monitor's connection is left.
    settle = time.monotonic() + auth_timeout + 2 * SLACK
    connections_after = None
    while time.monotonic() < settle:
        if not monitor.tick(full=False):
            break
        connections_after = monitor.connections[-1][1] if monitor.connections else None
        if connections_after is not None and connections_after <= 1:
            break
        time.sleep(0.25)
    alive = monitor.tick(full=True)
    threads_after = monitor.threads[-1] if monitor.threads else None
    if connections_after is not None and connections_after > 1:
        findings.add("leak", "connections left open", None,
                     f"{connections_after} connections {auth_timeout + 2 * SLACK:g} s after the fuzzing (expected 1)")
    if threads_before is not None and threads_after is not None and threads_after > threads_before + 2:
        findings.add("leak", "threads left running", None, f"threads {threads_before} -> {threads_after}")
    gaps = monitor.job_gaps()
    if gaps:
        findings.add("executed", "job ids nobody of ours accounts for", None, f"{gaps[:20]}")
    errors = [t.error for t in fuzzers + lingerers if t.error]
    for error in errors:
        findings.add("fuzzer_error", "the fuzzer itself failed", None, error)

    base = [r for r in probe.records if t_base <= r["t"] < t_fuzz]
    during = [r for r in probe.records if t_fuzz <= r["t"] <= t_end]
    failed = [r for r in probe.records if not r["ok"]]
    # A probe call overlapping a hostile session (or the second after it: the server may still be
    # working through what it buffered) is counted apart, so that each part has its own figure.
    windows = [(a, (b or t_end) + 1.0) for a, b, _g in runner.hostile_windows]

    def hostile_time(r):
        return any(a <= r["t"] + r["lat"] and r["t"] <= b for a, b in windows)

    lat_base = percentiles([r["lat"] for r in base if r["ok"]])
    lat_during = percentiles([r["lat"] for r in during if r["ok"]])
    lat_quiet = percentiles([r["lat"] for r in during if r["ok"] and not hostile_time(r)])
    lat_hostile = percentiles([r["lat"] for r in during if r["ok"] and hostile_time(r)])
    for r in failed[:5]:
        findings.add("probe", "a probe call failed", None, f"{r.get('err')} after {r['lat']:.3f} s")
    latency_bound = None
    if lat_base.get("n"):
        latency_bound = max(latency_factor * lat_base["p99_ms"], latency_floor * 1e3)
        for name, lat in (("without a hostile stranger", lat_quiet), ("while a hostile stranger sends", lat_hostile)):
            if lat.get("n") and lat["p99_ms"] > latency_bound:
                findings.add("latency", f"probe p99 {name} over the bound", None,
                             f"p99 {lat['p99_ms']:.1f} ms (p50 {lat['p50_ms']:.1f}, max {lat['max_ms']:.1f}, "
                             f"n {lat['n']}) "
                             f"> max({latency_factor:g} x {lat_base['p99_ms']:.1f}, {latency_floor * 1e3:g}) ms")
    if not during:
        findings.add("probe", "no probe call during the fuzzing", None, "the probe did not run")
    fuzz_rss = [b for t, b in monitor.rss if t >= t_fuzz] or [b for _t, b in monitor.rss]
    rss = {}
    if fuzz_rss:
        rss = {"first_mib": fuzz_rss[0] / 2 ** 20, "last_mib": fuzz_rss[-1] / 2 ** 20,
               "max_mib": max(fuzz_rss) / 2 ** 20, "samples": len(fuzz_rss)}
        if rss["max_mib"] - rss["first_mib"] > rss_limit_mib:
            findings.add("memory", "RSS grew past the limit", None,
                         f"RSS {rss['first_mib']:.1f} -> max {rss['max_mib']:.1f} MiB (limit +{rss_limit_mib:g})")
    if own_sentinel:
        shutil.rmtree(sentinel_dir, ignore_errors=True)

    per_gen = {g: dict(stats.per_gen[g]) for g in GENERATORS + HOSTILE + ("batch",) if g in stats.per_gen}
    total_inputs = sum(c.get("inputs", 0) for c in per_gen.values())
    return {
        "seed": seed,
        "settings": {"max_message_bytes": max_message_bytes, "limit": ctx.limit, "preauth_bytes": preauth_bytes,
                     "preauth_messages": preauth_messages, "idle_timeout": idle_timeout,
                     "auth_timeout": auth_timeout, "workers": workers, "waiters": waiters,
                     "slow_clients": slow_clients, "probe_interval": probe_interval, "rss_limit_mib": rss_limit_mib,
                     "latency_factor": latency_factor, "latency_floor_ms": latency_floor * 1e3,
                     "hostile": hostile, "exclude": sorted(exclude)},
        "duration_s": fuzz_elapsed,
        "total_inputs": total_inputs,
        "bytes_sent": sum(c.get("bytes", 0) for c in per_gen.values()),
        "connections": runner.connections,
        "generators": per_gen,
        "modes": dict(stats.modes),
        "replies": dict(stats.replies.most_common()),
        "refusals": dict(stats.refusals.most_common()),
        "replies_checked": stats.checked,
        "server_nonces": len(stats.server_nonces),
        "notes": dict(stats.notes),
        "flaky_mismatches": stats.flaky,
        "probe": {"baseline": lat_base, "during": lat_during, "during_quiet": lat_quiet,
                  "during_hostile": lat_hostile, "failed": len(failed), "bound_ms": latency_bound,
                  "hostile_sessions": len(windows)},
        "rss": rss,
        "alive": alive and (instance is None or instance.alive()),
        "threads": {"before": threads_before, "after": threads_after},
        "connections_after": connections_after,
        "jobs_seen": len(monitor.seen_jobs),
        "findings": list(stats.findings.values()),
    }


def problems(report, ignore=()):
    """Findings as lines (empty: the oracle held). ``ignore``: finding signatures of known issues."""
    lines = []
    for f in report["findings"]:
        if any(re.search(p, f"{f['kind']} {f['signature']}") for p in ignore):
            continue
        ex = f["examples"][0] if f["examples"] else {}
        lines.append(f"[{f['kind']}] x{f['count']} {f['signature']}: {ex.get('detail')} "
                     f"(ref {ex.get('ref')}, input {ex.get('head', '')[:160]})")
    if not report["alive"]:
        lines.append("Blender is not alive at the end")
    return lines


def summary(report):
    s = report["settings"]
    out = [f"seed {report['seed']}, {report['duration_s']:.1f} s, {report['total_inputs']} inputs, "
           f"{report['bytes_sent'] / 2 ** 20:.1f} MiB sent, {report['connections']} connections; limits: message "
           f"{s['max_message_bytes']} B, pre-auth {s['preauth_bytes']} B / {s['preauth_messages']} messages, "
           f"idle {s['idle_timeout']:g} s, auth {s['auth_timeout']:g} s",
           f"{'generator':<32}{'inputs':>8}{'KiB':>9}{'conns':>7}{'replies':>9}{'answer s':>10}{'slowest':>16}"]
    for gen, c in report["generators"].items():
        slowest = f"{c['answer_s_max']:.2f} {c['slowest']}" if c.get("slowest") else ""
        out.append(f"{gen:<32}{c.get('inputs', 0):>8}{c.get('bytes', 0) / 2 ** 10:>9.1f}"
                   f"{c.get('connections', 0):>7}{c.get('replies', 0):>9}{c.get('answer_s_total', 0):>10.1f}"
                   f"{slowest:>16}")
    out.append(f"replies checked against the model: {report['replies_checked']}; server nonces seen: "
               f"{report['server_nonces']} (all distinct unless a finding says otherwise)")
    out.append("replies: " + ", ".join(f"{k} {v}" for k, v in report["replies"].items()))
    out.append("unauthorized by reason: " + ", ".join(f"{k} {v}" for k, v in report["refusals"].items()))
    out.append("delivery: " + ", ".join(f"{k} {v}" for k, v in sorted(report["modes"].items())))
    p = report["probe"]

    def lat(d):
        if not d.get("n"):
            return "no samples"
        return f"n={d['n']} p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, max {d['max_ms']:.1f} ms"

    out.append(f"probe baseline: {lat(p['baseline'])}")
    out.append(f"probe during:   {lat(p['during'])}; failed calls {p['failed']}; bound "
               f"{p['bound_ms'] and round(p['bound_ms'], 1)} ms")
    out.append(f"  no hostile:   {lat(p['during_quiet'])}")
    out.append(f"  hostile:      {lat(p['during_hostile'])} ({p['hostile_sessions']} sessions)")
    r = report["rss"]
    if r:
        out.append(f"RSS: first {r['first_mib']:.1f} MiB, last {r['last_mib']:.1f} MiB, max {r['max_mib']:.1f} MiB")
    executed = [f for f in report["findings"] if f["kind"] == "executed"]
    out.append(f"executed: {'NOTHING' if not executed else f'{len(executed)} kinds of trace, see findings'}; "
               f"Blender alive: {report['alive']}; jobs seen {report['jobs_seen']} (all ours unless a finding says "
               f"otherwise)")
    out.append(f"threads {report['threads']['before']} -> {report['threads']['after']}; connections after "
               f"{report['connections_after']}; notes {report['notes']}")
    if report["findings"]:
        out.append(f"FINDINGS ({len(report['findings'])} kinds):")
        for f in report["findings"]:
            ex = f["examples"][0] if f["examples"] else {}
            out.append(f"  [{f['kind']}] x{f['count']} {f['signature']}")
            out.append(f"      {ex.get('detail')}")
            if ex.get("ref"):
                out.append(f"      ref {ex['ref']} ({', '.join(ex.get('generators', []))}, {ex.get('mode')}, forms "
                           f"{ex.get('forms')}), input {ex.get('head', '')[:200]}"
                           + (f", saved {ex['file']}" if ex.get("file") else ""))
            if ex.get("sends"):
                out.append(f"      sent (s after connecting, bytes): {ex['sends'][:6]}")
                out.append(f"      expected {ex.get('expected')[:6]}; got {ex.get('actual')[:6]}")
    else:
        out.append("no findings")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


SPAWN_ENV = {
    # A message limit under the pre-auth byte budget, so that both are reachable before
    # authenticating: message_too_large for one large message, the budget for many small ones or
    # whitespace. (With the shipped 64 MiB the budget comes first: --max-message-bytes.)
    "BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": "2048",
    "BLD_REMOTE_MCP_PREAUTH_BYTES": "4096",
    "BLD_REMOTE_MCP_PREAUTH_MESSAGES": "4",
    # Partial messages expire within the run and strangers are dropped often.
    "BLD_REMOTE_MCP_IDLE_TIMEOUT": "2",
    "BLD_REMOTE_MCP_AUTH_TIMEOUT": "5",
}


def settings_of(env):
    """run_fuzz's limits from a Blender's environment (the server's defaults where unset, §8)."""
    return {"max_message_bytes": int(env.get("BLD_REMOTE_MCP_MAX_MESSAGE_BYTES", 64 << 20)),
            "preauth_bytes": int(env.get("BLD_REMOTE_MCP_PREAUTH_BYTES", 4096)),
            "preauth_messages": int(env.get("BLD_REMOTE_MCP_PREAUTH_MESSAGES", 4)),
            "idle_timeout": float(env.get("BLD_REMOTE_MCP_IDLE_TIMEOUT", 30)),
            "auth_timeout": float(env.get("BLD_REMOTE_MCP_AUTH_TIMEOUT", 10))}


def send_file(port, path, timeout):
    data = Path(path).read_bytes()
    with connect(port) as sock:
        ex = pump(sock, data, True, time.monotonic() + timeout)
    print(f"sent {len(data)} bytes; eof={ex.eof} reset={ex.reset} hang={ex.hang} after {ex.elapsed:.2f} s")
    print(bytes(ex.received[:4000]).decode("utf-8", "backslashreplace"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("bg", "bpy5"), default="bg")
    parser.add_argument("--port", type=int, help="attach to this server instead of starting a Blender")
    parser.add_argument("--token", default=os.environ.get("BLD_REMOTE_MCP_TOKEN"))
    parser.add_argument("--max-message-bytes", type=int,
                        help="the server's message limit (started here: "
                             f"{SPAWN_ENV['BLD_REMOTE_MCP_MAX_MESSAGE_BYTES']}; attached: 64 MiB unless told)")
    parser.add_argument("--preauth-bytes", type=int, default=4096, help="attached server's pre-auth byte budget")
    parser.add_argument("--preauth-messages", type=int, default=4, help="attached server's pre-auth message budget")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="attached server's idle limit")
    parser.add_argument("--auth-timeout", type=float, default=10.0, help="attached server's auth deadline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--waiters", type=int, default=3)
    parser.add_argument("--slow-clients", type=int, default=3)
    parser.add_argument("--baseline", type=float, default=10.0)
    parser.add_argument("--max-items", type=int)
    parser.add_argument("--rss-limit-mib", type=float, default=128.0)
    parser.add_argument("--no-hostile", action="store_true", help="no cpu_drip / byte_stream sessions")
    parser.add_argument("--hostile-pause", type=float, default=10.0)
    parser.add_argument("--exclude", action="append", default=[], metavar="GEN[:FORM]",
                        help="skip a generator, or one form of it (e.g. oversized:ws_pad), to attribute a finding")
    parser.add_argument("--out")
    parser.add_argument("--send", help="send this file's bytes on one connection and print the reply")
    parser.add_argument("--show", help="print the input of item REF (e.g. f:123) for --seed and exit")
    parser.add_argument("--probe-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.05, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Stopped by a signal (also when started in the background, where SIGINT is ignored): unwind,
    # so that the Blender this script started is stopped by the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.probe_child:
        probe_child(args.port, args.interval)
        return 0
    if args.send:
        send_file(args.port, args.send, args.idle_timeout + 10)
        return 0
    attached = {"max_message_bytes": args.max_message_bytes or 64 << 20, "preauth_bytes": args.preauth_bytes,
                "preauth_messages": args.preauth_messages, "idle_timeout": args.idle_timeout,
                "auth_timeout": args.auth_timeout}
    if args.show:
        space, n = args.show.split(":")
        settings = attached if args.port else settings_of(SPAWN_ENV)
        ctx = Ctx(args.port or 6688, args.token or "x" * 43, settings["max_message_bytes"], settings["preauth_bytes"],
                  settings["preauth_messages"], settings["idle_timeout"], settings["auth_timeout"],
                  Path(tempfile.gettempdir()) / "bld-fuzz-sentinel")
        item = make_item(args.seed, space, int(n), ctx)
        print(f"{item.kind} {item.gens} mode={item.mode}")
        for inp in item.inputs:
            for k, nonce in enumerate(inp.prelude):
                print("hello first, its answer awaited:", prelude_line(k, nonce))
            if inp.slots:
                print("slots:", {slot(i): spec for i, spec in enumerate(inp.slots)}, "edit:", inp.edit)
            print(repr(inp.data[:4000]), f"({len(inp.data)} bytes)", inp.doc.get("form") or "")
        return 0

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"fuzz-socket-{stamp}.json"
    save_dir = out.with_suffix("")
    instance = None
    if args.port is None:
        sys.path.insert(0, str(REPO / "tests" / "e2e"))
        from harness import Instance  # noqa: E402 - only needed when we start Blender

        env = dict(SPAWN_ENV)
        if args.max_message_bytes:
            env["BLD_REMOTE_MCP_MAX_MESSAGE_BYTES"] = str(args.max_message_bytes)
        instance = Instance(args.kind, env=env)
        port, token = instance.port, instance.token
        settings = settings_of(env)
        print(f"started {args.kind} Blender pid {instance.pid} on port {port}", flush=True)
    else:
        port, token = args.port, args.token
        settings = attached
    try:
        report = run_fuzz(port, token, seed=args.seed, duration=args.duration, max_items=args.max_items,
                          workers=args.workers, waiters=args.waiters, slow_clients=args.slow_clients,
                          baseline=args.baseline, instance=instance, save_dir=save_dir,
                          rss_limit_mib=args.rss_limit_mib, hostile=not args.no_hostile,
                          hostile_pause=args.hostile_pause, exclude=args.exclude, **settings)
    finally:
        if instance is not None:
            instance.stop()
    report["kind"] = args.kind if instance is not None else "attached"
    report["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(summary(report))
    print(f"report: {out}")
    return 1 if problems(report) else 0


if __name__ == "__main__":
    sys.exit(main())
