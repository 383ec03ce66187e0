"""Replies: parsed (strict JSON; v1 lines, 1.3.3 objects, the HTTP 403) and checked: well-formed,
documented, and what the model expects."""

import collections
import json

from bld_remote_mcp.wire import handshake

from .model import WHY, why_of
from .protocol import KNOWN_CODES, PREAUTH_HELLO


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
