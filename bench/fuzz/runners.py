"""Runners: the threads that deliver items (fresh connections, batches, waiters, slow and paced
clients, hostile strangers) and check every reply against the model and the documentation."""

import json
import select
import socket
import threading
import time

from bld_remote_mcp.wire import handshake

from .findings import item_signature, mismatch, signature_of
from .generators import FuzzerBug
from .inputs import MissingChallenge, Session, concrete, fill, prelude_line
from .items import make_item
from .model import authenticating_split, expected_variants, why_of
from .network import Conversation, Exchange, connect, hang_limit, lines_at_least, sync_line
from .protocol import SLACK
from .replies import check_doc, check_reply, compare_any, parse_replies


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
