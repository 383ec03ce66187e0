"""The generators by name (with the hostile ones, strangers that never stop sending), and
``make_input``, which refuses any input the model says could authenticate: that would be a bug of
the fuzzer (``FuzzerBug``), never a finding."""

from bld_remote_mcp.wire import handshake

from .gen_handshake import (
    g_authenticate_without_challenge, g_budget, g_client_nonce_variants, g_forged_proof,
    g_real_proof_malformed,
)
from .gen_messages import (
    g_control_chars, g_deep_nesting, g_http_prefix, g_huge_string, g_invalid_utf8, g_legacy_garbage,
    g_mutated, g_odd_ids, g_oversized, g_preauth_hello, g_random_bytes, g_token_field,
    g_truncated_disconnect, g_unknown_command, g_wrong_types,
)
from .inputs import Input, Session, concrete, fill, prelude_line, stand_in_nonce
from .model import authenticating_split


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
