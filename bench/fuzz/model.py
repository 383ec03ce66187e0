"""Reference model of the server's answers to a connection that never authenticates."""

import collections
import random

from bld_remote_mcp.wire import framing, handshake

from .protocol import DEFERRED_PARSE_DELAY, HANDSHAKE_COMMANDS, SERVER_RECV, TOO_CLOSE


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
