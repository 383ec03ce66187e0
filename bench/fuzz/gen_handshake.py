"""Generators of handshake inputs (§1a): client nonce variants, ``authenticate`` with no
challenge, the pre-auth budget, forged proofs, and real proofs inside malformed frames."""

import base64
import hashlib
import hmac
import json

from .gen_messages import padded
from .inputs import Input, MANGLES, b64url, prelude_line, slot
from .jsontext import Obj, Raw, encode, obj_set, obj_without, whitespace
from .mutations import BAD_UTF8
from .protocol import HTTP_METHODS
from .requests import ending, near_miss_tokens, random_nonce, token_value


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
        return Input(encode(obj_without(auth, "id"), rng), doc={"form": form})
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
        data = whitespace(rng, B - len(line) + rng.choice((-2, -1, 0, 1, 2))) + line
    elif form == "hello_then_whitespace":
        line = hello(1)
        data = line + whitespace(rng, B - len(line) + rng.choice((-1, 0, 1, 1000)))
    elif form == "line_at_the_edge":
        # The newline as byte B (answered, then the budget is spent), as byte B + 1 (the object
        # is complete without it and has an id: v1, answered), or the object cut by the budget.
        line = hello(1, rng.random() < 0.5)
        data = whitespace(rng, B + rng.choice((0, 1, 2, 5, 30)) - len(line)) + line
    elif form == "whitespace_only":
        data = whitespace(rng, B + rng.choice((-1, 0, 1, 4096)))
    elif form == "long_ids":
        count = rng.randint(2, 6)
        width = max(1, B // count + rng.randint(-60, 60))
        data = b"".join(b'{"id":"%s","type":"hello"}\n' % (b"x" * width) for _ in range(count))
    elif form == "padding_inside":  # whitespace inside one object: the size limit, or the byte budget
        size = rng.choice((ctx.limit - 1, ctx.limit, ctx.limit + 1, B - 1, B, B + 1))
        data = padded(b'{"id":1,', b'"type":"hello"}', size, b" \t\r\n") + b"\n"
    else:  # messages_then_bytes: the message budget spent, then the byte budget crossed
        data = b"".join(hello(k) for k in range(M)) + whitespace(rng, B) + hello(M)
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
        data = whitespace(rng, max(0, room - inside)) + line
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
        obj_set(obj, "id", rng.choice((Raw("true"), Raw("1.5"), [1], Obj([("a", 1)]), Raw("1e400"), Raw("-0.0"))))
    elif form == "params_not_object":
        obj_set(obj, "params", rng.choice(([proof], proof, Raw("[" + json.dumps(proof) + "]"))))
    elif form == "proof_key":
        key = rng.choice(("client_proof ", "clientProof", "proof", "Client_proof", "client_proof\u0000",
                          "client-proof", "server_proof"))
        obj_set(obj, "params", Obj([(key, proof)]))
    elif form == "proof_wrapped":
        obj_set(params, "client_proof", rng.choice(([proof], Obj([("proof", proof)]), Raw(f'"{proof}\\u0000"'),
                                                 Raw(f'" {proof}"'), Raw(f'"{proof}="'), Raw(f'"{proof}\\n"'))))
    elif form == "dup_proof":  # valid JSON whose last client_proof (the one that counts) is wrong
        params.append(("client_proof", rng.choice((random_nonce(rng), "", None))))
    elif form == "dup_type":
        obj.append(("type", rng.choice(("ping", "execute_code", "hello", "status"))))
    elif form == "type_case":
        obj_set(obj, "type", rng.choice(("Authenticate", "AUTHENTICATE", "authenticate ", "authenticate\u0000",
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
        data = padded(text[:i] + b',"pad":"', b'"' + text[i:], size) + rng.choice((b"\n", b""))
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
