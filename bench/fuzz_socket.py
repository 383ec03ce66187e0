#!/usr/bin/env python3
"""Socket fuzzer against a live addon: hostile bytes on the port, an oracle checked all along.

Fuzz connections never authenticate. Every request they send is from a stranger (no token, a
near-miss token, a token of the wrong type), or carries the real token only inside a frame that is
malformed *by construction* (``real_token_malformed``: a strict prefix then a disconnect, invalid
UTF-8, ``NaN``, junk before the ``{``, an HTTP request line first, over the size limit, legacy
framing with no newline anywhere, the token outside the top level...; see ``_armed``). So
docs/protocol.md says that no fuzz input may ever run anything, and every command whose effect is
visible carries a trace: code sets ``builtins.__fuzz_executed__`` and appends to a sentinel file,
``session``/``key`` params are named ``fuzz-…``, screenshot paths point into the sentinel dir,
and ``shutdown`` would end Blender.

Oracle, checked while the fuzzer runs (each violation is a finding, printed with a reproduction):

* **Nothing executes.** A monitor connection (authenticated) checks every 2 s that the builtins
  marker is unset, no persist key or named session starts with ``fuzz``, the sentinel dir is
  empty, and that every job ``list_jobs`` shows was created by the probe or the monitor (by its
  ``code_preview``): a fuzz input cannot even *queue* a job.
* **Blender never crashes**: the process stays alive (when this script started it) and
  ``status`` answers every second.
* **Other clients keep their latency**: a probe in a separate process (so that the fuzzer's own
  CPU use does not count) runs ``execute_code 1 + 1`` on its own authenticated connection every
  50 ms, first alone (baseline), then during the fuzzing. No probe call may fail, and
  p99 during <= max(latency_factor x p99 baseline, latency_floor) (10x and 50 ms by default),
  checked apart for the calls that overlap a hostile stranger (below) and for the others.
* **Memory stays bounded**: ``rss_bytes`` from ``status`` every second; max - first <= the
  limit (128 MiB by default). Threads and connections return to their level at the end.
* **Every reply is well-formed**: strict UTF-8 JSON, a v1 error line or a 1.3.3 error object
  whose ``code`` is one of docs/protocol.md §3, or the success of a token-less ``hello`` (which
  must say ``authenticated: false``), or the exact ``HTTP/1.1 403`` refusal; or the connection
  closes. A connection where the server neither answers nor closes in time is a hang.
* **Every reply is the right one.** For each input the expected replies are computed by a
  reference model: the addon's own pure decoder (``framing.py``) for message boundaries, and the
  auth gate's rules of docs/protocol.md §1a for what a stranger gets (``unauthorized``, or the
  token-less ``hello`` answer, ``invalid_request`` for a bad id or params). Where the bytes fall
  into reads changes some answers by design (an object without an id is legacy unless its newline
  came in the same read), so the model is run for the server's 64 KiB reads and for one read per
  send, and either is right; a mismatch with both is replayed twice and is a finding only if it
  reproduces. This covers the server around the decoder (dispatch, auth, reply encoding,
  connection life), not the decoder itself: that is checked against the documentation directly
  (HTTP prefixes get the 403 and a close; a message gets ``message_too_large`` exactly when it is
  over the limit, in v1 framing when its bytes contain ``"id"``).
* **Strangers cannot hold a connection**: connections that stay open (waiters, slow clients
  feeding one byte a second or just under the idle limit, hostile strangers) are closed with
  ``unauthorized`` by the auth deadline (+ slack); a partial message left idle gets
  ``incomplete_message``.

Delivery: most inputs on a fresh connection (send, half-close, read until the server closes;
sometimes close or reset at once instead), some several on one connection (each followed by a
newline and a token-less ``hello`` as a sync marker), a few waiter threads that send and wait for
the server to give up on them, slow clients feeding one byte per second, and one thread of
hostile strangers that never stop sending, with pauses in between: ``cpu_drip`` (a message kept
just under the limit, then a byte every few ms: each read makes the decoder look at the whole
buffer again) and ``byte_stream`` (whitespace, CRLF, non-JSON lines or token-less hellos as fast
as the server takes them).

Report: inputs per generator, bytes sent, connections, how long the server took over them,
replies by code, probe latency (baseline; during, with and without a hostile stranger), RSS,
findings with reproductions (the exact input is saved next to the JSON: resend it with
``--send FILE --port P``; ``--show REF --seed N`` prints the input of item REF). Printed, and
written to bench/results/fuzz-socket-<timestamp>.json.

Run: .venv/bin/python bench/fuzz_socket.py --duration 300 --seed 1 [--kind bg|bpy5]
     (starts its own Blender with small limits, SPAWN_ENV), or attach with --port P --token T (and
     tell it that server's --limit/--idle-timeout/--auth-timeout; the job accounting then assumes
     nobody else uses that Blender). Exit status 1 on any finding. tests/e2e/test_fuzz_socket.py
     runs the same code, shorter, as a test.
"""

import argparse
import base64
import collections
import hashlib
import importlib.util
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
FRAMING_PY = REPO / "blender_addon" / "bld_remote_mcp" / "framing.py"

# docs/protocol.md §3; tests/e2e/test_fuzz_socket.py checks that this is the table there.
KNOWN_CODES = frozenset((
    "parse_error", "invalid_request", "unknown_command", "invalid_params", "message_too_large",
    "incomplete_message", "execution_error", "timeout", "cancelled", "queue_full", "not_found", "busy",
    "shutting_down", "internal_error", "unauthorized", "guard_refused", "checkpoint_failed",
))
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI")
COMMANDS = (
    "ping", "hello", "status", "execute_code", "get_job", "cancel_job", "list_jobs", "reset_session",
    "put_persist_data", "get_persist_data", "remove_persist_data", "shutdown", "server_shutdown",
    "get_polyhaven_status", "get_scene_info", "get_object_info", "get_viewport_screenshot",
)
PROBE_CODE = "1 + 1  # fuzz-probe"
MONITOR_CODE = (
    "# fuzz-monitor\n"
    "import builtins, threading, bld_remote\n"
    "_result = {'marker': repr(getattr(builtins, '__fuzz_executed__', None)),\n"
    "           'persist': sorted(str(k) for k in bld_remote.persist.keys() if str(k).startswith('fuzz')),\n"
    "           'threads': threading.active_count()}\n"
)
OUR_PREVIEWS = (PROBE_CODE, "# fuzz-monitor")

SERVER_RECV = 1 << 16  # server.py reads at most this much at a time: the model feeds the same
SLACK = 3.0  # seconds allowed past a deadline of the server (timers, a loaded 2-core machine)

GENERATORS = (
    "random_bytes", "mutated", "wrong_types", "unknown_command", "odd_ids", "preauth_hello",
    "near_miss_token", "truncated_disconnect", "oversized", "deep_nesting", "invalid_utf8",
    "huge_string", "legacy_garbage", "http_prefix", "control_chars", "real_token_malformed",
)
# Strangers that keep sending: a dedicated thread runs one at a time, with pauses, so that the probe's
# latency can be reported with and without one of them at work.
HOSTILE = ("cpu_drip", "byte_stream")
# Generators whose inputs may go in a batch on one connection (a newline and a sync hello are
# appended: that would turn a real-token legacy frame into a valid v1 line).
BATCHABLE = tuple(g for g in GENERATORS if g not in ("real_token_malformed", "truncated_disconnect"))


def _load_framing():
    """The addon's pure decoder, loaded by path (its package __init__ is for Blender)."""
    spec = importlib.util.spec_from_file_location("bld_fuzz_framing", FRAMING_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


framing = _load_framing()


def _ends_with_brace(buf):
    return buf.rstrip(b" \t\r\n").endswith(b"}")


# Same answer as framing's own (a byte-by-byte Python loop, slow over long whitespace runs: see
# the cpu_drip generator); the model only needs the answer, fast.
framing._ends_with_brace = _ends_with_brace


class Ctx:
    """What inputs and checks depend on: the server's limits and this run's sentinels."""

    def __init__(self, port, token, limit, idle_timeout, auth_timeout, sentinel_dir):
        self.port = port
        self.token = token
        self.limit = limit  # effective pre-auth message limit: min(max_message, max_preauth)
        self.idle_timeout = idle_timeout
        self.auth_timeout = auth_timeout
        self.sentinel_dir = str(sentinel_dir)
        self.sentinel_file = os.path.join(self.sentinel_dir, "executed")


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


def _printable(rng, size, alphabet=b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./"):
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rng.randbytes(size).translate(table)


# --------------------------------------------------------------------------------------------
# Requests: every command, plausible params, every effect leaving a trace.


def sentinel_code(ctx, tag):
    # No braces (see _armed) and no newline: one line that would leave two traces.
    return (f"import builtins; builtins.__fuzz_executed__ = {tag!r}; "
            f"open({ctx.sentinel_file!r}, 'a').write({tag!r} + chr(10))")


def near_miss_tokens(token):
    """Strings close to the token that must not authenticate (never an escape of the token
    itself: JSON would decode that back to the token)."""
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


TOKEN_MODES = ("none", "none", "none", "near", "near", "wrong_type", "null")
WRONG_VALUES = (
    Raw("true"), Raw("false"), Raw("1.5"), Raw("-1"), Raw("0"), Raw("9223372036854775808"),
    Raw("-9223372036854775809"), Raw("1e400"), Raw("-0"), Raw("null"), [], [1, "a"], Obj(),
    Obj([("a", 1)]), "", "x", "\u00e9", Raw('"\\u0000"'), Raw("1E+2"), Raw("-0.0e-0"),
)


def token_value(rng, ctx, mode):
    if mode == "near":
        return rng.choice(near_miss_tokens(ctx.token))
    if mode == "wrong_type":
        return rng.choice([Raw("true"), 12345, [ctx.token[:4]], Obj([("token", "x")]), Raw("1e400")])
    if mode == "null":
        return None
    return None


def request(rng, ctx, tag, command=None, token_mode=None, with_id=None):
    """A plausible v1 request that a stranger could send (never the real token)."""
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
# Generators: rng, ctx, tag -> Input. The same (seed, space, n) always gives the same input.


class Input:
    __slots__ = ("data", "armed", "mode", "doc")

    def __init__(self, data, armed=False, mode=None, doc=None):
        self.data = bytes(data)
        self.armed = armed  # carries the real token (inside a frame that must not be served)
        self.mode = mode  # preferred delivery, or None
        self.doc = doc or {}  # documented expectations checked without the model


JSONISH = b'{}[]":,\\ \n\r\t0123456789abcdeftrulnsxyz-+.eEIN'


def g_random_bytes(rng, ctx, tag):
    size = rng.choice((rng.randint(0, 8), rng.randint(0, 256), rng.randint(0, 4096),
                       rng.randint(0, min(65536, ctx.limit))))
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
    command = "hello" if rng.random() < 0.3 else rng.choice(COMMANDS)
    obj = request(rng, ctx, tag, command=command, token_mode="none" if command == "hello" else None)
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
        keys = [k for k, _ in params] or ["code", "timeout", "job_id", "key"]
        _set(params, rng.choice(keys), wrong)
    else:
        obj.append((rng.choice(["ID", "Type", "params ", "", "\u00e9", "__proto__", "jsonrpc"]), wrong))
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")))


UNKNOWN_NAMES = ("", " hello", "hello ", "HELLO", "Hello", "hello\u0000", "__init__", "__class__", "COMMANDS",
                 "../execute_code", "execute_code\n", "exec", "eval", "execute-code", "execute_code\u200b",
                 "\u0435xecute_code", "make_coffee", "ping" * 200, "get_job/../status", "\U0001F642")


def g_unknown_command(rng, ctx, tag):
    name = rng.choice(UNKNOWN_NAMES) if rng.random() < 0.7 else _printable(rng, rng.randint(1, 64)).decode()
    obj = Obj([("id", rng.randint(0, 999)), ("type", name)])
    if rng.random() < 0.7:
        obj.append(("params", valid_params(rng, ctx, "execute_code", tag)))
    if rng.random() < 0.3:
        obj.append(("token", token_value(rng, ctx, "near")))
    return Input(encode(obj, rng) + ending(rng))


def g_odd_ids(rng, ctx, tag):
    odd = rng.choice((
        Raw("9" * 19), Raw("9" * 20), Raw("-" + "9" * 40), Raw("1" + "0" * 4299), Raw("1" + "0" * 4300),
        Raw("9" * 10000), Raw("-1"), Raw("-0"), Raw("0.0"), Raw("1.0"), Raw("-1.5"), Raw("1e5"), Raw("1E-7"),
        Raw("1e400"), Raw("-1e400"), Raw("null"), Raw("true"), "", "\u00e9\U0001F642", "x" * 1000,
        [1], Obj([("id", 1)]), Raw("NaN"), Raw("-Infinity"), Raw("0x1F"), Raw("+1"), Raw(".5"), Raw("01"),
    ))
    command = rng.choice(("hello", "hello", "ping", "execute_code", "status"))
    obj = request(rng, ctx, tag, command=command, token_mode="none" if rng.random() < 0.7 else None)
    _set(obj, "id", odd)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"")))


def g_preauth_hello(rng, ctx, tag):
    """The one thing a stranger may do: variants of a token-less hello."""
    obj = Obj([("type", "hello")])
    if rng.random() < 0.8:
        obj.append(("id", rng.choice([1, "h", None, -7, 2 ** 62, f"hello-{tag}", Raw("1.0"), Raw("true")])))
    params = rng.choice([None, Obj(), Obj([("x", 1)]), Raw("null"), [], "s", 1, Raw("{}")])
    if params is not None:
        obj.append(("params", params))
    extra = rng.random()
    if extra < 0.15:
        obj.append(("token", None))
    elif extra < 0.25:
        obj.append(("type", rng.choice(["ping", "execute_code"])))  # duplicate key: the last wins
    elif extra < 0.35:
        obj.insert(0, ("type", "ping"))  # ...so this one is a hello
    elif extra < 0.45:
        obj.append(("Type", "ping"))
    elif extra < 0.5:
        obj.append(("jsonrpc", "2.0"))
    if rng.random() < 0.3:
        rng.shuffle(obj)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\r\n", b"")))


def g_near_miss_token(rng, ctx, tag):
    command = rng.choice(("hello", "hello", "execute_code", "execute_code", "ping", "put_persist_data", "shutdown"))
    obj = request(rng, ctx, tag, command=command, token_mode="near")
    if rng.random() < 0.2:
        _set(obj, "token", token_value(rng, ctx, "wrong_type"))
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")))


def g_truncated_disconnect(rng, ctx, tag):
    data = encode(request(rng, ctx, tag, command=rng.choice(("execute_code", "hello", "put_persist_data"))), rng)
    data = truncate(rng, data)
    return Input(data, mode=rng.choice(("close", "close", "rst", "shut")))


def _padded(prefix, suffix, total, fill=b"a"):
    """prefix + fill* + suffix of exactly ``total`` bytes (total >= len(prefix + suffix))."""
    room = total - len(prefix) - len(suffix)
    return prefix + (fill * (room // len(fill) + 1))[:room] + suffix


def g_oversized(rng, ctx, tag):
    L = ctx.limit
    size = rng.choice((L - 1, L, L + 1, L + 1, L + 2, L + rng.randint(3, 4096), L + rng.randint(1, L)))
    code = sentinel_code(ctx, tag).encode()
    shape = rng.choice(("v1_line", "v1_line", "id_no_newline", "legacy_no_newline", "line_no_id", "ws_pad",
                        "id_late"))
    if shape == "ws_pad":  # whitespace inside the object, not a long string
        data = _padded(b'{"id":1,"type":"hello",', b'"params":null}', size, b" \t\r")
    elif shape == "id_late":  # "id" only after 64 KiB: see the style check in check_doc
        data = _padded(b'{"pad":"', b'","id":1,"type":"hello"}', size)
    elif shape == "legacy_no_newline" or shape == "line_no_id":
        data = _padded(b'{"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    else:
        data = _padded(b'{"id":1,"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    newline = shape in ("v1_line", "line_no_id", "ws_pad") or (shape == "id_late" and rng.random() < 0.5)
    data += b"\n" if newline else b""
    return Input(data, doc={"too_large": size > L, "size": size, "limit": L, "form": shape})


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
        field = rng.choice(("id", "type", "token", "key", "param", "code"))
        esc = Raw('"' + rng.choice(LONE_SURROGATES) + '"')
        command = "hello" if field in ("id", "key") and rng.random() < 0.5 else rng.choice(COMMANDS)
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
            _set(params, "code" if field == "code" else "note", esc)
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
    field = rng.choice(("id", "id", "token", "code", "key", "unknown_param", "type", "param_name"))
    unit = rng.choice((b"a", b"a", b"\\u00e9", "\u00e9".encode(), b'\\"', b"\\n", "\U0001F642".encode()))
    fill = unit if len(unit) > 1 else None
    obj = Obj([("id", 1), ("type", "hello" if field == "id" else rng.choice(COMMANDS))])
    params = valid_params(rng, ctx, "execute_code", tag)
    placeholder = "\u0000PLACEHOLDER\u0000"
    if field in ("id", "type", "token"):
        _set(obj, field, placeholder)
    elif field == "code":
        _set(params, "code", placeholder)
    elif field == "key":
        params = Obj([("key", placeholder), ("data", 1)])
        _set(obj, "type", "put_persist_data")
    elif field == "unknown_param":
        params.append(("blob", placeholder))
    else:
        params.append((placeholder, 1))
    obj.append(("params", params))
    skeleton = encode(obj)
    hole = json.dumps(placeholder).encode()
    overhead = len(skeleton) - len(hole) + 2  # the quotes stay
    room = ctx.limit - overhead - 2
    size = rng.randint(room // 4, room) if rng.random() < 0.7 else rng.randint(min(1000, room), room)
    if fill is None:
        content = b"a" * size if rng.random() < 0.5 else _printable(rng, size)
    else:
        content = (fill * (size // len(fill)))
    data = skeleton.replace(hole, b'"' + content + b'"')
    return Input(data + rng.choice((b"\n", b"\n", b"\n", b"")))


def g_legacy_garbage(rng, ctx, tag):
    form = rng.random()
    if form < 0.4:
        obj = Obj([("type", rng.choice(COMMANDS))])
        if rng.random() < 0.8:
            obj.append(("params", valid_params(rng, ctx, _get(obj, "type"), tag)))
        if rng.random() < 0.2:
            obj.append(("token", token_value(rng, ctx, "near")))
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
    method = rng.choice(HTTP_METHODS + ("get", "Post", "GE", "GET", "POS", "HTTP/1.1", "G E T", "GETX", "PRI *"))
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


def _armed_object(rng, ctx, tag, legacy=False):
    """An object that, if it were served, would run traced code with the real token.
    Key order: params (the only inner object) is never last, so its '}' is followed by ','."""
    kind = rng.choice(("execute_code", "execute_code", "execute_code", "put_persist_data", "get_viewport_screenshot"))
    if kind == "execute_code":
        params = Obj([("code", sentinel_code(ctx, tag))])
        if rng.random() < 0.3:
            params.append(("execution_mode", "async"))
    elif kind == "put_persist_data":
        params = Obj([("key", f"fuzz-{tag}"), ("data", 1)])
    else:
        params = Obj([("filepath", os.path.join(ctx.sentinel_dir, f"{tag}.png"))])
    obj = Obj() if legacy else Obj([("id", rng.randint(1, 10 ** 6))])
    obj += [("type", kind), ("params", params), ("token", ctx.token)]
    return obj


ARMED_FORMS = ("truncated", "truncated_newline", "bad_utf8", "nan", "junk_first", "http", "oversized", "legacy",
               "legacy_untyped", "no_close", "double_open", "dup_token", "token_in_params", "token_key_case",
               "raw_newline_in_string")


def _armed(rng, ctx, tag):
    """The real token, inside a frame that docs/protocol.md says is never served. Each shape stays
    unservable however the bytes are split into reads (checked against the model in make_input)."""
    form = rng.choice(ARMED_FORMS)
    obj = _armed_object(rng, ctx, tag, legacy=form in ("legacy",))
    text = encode(obj)
    mode = None
    if form == "truncated":  # a strict prefix, then the peer leaves
        data = text[:rng.randint(1, len(text) - 1)]
        mode = rng.choice(("close", "rst", "shut"))
    elif form == "truncated_newline":
        data = text[:rng.randint(1, len(text) - 1)] + b"\n"
    elif form == "bad_utf8":  # anywhere before the final brace
        i = rng.randint(1, len(text) - 1)
        data = text[:i] + rng.choice(BAD_UTF8) + text[i:] + rng.choice((b"\n", b""))
    elif form == "nan":
        i = text.rfind(b"}")
        constant = rng.choice((b"NaN", b"Infinity", b"-Infinity"))
        data = text[:i] + b',"x":' + constant + text[i:] + rng.choice((b"\n", b""))
    elif form == "junk_first":  # not whitespace: the whole line is discarded
        data = rng.choice((b"x", b"\x00", b"\xef\xbb\xbf", b"[", b"}", b"\x0c", b'"', b"\x0b")) + text + b"\n"
    elif form == "http":
        data = rng.choice(HTTP_METHODS).encode() + b" / HTTP/1.1\r\n\r\n" + text + b"\n"
    elif form == "oversized":
        i = text.rfind(b'},"token"')
        pad_to = ctx.limit + rng.randint(1, 4096)
        head = text[:i] + b',"pad":"'
        tail = b'"' + text[i:]
        data = _padded(head, tail, pad_to) + rng.choice((b"\n", b""))
    elif form == "legacy":  # no "id": 1.3.3 framing, refused; no newline anywhere, or it would be v1
        data = text
    elif form == "legacy_untyped":
        data = encode(Obj([("code", sentinel_code(ctx, tag)), ("token", ctx.token)]))
    elif form == "no_close":
        data = text[:-1] + b"\n"
    elif form == "double_open":
        data = b"{" + text + b"\n"
    elif form == "dup_token":  # valid JSON whose last "token" (the one that counts) is wrong
        data = text[:-1] + b',"token":' + json.dumps(rng.choice(near_miss_tokens(ctx.token))).encode() + b"}\n"
    elif form == "token_in_params":
        obj = Obj([(k, v) for k, v in obj if k != "token"])
        _get(obj, "params").append(("token", ctx.token))
        data = encode(obj) + b"\n"
    elif form == "token_key_case":
        key = rng.choice(["Token", "TOKEN", "token ", " token", "tokens", "token\u0000"])
        obj = Obj([(key if k == "token" else k, v) for k, v in obj])
        data = encode(obj) + b"\n"
    else:  # a raw newline inside the code string splits it into two broken lines
        i = text.find(b"builtins;")
        data = text[:i] + b"\n" + text[i:] + b"\n"
    if form in ("legacy", "legacy_untyped"):
        assert b"\n" not in data
    return Input(data, armed=True, mode=mode, doc={"form": form})


def g_cpu_drip(rng, ctx, tag):
    """A message that stays incomplete just under the limit, then one byte every few ms: each byte
    makes the decoder look at the whole buffer again (the trailing-whitespace scan, the attempt to
    parse an object that ends with '}')."""
    form = rng.choice(("whitespace", "whitespace", "brace_in_string"))
    fill = ctx.limit - 8192
    if form == "whitespace":
        data, unit = b"{" + b" " * fill, rng.choice((b" ", b"\t", b"\r"))
    else:
        data, unit = b'{"a":"' + b"x" * fill, b"}"
    return Input(data, doc={"hostile": {"form": form, "unit": unit, "interval": rng.choice((0.002, 0.005))}})


def g_byte_stream(rng, ctx, tag):
    """Bytes as fast as the server takes them, none of them a request that needs the token:
    whitespace between messages, lines that are not JSON, token-less hellos."""
    form = rng.choice(("whitespace", "crlf", "not_json_lines", "hellos"))
    unit = {"whitespace": b" " * (1 << 20), "crlf": b"\r\n" * (1 << 19), "not_json_lines": b"x\n" * (1 << 15),
            "hellos": b'{"id":1,"type":"hello"}\n' * 2048}[form]
    return Input(b"", doc={"hostile": {"form": form, "unit": unit, "interval": 0.0}})


GENERATOR_FUNCS = {
    "random_bytes": g_random_bytes, "mutated": g_mutated, "wrong_types": g_wrong_types,
    "unknown_command": g_unknown_command, "odd_ids": g_odd_ids, "preauth_hello": g_preauth_hello,
    "near_miss_token": g_near_miss_token, "truncated_disconnect": g_truncated_disconnect,
    "oversized": g_oversized, "deep_nesting": g_deep_nesting, "invalid_utf8": g_invalid_utf8,
    "huge_string": g_huge_string, "legacy_garbage": g_legacy_garbage, "http_prefix": g_http_prefix,
    "control_chars": g_control_chars, "real_token_malformed": _armed,
    "cpu_drip": g_cpu_drip, "byte_stream": g_byte_stream,
}
assert tuple(GENERATOR_FUNCS) == GENERATORS + HOSTILE


class FuzzerBug(AssertionError):
    pass


def make_input(ctx, gen, rng, tag):
    item = GENERATOR_FUNCS[gen](rng, ctx, tag)
    # (Other generators may contain the token's characters, in near misses: the model flags any
    # input that it says would authenticate, see compare.)
    if item.armed:
        # The construction must be unservable for every split into reads: try the server's
        # 64 KiB reads, one-byte reads for small inputs, and a few random splits.
        splits = [[item.data]]
        if len(item.data) <= 4096:
            splits.append([item.data[i:i + 1] for i in range(len(item.data))])
        check = random.Random(tag)
        for _ in range(3):
            cuts = sorted(check.sample(range(1, len(item.data)), min(4, len(item.data) - 1)))
            splits.append([item.data[a:b] for a, b in zip([0] + cuts, cuts + [len(item.data)])])
        for pieces in splits:
            expected, _partial, _closed = model(pieces, ctx, chunk=False)
            if any(e[0] == "AUTH" for e in expected):
                raise FuzzerBug(f"armed input would be served for split {[len(p) for p in pieces]}: "
                                f"{item.data[:200]!r}")
    return item


# --------------------------------------------------------------------------------------------
# Items: what one fuzz step does. Spaces: "f" fuzz workers, "w" waiters, "s" slow clients.


class Item:
    def __init__(self, ref, kind, gens, inputs, mode):
        self.ref = ref  # "f:123": regenerate with the same seed
        self.kind = kind  # single, batch, wait, slow
        self.gens = gens
        self.inputs = inputs
        self.mode = mode

    @property
    def data(self):
        return b"".join(i.data for i in self.inputs)


def pick_generator(rng, allowed=GENERATORS):
    return rng.choice(allowed)


def make_item(seed, space, n, ctx):
    rng = random.Random(f"{seed}/{space}/{n}")
    tag = f"fuzz-{space}{n}"
    ref = f"{space}:{n}"
    if space == "f":
        if rng.random() < 0.12:
            count = rng.randint(2, 6)
            gens = [pick_generator(rng, BATCHABLE) for _ in range(count)]
            inputs = [make_input(ctx, g, rng, f"{tag}-{i}") for i, g in enumerate(gens)]
            return Item(ref, "batch", gens, inputs, "batch")
        gen = pick_generator(rng)
        item = make_input(ctx, gen, rng, tag)
        mode = item.mode or rng.choice(("shut",) * 17 + ("close", "close", "rst"))
        return Item(ref, "single", [gen], [item], mode)
    if space == "h":
        gen = pick_generator(rng, HOSTILE)
        return Item(ref, "hostile", [gen], [make_input(ctx, gen, rng, tag)], "hostile")
    if space == "w":
        gen = pick_generator(rng)
        item = make_input(ctx, gen, rng, tag)
        return Item(ref, "wait", [gen], [item], "wait")
    gen = pick_generator(rng, BATCHABLE)
    item = make_input(ctx, gen, rng, tag)
    # One byte a second (the case asked for); faster; slower than the idle limit (each byte starts
    # a partial message that expires); just under it (a partial kept alive until the auth deadline).
    interval = rng.choice((1.0, 1.0, 0.25, ctx.idle_timeout * 1.3, ctx.idle_timeout * 0.8))
    it = Item(ref, "slow", [gen], [item], "slow")
    it.interval = interval
    return it


# --------------------------------------------------------------------------------------------
# Reference model of the server's answers to a stranger.


def _gate(message, ctx):
    """What a connection without the token gets for one decoded message (docs/protocol.md §1a, §3)."""
    body = message.body
    if message.style == framing.LEGACY:
        return ("legacy", "unauthorized", None)  # refused whatever they carry, the token included
    rid = body.get("id")
    echo = rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
    offered = body.get("token")
    if isinstance(offered, str) and offered == ctx.token:
        return ("AUTH", None, None)
    if offered is not None:
        return ("v1", "unauthorized", echo)
    if body.get("type") != "hello":
        return ("v1", "unauthorized", echo)
    if not (rid is None or isinstance(rid, (str, int))) or isinstance(rid, bool):
        return ("v1", "invalid_request", None)
    params = body.get("params", {})
    if params is not None and not isinstance(params, dict):
        return ("v1", "invalid_request", rid)
    return ("v1", "hello", rid)


def model(pieces, ctx, chunk=True):
    """Expected replies for ``pieces`` arriving one after another, then EOF.
    Returns (expected, decoder, closed): expected is a list of (framing, code|hello|http|close, id)."""
    decoder = framing.MessageDecoder(ctx.limit)
    expected = []
    for piece in pieces:
        reads = [piece[i:i + SERVER_RECV] for i in range(0, len(piece), SERVER_RECV)] if chunk else [piece]
        for data in reads:
            if not data:
                continue
            for event in decoder.events(data):
                if isinstance(event, framing.HttpDetected):
                    expected.append(("http", "http", None))
                    return expected, decoder, True
                if isinstance(event, framing.CloseAfterReply):
                    return expected, decoder, True
                if isinstance(event, framing.FramingError):
                    expected.append((event.style, event.code, None))
                else:
                    expected.append(_gate(event, ctx))
    return expected, decoder, False


def expectations(pieces, ctx):
    """The model's answers for the reads the server most likely made (64 KiB at a time) and for
    each piece arriving in one read. Both are right: whether a message without an id is v1 or
    legacy depends on whether its newline came in the same read as its '}' (docs/protocol.md §2)."""
    variants = []
    for chunk in (True, False):
        expected, _decoder, closed = model(pieces, ctx, chunk)
        if (expected, closed) not in variants:
            variants.append((expected, closed))
    return variants


FRAMING_ERRORS = ("parse_error", "message_too_large", "incomplete_message")


def compare_any(variants, actual, reset, multi_read=False):
    """None if actual matches one of the model's variants, else the reason for the first.

    ``multi_read``: the input took several reads. After an error on a message that looks legacy
    the decoder drops its buffer and starts again wherever the next read begins, so the number of
    errors that garbage gets depends on where the reads were cut: then the framing errors may come
    in any number, as long as every other reply is the expected one, in order."""
    reasons = [compare(expected, closed, actual, reset) for expected, closed in variants]
    if None in reasons:
        return None
    if multi_read:
        def answers(replies):
            return [r for r in replies if r[1] not in FRAMING_ERRORS]

        for expected, closed in variants:
            if compare(answers(expected), closed, answers(actual), reset) is None:
                return None
    return reasons[0]


# --------------------------------------------------------------------------------------------
# Replies: parse and check.


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
    """(label, id, problem): label is the error code, 'hello' or 'http'."""
    if framing_ == "http":
        ok = obj.startswith("HTTP/1.1 403 Forbidden\r\n") and "Nothing was run." in obj
        return "http", None, None if ok else f"HTTP answer is not the documented 403: {obj[:200]!r}"
    if not isinstance(obj, dict):
        return "?", None, f"reply is not an object: {obj!r:.200}"
    status = obj.get("status")
    if framing_ == "v1":
        if "id" not in obj:
            return "?", None, f"v1-framed reply without id: {obj!r:.300}"
        if status == "error":
            err = obj.get("error")
            if not isinstance(err, dict) or not isinstance(err.get("message"), str) or obj.get("result") is not None:
                return "?", obj.get("id"), f"malformed v1 error: {obj!r:.300}"
            code = err.get("code")
            if code not in KNOWN_CODES:
                return str(code), obj.get("id"), f"unknown error code {code!r}: {obj!r:.300}"
            return code, obj.get("id"), None
        result = obj.get("result")
        if (status == "success" and isinstance(result, dict) and result.get("protocol_version") == 1
                and result.get("server") == "bld-remote"):
            if result.get("authenticated") is not False or result.get("auth_required") is not True:
                return "hello", obj.get("id"), f"hello to a stranger says it is authenticated: {obj!r:.300}"
            return "hello", obj.get("id"), None
        return "success", obj.get("id"), f"a stranger got a non-error reply: {obj!r:.400}"
    if "id" in obj:
        return "?", None, f"reply with an id but no newline after it: {obj!r:.300}"
    if status != "error":
        return "success", None, f"a stranger got a non-error legacy reply: {obj!r:.400}"
    code = obj.get("code")
    if not isinstance(obj.get("message"), str):
        return "?", None, f"malformed legacy error: {obj!r:.300}"
    if code not in KNOWN_CODES:
        return str(code), None, f"unknown error code {code!r}: {obj!r:.300}"
    return code, None, None


def compare(expected, closed, actual, reset):
    """None if actual (list of (framing, label, id)) is what the model expects, else a reason."""
    exp = list(expected)
    act = list(actual)
    if reset and closed and len(act) == len(exp) - 1:
        exp = exp[:-1]  # the server closed with our bytes unread: its reset may overtake its last reply
    if len(exp) != len(act):
        return f"expected {len(exp)} replies, got {len(act)}"
    for i, (e, a) in enumerate(zip(exp, act)):
        e_framing, e_label, e_id = e
        a_framing, a_label, a_id = a
        if e_framing == "AUTH":
            return f"reply {i}: the model says this would authenticate"
        if e_label != a_label or (e_framing != a_framing and e_framing != "http"):
            return f"reply {i}: expected {e_framing} {e_label}, got {a_framing} {a_label}"
        if e_framing == "v1" and e_id != a_id:
            return f"reply {i}: expected id {e_id!r:.80}, got {a_id!r:.80}"
    return None


ID_LATE = re.compile(rb'"id"')


def check_doc(item, actual):
    """Documented behaviour checked without the model: HTTP prefixes, the size limit."""
    problems = []
    if item.kind != "single":
        return problems
    inp = item.inputs[0]
    data = inp.data
    stripped = data.lstrip(b" \t\r\n")
    labels = [a[1] for a in actual]
    if any(stripped.startswith(m.encode() + b" ") for m in HTTP_METHODS) and item.mode == "shut":
        if labels not in (["http"], []):
            problems.append(f"an HTTP request line got {labels}, not the 403 and a close")
    if "too_large" in inp.doc and item.mode == "shut":
        got = "message_too_large" in labels
        if got != inp.doc["too_large"]:
            problems.append(f"message of {inp.doc['size']} bytes with limit L: message_too_large "
                            f"{'sent' if got else 'not sent'} (over the limit: {inp.doc['too_large']})")
        if got and b"\n" not in data:
            # §2: "the framing is guessed: v1 if the bytes contain "id", else legacy".
            framing_ = [a[0] for a in actual if a[1] == "message_too_large"][0]
            # Only bytes certainly buffered when the limit was crossed (the first L + 1).
            has_id = bool(ID_LATE.search(data[:inp.doc["limit"] + 1]))
            if has_id and framing_ != "v1":
                first_id = data.find(b'"id"')
                problems.append(f"message_too_large for bytes containing \"id\" (first at byte {first_id}) "
                                f"came in {framing_} framing; docs say v1")
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


def pump(sock, data, half_close, deadline, until=None):
    """Send ``data`` and read at the same time (a large reply while we still send must not
    deadlock), optionally half-close, read until EOF, ``until(received)`` or the deadline."""
    ex = Exchange()
    started = time.monotonic()
    sock.setblocking(False)
    view = memoryview(data)
    sel = selectors.DefaultSelector()
    writing = len(view) > 0
    if not writing and half_close:
        sock.shutdown(socket.SHUT_WR)
    sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0))
    try:
        while True:
            if until is not None and until(ex.received):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                ex.hang = True
                break
            for _key, events in sel.select(left):
                if events & selectors.EVENT_WRITE and writing:
                    try:
                        n = sock.send(view[ex.sent:ex.sent + (1 << 18)])
                        ex.sent += n
                    except BlockingIOError:
                        n = 0
                    except OSError as exc:  # the server closed on us (HTTP, legacy too large)
                        ex.error = f"send: {exc.__class__.__name__}"
                        ex.sent = len(view)
                    if ex.sent >= len(view):
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
        ex.elapsed = time.monotonic() - started
    return ex


def hang_limit(ctx, size):
    # The server answers at once; the idle limit is the longest it may legitimately wait, plus
    # time to move the bytes on a busy machine.
    return ctx.idle_timeout + 5.0 + size / 20e6


def sync_line(k):
    return b'{"id":"fuzz-sync-%d","type":"hello"}\n' % k


# --------------------------------------------------------------------------------------------
# Statistics and findings.


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.per_gen = collections.defaultdict(lambda: collections.Counter())
        self.replies = collections.Counter()
        self.modes = collections.Counter()
        self.findings = collections.OrderedDict()  # (kind, signature) -> {"count", "examples"}
        self.notes = collections.Counter()
        self.flaky = []

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

    def reply(self, gen, label):
        with self.lock:
            self.replies[label] += 1
            self.per_gen[gen]["replies"] += 1

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
                           sha256=hashlib.sha256(data).hexdigest(), head=repr(data[:300]))
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

    # One item, once. Returns (actual, problems, exchange, expected).
    def run_once(self, item):
        ctx = self.ctx
        gen = item.gens[0]
        if item.kind == "single":
            sock = self._connect(gen)
            try:
                if item.mode in ("close", "rst"):
                    sock.settimeout(10)
                    try:
                        sock.sendall(item.data)
                    except OSError:
                        pass
                    if item.mode == "rst":  # SO_LINGER 0: the close is a reset
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return [], [], None, None
                ex = pump(sock, item.data, True, time.monotonic() + hang_limit(ctx, len(item.data)))
            finally:
                sock.close()
            expected = expectations([item.data], ctx)
        elif item.kind == "batch":
            sock = self._connect("batch")
            pieces = []
            ex = Exchange()
            try:
                for k, inp in enumerate(item.inputs):
                    data = inp.data if inp.data.endswith(b"\n") else inp.data + b"\n"
                    piece = data + sync_line(k)
                    pieces.append(piece)
                    needle = b'"id":"fuzz-sync-%d"' % k

                    def synced(received, needle=needle):
                        i = received.find(needle)
                        return i >= 0 and received.find(b"\n", i) >= 0

                    part = pump(sock, piece, False, time.monotonic() + hang_limit(ctx, len(piece)), until=synced)
                    ex.received += part.received
                    ex.sent += part.sent
                    if part.hang or part.eof:
                        ex.hang, ex.eof, ex.reset = part.hang, part.eof, part.reset
                        break
                if not ex.eof and not ex.hang:
                    part = pump(sock, b"", True, time.monotonic() + hang_limit(ctx, 0))
                    ex.received += part.received
                    ex.hang, ex.eof, ex.reset = part.hang, part.eof, part.reset
            finally:
                sock.close()
            # After each input's newline the decoder holds nothing: each piece has its own model.
            expected = [expectations([p], ctx) for p in pieces]
        else:
            raise ValueError(item.kind)
        actual, problems = self._check(item, ex)
        return actual, problems, ex, expected

    def _check(self, item, ex):
        gen = item.gens[0]
        replies, problem = parse_replies(bytes(ex.received))
        problems = []
        if problem:
            problems.append(("malformed_reply", problem))
        actual = []
        for framing_, obj in replies:
            label, rid, p = check_reply(framing_, obj)
            actual.append((framing_, label, rid))
            self.stats.reply(gen, label)
            if p:
                problems.append(("bad_reply", p))
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
            actual, problems, ex, expected = self.run_once(item)
        except FuzzerBug:
            raise
        except OSError as exc:
            self.findings.add("connect", "cannot connect to the server", item, f"{exc}")
            return
        if ex is not None and item.kind == "single":
            self.stats.timing(item.gens[0], ex.elapsed, item.ref)
        for kind, reason in problems:
            self.findings.add(kind, item_signature(item, reason), item, reason)
        if expected is None or any(k == "hang" for k, _ in problems):
            return
        for reason in check_doc(item, actual):
            self.findings.add("doc", signature_of(reason), item, reason)
        reason = self.verdict(item, expected, actual, ex)
        if reason is None:
            return
        # A different split of the bytes into reads can change the events: replay first.
        reasons = [reason]
        for _ in range(self.verify_replays):
            actual2, _p, ex2, expected2 = self.run_once(item)
            again = self.verdict(item, expected2, actual2, ex2)
            if again is None:
                self.stats.note("model_mismatch_flaky")
                with self.stats.lock:
                    if len(self.stats.flaky) < 20:
                        self.stats.flaky.append({"ref": item.ref, "reason": reason})
                return
            reasons.append(again)
        first = expected[0][0] if item.kind == "single" else [e for v in expected for e in v[0][0]]
        self.findings.add("reply_mismatch", item_signature(item, reason), item, reason, extra={
            "expected": [list(e) for e in first][:20], "actual": [list(a) for a in actual][:20],
            "received_head": repr(bytes(ex.received[:300])), "replays": reasons,
        })

    @staticmethod
    def verdict(item, expected, actual, ex):
        """None if the replies are what the model expects, else why not."""
        if item.kind == "single":
            if item.inputs[0].doc.get("recursion_edge"):
                return None  # the model's stack is not the server's: near the limit either answer is right
            return compare_any(expected, actual, ex.reset, len(item.data) > SERVER_RECV)
        # A batch: the replies up to each sync hello answer one input.
        segments = [[]]
        for a in actual:
            segments[-1].append(a)
            if a[1] == "hello" and a[2] == f"fuzz-sync-{len(segments) - 1}":
                segments.append([])
        if not segments[-1] and len(segments) > len(expected):
            segments.pop()
        if len(segments) != len(expected):
            return f"{len(segments)} inputs answered, {len(expected)} sent"
        for k, (inp, variants, segment) in enumerate(zip(item.inputs, expected, segments)):
            if inp.doc.get("recursion_edge"):
                continue
            reason = compare_any(variants, segment, ex.reset, len(inp.data) > SERVER_RECV)
            if reason is not None:
                return f"input {k} ({item.gens[k]}): {reason}"
        return None


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
            self.error = f"{type(exc).__name__}: {exc} (item f:{n})"
            self.runner.stop.set()


class Lingerer(threading.Thread):
    """Waiters (send, then wait for the server to give up on a stranger) and slow clients
    (dribble bytes): the server must close them by its auth deadline."""

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
        runner.stats.count_input(gen, len(item.data))
        runner.stats.count(gen, "lingering")
        runner.stats.count_mode(item.mode)
        try:
            sock = runner._connect(gen)
        except OSError as exc:
            runner.findings.add("connect", "cannot connect to the server", item, f"{exc}")
            return
        opened = time.monotonic()
        limit = ctx.auth_timeout + SLACK + len(item.data) / 20e6
        fed = []
        try:
            if item.kind == "wait":
                ex = pump(sock, item.data, False, opened + limit)
                fed.append(item.data)
            else:
                ex = Exchange()
                sock.setblocking(False)
                data = item.data
                i = 0
                next_send = opened
                while time.monotonic() < opened + limit:
                    now = time.monotonic()
                    if i < len(data) and now >= next_send:
                        try:
                            sock.send(data[i:i + 1])
                            ex.sent += 1
                            fed.append(data[i:i + 1])
                        except BlockingIOError:
                            pass
                        except OSError:
                            i = len(data)
                        i += 1
                        next_send = now + item.interval
                    wait = max(0.0, min(next_send - time.monotonic() if i < len(data) else 0.2, 0.2))
                    readable, _, _ = select_read(sock, wait)
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
                ex.elapsed = time.monotonic() - opened
        finally:
            sock.close()
        actual, problems = runner._check(item, ex)
        for kind, reason in problems:
            if kind == "hang":
                reason = (f"a stranger's connection ({item.kind}) was still open {limit:.1f} s after it "
                          f"connected (auth timeout {ctx.auth_timeout:g} s)")
                kind = "auth_deadline"
            runner.findings.add(kind, item_signature(item, reason), item, reason)
        if ex.hang:
            return
        labels = [a[1] for a in actual]
        closed_early = bool(labels) and labels[-1] in ("http",)
        if not closed_early and not ex.reset:
            last = actual[-1] if actual else None
            if last is None or last[1] != "unauthorized" or last[2] is not None:
                if not (last and last[1] == "message_too_large" and last[0] == "legacy"):
                    reason = (f"a stranger's connection ({item.kind}) was closed without the auth-deadline "
                              f"notice: {labels[-5:]}")
                    runner.findings.add("auth_deadline", item_signature(item, reason), item, reason)
        if item.kind == "wait" and not item.inputs[0].doc.get("recursion_edge"):
            reasons = []
            for chunk in (True, False):  # as in expectations()
                expected, decoder, closed = model(fed, ctx, chunk)
                if not closed:
                    optional = None
                    if decoder.has_partial():
                        incomplete = decoder.expire()
                        if ctx.idle_timeout < ctx.auth_timeout - 1.0:
                            expected.append((incomplete.style, incomplete.code, None))
                        elif ctx.idle_timeout < ctx.auth_timeout + 1.0:  # a race: either is right
                            optional = (incomplete.style, incomplete.code, None)
                    expected.append(("v1", "unauthorized", None))
                    if optional is not None and len(actual) == len(expected) + 1:
                        expected.insert(len(expected) - 1, optional)
                reasons.append(compare(expected, closed, actual, ex.reset))
            reason = None if None in reasons else reasons[0]
            if reason is not None:
                runner.findings.add("reply_mismatch", item_signature(item, "wait: " + reason), item, "wait: " + reason,
                                    extra={"expected": [list(e) for e in expected][:20],
                                           "actual": [list(a) for a in actual][:20]})


    def hostile(self, item):
        """Send the prefix, then keep sending (drip or stream) and reading until the server closes.
        It must close by the auth deadline; we give up at the deadline + slack."""
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
        sent = 0
        received = 0
        tail = b""
        eof = reset = False
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
                        sent += n
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
                        eof = reset = True
                        break
                    if not chunk:
                        eof = True
                        break
                    received += len(chunk)
                    tail = (tail + chunk)[-4096:]
        finally:
            window[1] = time.time()
            sock.close()
        runner.stats.count_input(gen, sent)
        runner.stats.count(gen, f"form:{spec['form']}")
        runner.stats.count_mode("hostile")
        held = time.monotonic() - opened
        if not eof:
            reason = (f"a stranger sending {spec['form']} ({gen}) was still connected {held:.1f} s after it "
                      f"connected (auth timeout {ctx.auth_timeout:g} s); {sent / 2 ** 20:.1f} MiB sent")
            runner.findings.add("auth_deadline", signature_of(f"{gen} {spec['form']} still connected"), item, reason,
                                extra={"form": spec["form"], "held_s": round(held, 2),
                                       "then": f"{spec['unit'][:24]!r} x {len(spec['unit'])} bytes every "
                                               f"{spec['interval'] * 1e3:g} ms (0: as fast as taken)"})
            return
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if not reset and b"no valid token presented within" not in last and b"message_too_large" not in last:
            reason = f"a stranger sending {spec['form']} was closed without the auth-deadline notice: {last[-200:]!r}"
            runner.findings.add("auth_deadline", signature_of(reason), item, reason)


def select_read(sock, timeout):
    return select.select([sock], [], [], timeout)


# --------------------------------------------------------------------------------------------
# An authenticated client (monitor), and the probe process.


class Client:
    def __init__(self, port, token, timeout=30.0):
        self.sock = connect(port)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.ids = 0
        if token is not None:
            reply = self.call("hello", token=token)
            if not reply.get("result", {}).get("authenticated"):
                raise RuntimeError(f"authentication failed: {reply}")

    def call(self, type_, token=None, **params):
        self.ids += 1
        message = {"id": self.ids, "type": type_, "params": params}
        if token is not None:
            message["token"] = token
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
        numbers = sorted(int(j.split("-")[1]) for j in self.seen_jobs)
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


def run_fuzz(port, token, limit, idle_timeout, auth_timeout, seed=0, duration=60.0, max_items=None,
             workers=2, waiters=3, slow_clients=3, baseline=5.0, probe_interval=0.05, instance=None,
             save_dir=None, rss_limit_mib=128.0, latency_factor=10.0, latency_floor=0.05, hostile=True,
             hostile_pause=10.0, sentinel_dir=None, exclude=()):
    """Fuzz the server at 127.0.0.1:port for ``duration`` s (or ``max_items`` fuzz items); returns the
    report (see ``problems``)."""
    own_sentinel = sentinel_dir is None
    sentinel_dir = Path(tempfile.mkdtemp(prefix="bld-fuzz-sentinel-")) if own_sentinel else Path(sentinel_dir)
    ctx = Ctx(port, token, limit, idle_timeout, auth_timeout, sentinel_dir)
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
        "settings": {"limit": limit, "idle_timeout": idle_timeout, "auth_timeout": auth_timeout,
                     "workers": workers, "waiters": waiters, "slow_clients": slow_clients,
                     "probe_interval": probe_interval, "rss_limit_mib": rss_limit_mib,
                     "latency_factor": latency_factor, "latency_floor_ms": latency_floor * 1e3,
                     "hostile": hostile, "exclude": sorted(exclude)},
        "duration_s": fuzz_elapsed,
        "total_inputs": total_inputs,
        "bytes_sent": sum(c.get("bytes", 0) for c in per_gen.values()),
        "connections": runner.connections,
        "generators": per_gen,
        "modes": dict(stats.modes),
        "replies": dict(stats.replies.most_common()),
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
    out = [f"seed {report['seed']}, {report['duration_s']:.1f} s, {report['total_inputs']} inputs, "
           f"{report['bytes_sent'] / 2 ** 20:.1f} MiB sent, {report['connections']} connections",
           f"{'generator':<22}{'inputs':>9}{'MiB':>9}{'conns':>8}{'replies':>9}{'answer s':>10}{'slowest':>18}"]
    for gen, c in report["generators"].items():
        slowest = f"{c['answer_s_max']:.2f} {c['slowest']}" if c.get("slowest") else ""
        out.append(f"{gen:<22}{c.get('inputs', 0):>9}{c.get('bytes', 0) / 2 ** 20:>9.1f}"
                   f"{c.get('connections', 0):>8}{c.get('replies', 0):>9}{c.get('answer_s_total', 0):>10.1f}"
                   f"{slowest:>18}")
    out.append("replies: " + ", ".join(f"{k} {v}" for k, v in report["replies"].items()))
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
    out.append(f"threads {report['threads']['before']} -> {report['threads']['after']}; connections after "
               f"{report['connections_after']}; jobs seen {report['jobs_seen']}; notes {report['notes']}")
    if report["findings"]:
        out.append(f"FINDINGS ({len(report['findings'])} kinds):")
        for f in report["findings"]:
            ex = f["examples"][0] if f["examples"] else {}
            out.append(f"  [{f['kind']}] x{f['count']} {f['signature']}")
            out.append(f"      {ex.get('detail')}")
            if ex.get("ref"):
                out.append(f"      ref {ex['ref']} ({', '.join(ex.get('generators', []))}, {ex.get('mode')}), "
                           f"input {ex.get('head', '')[:200]}" + (f", saved {ex['file']}" if ex.get("file") else ""))
    else:
        out.append("no findings")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


SPAWN_ENV = {
    # Strangers get min(max message, max pre-auth message): 1 MiB, the shipped pre-auth limit, so
    # huge strings are about a MB and oversized inputs stay quick. Partial messages expire within
    # the run and strangers are dropped often.
    "BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": str(1 << 20),
    "BLD_REMOTE_MCP_IDLE_TIMEOUT": "2",
    "BLD_REMOTE_MCP_AUTH_TIMEOUT": "5",
}


def spawn_settings(env):
    limit = min(int(env["BLD_REMOTE_MCP_MAX_MESSAGE_BYTES"]),
                int(env.get("BLD_REMOTE_MCP_MAX_PREAUTH_MESSAGE_BYTES", 1 << 20)))
    return {"limit": limit, "idle_timeout": float(env["BLD_REMOTE_MCP_IDLE_TIMEOUT"]),
            "auth_timeout": float(env["BLD_REMOTE_MCP_AUTH_TIMEOUT"])}


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
    parser.add_argument("--port", type=int)
    parser.add_argument("--token", default=os.environ.get("BLD_REMOTE_MCP_TOKEN"))
    parser.add_argument("--limit", type=int, default=1 << 20, help="attached server's pre-auth message limit")
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--auth-timeout", type=float, default=10.0)
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
    if args.show:
        space, n = args.show.split(":")
        ctx = Ctx(args.port or 0, args.token or "x" * 43, args.limit, args.idle_timeout, args.auth_timeout,
                  Path(tempfile.gettempdir()) / "bld-fuzz-sentinel")
        item = make_item(args.seed, space, int(n), ctx)
        print(f"{item.kind} {item.gens} mode={item.mode}")
        for inp in item.inputs:
            print(repr(inp.data[:4000]), f"({len(inp.data)} bytes)")
        return 0

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"fuzz-socket-{stamp}.json"
    save_dir = out.with_suffix("")
    instance = None
    if args.port is None:
        sys.path.insert(0, str(REPO / "tests" / "e2e"))
        from harness import Instance  # noqa: E402 - only needed when we start Blender

        instance = Instance(args.kind, env=SPAWN_ENV)
        port, token = instance.port, instance.token
        settings = spawn_settings(SPAWN_ENV)
        print(f"started {args.kind} Blender pid {instance.pid} on port {port}", flush=True)
    else:
        port, token = args.port, args.token
        settings = {"limit": args.limit, "idle_timeout": args.idle_timeout, "auth_timeout": args.auth_timeout}
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
