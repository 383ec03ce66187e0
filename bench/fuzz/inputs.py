"""Inputs, and the values of an input only known once connected: the server's nonces and the
proofs computed from them (slots), filled in from what a ``Session`` learnt."""

import base64
import hashlib
import hmac
import json

from bld_remote_mcp.wire import handshake


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
