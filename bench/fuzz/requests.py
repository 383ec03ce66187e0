"""Requests: every command, plausible params, every effect leaving a trace (the sentinel file,
the builtins marker, ``fuzz-`` names)."""

import base64
import os

from bld_remote_mcp.wire import handshake

from .jsontext import Obj, Raw
from .protocol import COMMANDS


def sentinel_code(ctx, tag):
    # No braces (see padded users) and no newline: one line that would leave two traces.
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
    elif command == "reset_blender" and rng.random() < 0.5:
        p.append(("file", os.path.join(ctx.sentinel_dir, f"{tag}.blend")))
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
