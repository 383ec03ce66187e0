#!/usr/bin/env python3
"""Soak test of the addon (not a benchmark of speed): many clients, a mixed load, for minutes.

N concurrent clients (one thread and one TCP connection each) issue a weighted mix of calls
against a real Blender for a while, and every reply is checked against the request it answers:

* ``fast``    ``execute_code`` of ``n = <unique>`` then ``(me, n * 2)``: the result proves the reply
              is this request's, run in this connection's namespace (``me`` names the client);
* ``print``   a 1 MB ``print``: ``output.stdout`` must be exactly this request's line;
* ``error``   ``raise ValueError("tag-<n>")``: status ``error`` carrying this request's tag;
* ``timeout`` an endless loop with a 0.2 s ``timeout``: status ``timeout`` (interrupted, with this
              request's partial output, or withdrawn unstarted with ``busy`` when the queue ahead
              was longer than 0.2 s: both are valid answers, counted apart);
* ``async``   ``execution_mode: async`` then ``get_job`` (with ``wait``) until finished: the
              envelope's result is checked like ``fast``.

``queue_full`` (more than 64 jobs pending, possible with more than 64 clients) is a valid answer to
any kind, counted apart.

Every request has a unique id. A reply with another id is a duplicate (an id this connection
already got an answer for) or misrouted (any other id); a reply with the right id but the wrong
content is misrouted too; no reply within the per-call timeout is lost. Another connection samples
Blender's RSS (``status``) every 2 s. At the end the server must be drained (no job queued or
running). Exit status 1 when anything was lost, duplicated, misrouted or unexpected, the server
did not drain, or RSS grew by more than ``--rss-limit-mib`` after the warm-up.

Prints a table and writes JSON to bench/results/soak-<timestamp>.json (or --out).
Run: .venv/bin/python bench/soak.py [--clients 50] [--duration 120] [--kind bg|bpy5]
tests/e2e/test_soak.py runs the same code, shorter, as a test.
"""

import argparse
import itertools
import json
import os
import platform
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
from wire_client import Client, ConnectionClosed, ReplyMismatch  # noqa: E402

KINDS = ("fast", "print", "error", "timeout", "async")
# The server runs every job on Blender's one main thread: a timeout call holds it for its whole
# timeout and a 1 MB print costs tens of ms, so their weights stay low or they would be the load.
DEFAULT_WEIGHTS = {"fast": 81, "print": 3, "error": 5, "timeout": 1, "async": 10}
TIMEOUT_PARAM = 0.2  # seconds: the `timeout` given to the endless loop
PRINT_CHARS = 1_000_000
ASYNC_WAIT = 5.0  # `wait` of each get_job poll (the server holds the poll until the job ends)

# Outcomes besides "ok" that are correct answers: queue_full (any kind), never_started and stuck
# (timeout), pruned (async). The others (lost, misrouted, unexpected) are also counted as failures.
FAILURES = ("lost", "duplicated", "misrouted", "unexpected", "connection_error")


class Lost(Exception):
    """No reply within the per-call timeout (or the connection broke): the call is lost."""


class Worker(threading.Thread):
    """One client: its own connection, its own random mix, its own counters (merged at the end)."""

    def __init__(self, index, port, token, weights, seed, start_gate, stop_at, call_timeout, ids):
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index = index
        self.port = port
        self.token = token
        self.kinds = list(weights)
        self.weights = [weights[k] for k in self.kinds]
        self.rng = random.Random(f"{seed}-{index}")
        self.start_gate = start_gate  # set once every client is connected: the load starts at once
        self.stop_at = stop_at  # list of one monotonic deadline, set when the gate opens
        self.call_timeout = call_timeout
        self.ids = ids  # shared itertools.count: ids and `n` values unique across all clients
        self.me = f"client-{index}"
        self.client = None  # its connection (the shared wire client)
        self.answered = set()  # ids this connection got a reply for (to recognise duplicates)
        self.latencies = {kind: [] for kind in KINDS}
        self.outcomes = {kind: {} for kind in KINDS}
        self.failures = {name: 0 for name in FAILURES}
        self.examples = []  # a few failing replies, for the report
        self.requests = 0  # every request sent, polls and handshakes included
        self.pending_id = None  # the request whose reply is awaited (named when it is lost)
        self.async_polls = 0
        self.reconnects = 0
        self.setup_error = None
        self.ready = threading.Event()  # connected (or failed to)
        self.finished_at = None

    # -- connection ------------------------------------------------------------------------
    def connect(self):
        self.close()
        self.answered = set()
        # With a token the client authenticates (hello, authenticate) before it returns.
        self.client = Client(self.port, token=self.token or None, timeout=self.call_timeout,
                             connect_timeout=self.call_timeout)
        if self.token:
            self.requests += 2
        else:
            self.call("hello", {})
        # `me` lives in this connection's namespace: fast and async results echo it, which shows
        # the code ran in the namespace of the connection that sent it.
        reply = self.call("execute_code", {"code": f"me = {self.me!r}\nme"})
        if reply.get("result") != self.me:
            raise ConnectionError(f"could not set up the namespace: {str(reply)[:200]}")

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def _read_line(self, deadline):
        try:
            return self.client.read_raw_line(deadline=deadline)
        except socket.timeout:
            raise Lost("no reply within the per-call timeout") from None
        except ConnectionClosed:
            raise Lost("connection closed by the server") from None
        except OSError as exc:
            raise Lost(f"connection error: {exc}") from exc

    def call(self, type_, params, kind=None):
        """Send one request with a fresh unique id; return the reply that carries that id.

        Lines with other ids that arrive first are counted: duplicates (an id answered before on
        this connection), unexpected (id null: the server could not read a request) or misrouted
        (any other id).
        """
        request_id = f"c{self.index}-{next(self.ids)}"
        deadline = time.monotonic() + self.call_timeout
        try:
            self.client.request(type_, params, request_id=request_id)
        except OSError as exc:
            raise Lost(f"send failed: {exc}") from exc
        self.requests += 1
        self.pending_id = request_id
        while True:
            line = self._read_line(deadline)
            try:
                reply = json.loads(line)
            except ValueError:
                self.fail("unexpected", kind, request_id, f"not JSON: {line[:200]!r}")
                continue
            reply_id = reply.get("id") if isinstance(reply, dict) else None
            if reply_id == request_id:
                self.answered.add(request_id)
                return reply
            if reply_id is None:  # the server could not read a request (parse_error, invalid_request)
                self.fail("unexpected", kind, request_id, reply)
            elif reply_id in self.answered:
                self.fail("duplicated", kind, request_id, reply)
            else:
                self.fail("misrouted", kind, request_id, reply)

    def fail(self, what, kind, request_id, detail):
        self.failures[what] += 1
        if len(self.examples) < 10:
            text = detail if isinstance(detail, str) else json.dumps(detail)
            self.examples.append({"failure": what, "kind": kind, "request_id": request_id, "detail": text[:400]})

    def outcome(self, kind, name, latency=None):
        self.outcomes[kind][name] = self.outcomes[kind].get(name, 0) + 1
        if latency is not None:
            self.latencies[kind].append(latency)

    # -- the calls -------------------------------------------------------------------------
    def fresh_n(self):
        return next(self.ids)

    def execute(self, kind, params):
        """One execute_code call: (reply, latency), or None when refused with queue_full.

        More than 64 clients can have more than 64 jobs pending: the refusal is a valid answer.
        """
        t0 = time.perf_counter()
        reply = self.call("execute_code", params, kind=kind)
        latency = time.perf_counter() - t0
        if reply.get("status") == "error" and (reply.get("error") or {}).get("code") == "queue_full":
            self.outcome(kind, "queue_full")
            # Back off as a real client would: retrying at once only spins, and the spinning
            # threads take the CPU from Blender's main thread, which is what would free a slot.
            time.sleep(self.rng.uniform(0.01, 0.05))
            return None
        return reply, latency

    def do_fast(self):
        n = self.fresh_n()
        answer = self.execute("fast", {"code": f"n = {n}\n(me, n * 2)"})
        if answer is None:
            return
        reply, latency = answer
        if reply.get("status") != "success":
            return self.unexpected("fast", reply, latency)
        if reply.get("result") != [self.me, n * 2]:
            return self.misrouted("fast", reply, latency)
        self.outcome("fast", "ok", latency)

    def do_print(self):
        n = self.fresh_n()
        answer = self.execute("print", {"code": f"n = {n}\nprint(str(n) + 'x' * {PRINT_CHARS})"})
        if answer is None:
            return
        reply, latency = answer
        if reply.get("status") != "success":
            return self.unexpected("print", reply, latency)
        stdout = (reply.get("output") or {}).get("stdout") or ""
        head = f"{n}x"
        if len(stdout) != len(str(n)) + PRINT_CHARS + 1 or not stdout.startswith(head) or not stdout.endswith("x\n"):
            return self.misrouted("print", {**reply, "output": {"stdout": stdout[:80], "length": len(stdout)}}, latency)
        self.outcome("print", "ok", latency)

    def do_error(self):
        n = self.fresh_n()
        answer = self.execute("error", {"code": f"raise ValueError('tag-{n}')"})
        if answer is None:
            return
        reply, latency = answer
        error = reply.get("error") or {}
        if (reply.get("status"), error.get("code"), error.get("type")) != ("error", "execution_error", "ValueError"):
            return self.unexpected("error", reply, latency)
        if error.get("message") != f"tag-{n}":
            return self.misrouted("error", reply, latency)
        self.outcome("error", "ok", latency)

    def do_timeout(self):
        n = self.fresh_n()
        answer = self.execute("timeout", {"code": f"print('tag-{n}')\nwhile True:\n    pass", "timeout": TIMEOUT_PARAM})
        if answer is None:
            return
        reply, latency = answer
        error = reply.get("error") or {}
        if reply.get("status") != "timeout":
            return self.unexpected("timeout", reply, latency)
        if error.get("code") == "busy":
            # Withdrawn: the main thread was busy with the queue ahead for longer than 0.2 s.
            return self.outcome("timeout", "never_started", latency)
        if error.get("code") != "timeout":
            return self.unexpected("timeout", reply, latency)
        if (reply.get("output") or {}).get("stdout") != f"tag-{n}\n":
            return self.misrouted("timeout", reply, latency)
        # `stuck` would mean the interrupt did not stop a pure-Python loop within the grace period.
        self.outcome("timeout", "stuck" if error.get("stuck") else "ok", latency)

    def do_async(self):
        n = self.fresh_n()
        t0 = time.perf_counter()
        answer = self.execute("async", {"code": f"n = {n}\n(me, n * 3)", "execution_mode": "async"})
        if answer is None:
            return
        reply, _submitted = answer
        job_id = (reply.get("result") or {}).get("job_id") if reply.get("status") == "success" else None
        if not isinstance(job_id, str):
            return self.unexpected("async", reply, time.perf_counter() - t0)
        deadline = time.monotonic() + self.call_timeout
        while True:
            view = self.call("get_job", {"job_id": job_id, "wait": ASYNC_WAIT}, kind="async")
            self.async_polls += 1
            if view.get("status") == "error" and (view.get("error") or {}).get("code") == "not_found":
                # Finished and dropped (at most 256 finished jobs are kept) before this poll came.
                return self.outcome("async", "pruned")
            result = view.get("result") or {}
            if view.get("status") != "success":
                return self.unexpected("async", view, time.perf_counter() - t0)
            if result.get("job_id") != job_id:
                return self.misrouted("async", view, time.perf_counter() - t0)
            if result.get("state") == "finished":
                break
            if time.monotonic() > deadline:
                raise Lost(f"{job_id} did not finish within the per-call timeout")
        latency = time.perf_counter() - t0
        envelope = result.get("envelope") or {}
        if envelope.get("status") != "success":
            return self.unexpected("async", view, latency)
        if envelope.get("result") != [self.me, n * 3] or (envelope.get("metadata") or {}).get("job_id") != job_id:
            return self.misrouted("async", view, latency)
        self.outcome("async", "ok", latency)

    def unexpected(self, kind, reply, latency):
        self.outcome(kind, "unexpected", latency)
        self.fail("unexpected", kind, reply.get("id"), reply)

    def misrouted(self, kind, reply, latency):
        self.outcome(kind, "misrouted", latency)
        self.fail("misrouted", kind, reply.get("id"), reply)

    # -- the loop --------------------------------------------------------------------------
    def run(self):
        try:
            self.connect()
        except (OSError, Lost, ReplyMismatch) as exc:
            self.setup_error = f"{type(exc).__name__}: {exc}"
            self.close()
            return
        finally:
            self.ready.set()
        self.start_gate.wait()
        # The first call of each client goes round the kinds, so that even a short run exercises
        # every kind (10 times each with 50 clients); the rest follow the weights.
        weighted = [kind for kind, weight in zip(self.kinds, self.weights) if weight > 0]
        first = weighted[self.index % len(weighted)]
        kinds = itertools.chain([first], iter(lambda: self.rng.choices(self.kinds, self.weights)[0], None))
        for kind in kinds:
            if time.monotonic() >= self.stop_at[0]:
                break
            try:
                getattr(self, f"do_{kind}")()
            except Lost as exc:
                self.outcome(kind, "lost")
                self.fail("lost", kind, self.pending_id, str(exc))
                if not self.reconnect():
                    break
            except Exception as exc:  # a reply of an unforeseen shape: report it, keep going
                self.outcome(kind, "unexpected")
                self.fail("unexpected", kind, None, f"{type(exc).__name__}: {exc}")
                if not self.reconnect():
                    break
        self.finished_at = time.monotonic()
        # A last ping: a duplicated reply to the last call would arrive before it.
        try:
            if self.client is not None:
                self.call("ping", {}, kind="final ping")
        except Lost as exc:
            self.fail("lost", "final ping", self.pending_id, str(exc))
        self.close()

    def reconnect(self):
        # A lost reply leaves the connection in an unknown state: start a new one.
        self.reconnects += 1
        try:
            self.connect()
            return True
        except (OSError, Lost, ReplyMismatch) as exc:
            self.fail("connection_error", None, None, f"reconnect failed: {exc}")
            self.close()
            return False


class RssSampler(threading.Thread):
    """Samples ``status`` (RSS, queue) every ``interval`` s on its own connection."""

    def __init__(self, port, token, interval, t0):
        super().__init__(name="soak-rss", daemon=True)
        self.port = port
        self.token = token
        self.interval = interval
        self.t0 = t0
        self.samples = []
        self.error = None
        self.stop_event = threading.Event()
        self.client = Client(port, token=token or None, timeout=30)

    def sample(self):
        status = self.client.call("status")["result"]
        entry = {
            "t": round(time.monotonic() - self.t0, 2),
            "rss_bytes": status.get("rss_bytes"),
            "queue_length": status.get("queue_length"),
            "jobs": status.get("jobs"),
            "connections": status.get("connections"),
        }
        self.samples.append(entry)
        return status

    def run(self):
        try:
            while not self.stop_event.wait(self.interval):
                self.sample()
        except (OSError, ValueError, KeyError, ReplyMismatch) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self):
        self.stop_event.set()
        self.join()
        self.client.close()


def percentiles(seconds):
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def pick(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1] * 1000, 2)}


def _slope_mib_per_min(points):
    """Least-squares slope of (seconds, bytes) points, in MiB per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (r - mean_r) for t, r in points)
    return round(cov / var * 60 / 2**20, 3)


def _rss_report(samples, warmup):
    points = [(s["t"], s["rss_bytes"]) for s in samples if s.get("rss_bytes") is not None]
    if not points:
        return {"available": False}
    after = [p for p in points if p[0] >= warmup] or points[-1:]
    mib = lambda b: round(b / 2**20, 1)  # noqa: E731
    # One sample swings by ±10 MiB under load (1 MB prints come and go): compare the medians of
    # the first and the last few samples after the warm-up, not two single samples.
    k = max(1, min(5, len(after) // 2))
    start, end = statistics.median(r for _, r in after[:k]), statistics.median(r for _, r in after[-k:])
    return {
        "available": True,
        "samples": len(points),
        "first_mib": mib(points[0][1]),
        "last_mib": mib(points[-1][1]),
        "max_mib": mib(max(r for _, r in points)),
        "warmup_s": warmup,
        "baseline_mib": mib(start),
        "end_mib": mib(end),
        "growth_after_warmup_mib": mib(end - start),
        "slope_mib_per_min": _slope_mib_per_min(after),
        "slope_whole_run_mib_per_min": _slope_mib_per_min(points),
    }


def run_soak(port, token, clients=50, duration=120.0, seed=0, weights=None, call_timeout=60.0,
             rss_interval=2.0, warmup=None, progress=None):
    """Run the mixed load against a serving Blender and return the report (a JSON-able dict).

    ``warmup``: seconds after which RSS growth is measured (default: 20% of the run, ≤ 30 s).
    ``progress``: optional callable(str) for a line now and then.
    """
    weights = dict(weights or DEFAULT_WEIGHTS)
    warmup = min(30.0, duration * 0.2) if warmup is None else warmup
    ids = itertools.count(1)
    gate = threading.Event()
    stop_at = [float("inf")]
    workers = [Worker(i, port, token, weights, seed, gate, stop_at, call_timeout, ids) for i in range(clients)]
    control = Client(port, token=token or None, timeout=30)
    server = control.call("hello")["result"]
    for worker in workers:
        worker.start()
    for worker in workers:  # every client connected and authenticated (or failed to)
        worker.ready.wait(call_timeout * 3)
    t0 = time.monotonic()
    sampler = RssSampler(port, token, rss_interval, t0)
    sampler.sample()  # the first sample: before any load
    stop_at[0] = t0 + duration
    gate.set()
    sampler.start()
    if progress:
        progress(f"{clients} clients connected; running for {duration:g} s")
    next_note = t0 + 30
    while any(w.is_alive() for w in workers):
        time.sleep(0.2)
        if progress and time.monotonic() >= next_note and sampler.samples:
            last = sampler.samples[-1]
            done = sum(sum(w.outcomes[k].values()) for w in workers for k in KINDS)
            rss = f"{last['rss_bytes'] / 2**20:.0f}MiB" if last["rss_bytes"] is not None else "?"
            progress(f"t={last['t']:.0f}s calls={done} rss={rss} queue={last['queue_length']}")
            next_note += 30
    for worker in workers:
        worker.join()
    load_end = max((w.finished_at for w in workers if w.finished_at), default=time.monotonic())
    elapsed = load_end - t0
    sampler.stop()
    # After the load: every job must end and every client connection must be gone.
    drain_deadline = time.monotonic() + 15
    try:
        while True:
            status = control.call("status")["result"]
            drained = status["jobs"]["queued"] == 0 and status["jobs"]["running"] == 0 and status["connections"] <= 1
            if drained or time.monotonic() > drain_deadline:
                break
            time.sleep(0.1)
        after_load = {"drained": drained, "jobs": status["jobs"], "connections": status["connections"],
                      "queue_length": status["queue_length"], "rss_bytes": status.get("rss_bytes")}
    except (OSError, ValueError, ReplyMismatch) as exc:  # Blender died or closed the control connection
        after_load = {"drained": False, "error": f"{type(exc).__name__}: {exc}"}
    control.close()

    kinds = {}
    for kind in KINDS:
        outcomes = {}
        for worker in workers:
            for name, count in worker.outcomes[kind].items():
                outcomes[name] = outcomes.get(name, 0) + count
        latencies = [s for w in workers for s in w.latencies[kind]]
        kinds[kind] = {"calls": sum(outcomes.values()), "outcomes": outcomes, "latency": percentiles(latencies)}
    failures = {name: sum(w.failures[name] for w in workers) for name in FAILURES}
    calls = sum(k["calls"] for k in kinds.values())
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server": {k: server.get(k) for k in ("blender_version", "addon_version", "mode", "pid")},
        "config": {"clients": clients, "duration_s": duration, "seed": seed, "weights": weights,
                   "call_timeout_s": call_timeout, "timeout_param_s": TIMEOUT_PARAM, "print_chars": PRINT_CHARS,
                   "rss_interval_s": rss_interval},
        "elapsed_s": round(elapsed, 2),
        "calls": calls,
        "calls_per_s": round(calls / elapsed, 1) if elapsed > 0 else None,
        "requests": sum(w.requests for w in workers),
        "requests_per_s": round(sum(w.requests for w in workers) / elapsed, 1) if elapsed > 0 else None,
        "async_polls": sum(w.async_polls for w in workers),
        "reconnects": sum(w.reconnects for w in workers),
        "kinds": kinds,
        "failures": failures,
        "setup_errors": [w.setup_error for w in workers if w.setup_error],
        "examples": [e for w in workers for e in w.examples][:30],
        "rss": _rss_report(sampler.samples, warmup),
        "rss_samples": sampler.samples,
        "sampler_error": sampler.error,
        "after_load": after_load,
    }


def problems(report, rss_limit_mib=64.0):
    """What went wrong, as sentences (empty: the soak passed)."""
    found = []
    for name, count in report["failures"].items():
        if count:
            found.append(f"{count} {name} repl{'y' if count == 1 else 'ies'}" if name != "connection_error"
                         else f"{count} connection errors")
    if report["setup_errors"]:
        found.append(f"{len(report['setup_errors'])} clients could not connect: {report['setup_errors'][0]}")
    if report["sampler_error"]:
        found.append(f"RSS sampler failed: {report['sampler_error']}")
    if not report["after_load"]["drained"]:
        found.append(f"server not drained after the load: {report['after_load']}")
    if report.get("blender_alive_after") is False:
        found.append("Blender exited during the soak")
    rss = report["rss"]
    if rss.get("available") and rss["growth_after_warmup_mib"] > rss_limit_mib:
        found.append(f"RSS grew {rss['growth_after_warmup_mib']} MiB after the warm-up (limit {rss_limit_mib} MiB)")
    return found


def summary(report):
    """The report as a printable table."""
    lines = []
    server = report["server"]
    cfg = report["config"]
    lines.append(f"bld-remote soak — Blender {server.get('blender_version')} ({server.get('mode')}) — "
                 f"{cfg['clients']} clients, {report['elapsed_s']} s, seed {cfg['seed']} — {report['date']}")
    header = f"{'kind':<8} {'calls':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}  outcomes"
    lines.append(header)
    lines.append("-" * len(header))
    for kind, data in report["kinds"].items():
        lat = data["latency"]
        cell = lambda key: f"{lat[key]:>9.1f}" if key in lat else f"{'-':>9}"  # noqa: E731
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(data["outcomes"].items()))
        lines.append(f"{kind:<8} {data['calls']:>7} {cell('p50_ms')} {cell('p95_ms')} {cell('p99_ms')} "
                     f"{cell('max_ms')}  {outcomes}")
    lines.append(f"throughput: {report['calls_per_s']} calls/s ({report['calls']} calls); "
                 f"{report['requests_per_s']} requests/s counting {report['async_polls']} get_job polls "
                 "and the handshakes")
    failures = report["failures"]
    lines.append("failures: " + ", ".join(f"{k} {v}" for k, v in failures.items())
                 + f"; reconnects {report['reconnects']}")
    rss = report["rss"]
    if rss.get("available"):
        lines.append(f"RSS: first {rss['first_mib']} MiB, last {rss['last_mib']} MiB, max {rss['max_mib']} MiB "
                     f"({rss['samples']} samples); after {rss['warmup_s']:g} s warm-up: baseline "
                     f"{rss['baseline_mib']} MiB, end {rss['end_mib']} MiB (medians), "
                     f"growth {rss['growth_after_warmup_mib']} MiB, "
                     f"slope {rss['slope_mib_per_min']} MiB/min (whole run {rss['slope_whole_run_mib_per_min']})")
    after = report["after_load"]
    lines.append("after the load: " + ", ".join(f"{k} {v}" for k, v in after.items() if k != "rss_bytes"))
    for example in report["examples"][:5]:
        lines.append(f"  example {example['failure']} ({example['kind']}, {example['request_id']}): "
                     f"{example['detail'][:200]}")
    return "\n".join(lines)


def _weights(text):
    weights = dict.fromkeys(KINDS, 0)
    for part in text.split(","):
        kind, _, value = part.partition("=")
        if kind.strip() not in weights:
            raise argparse.ArgumentTypeError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        weights[kind.strip()] = float(value)
    if not any(weights.values()):
        raise argparse.ArgumentTypeError("every weight is 0")
    return weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--kind", choices=("bg", "bpy5"), default="bg", help="Blender to start (harness)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=_weights, default=None,
                        help="mix, e.g. fast=81,print=3,error=5,timeout=1,async=10 (unnamed kinds: 0)")
    parser.add_argument("--port", type=int, default=None, help="use a running Blender instead of starting one")
    parser.add_argument("--token", default=None, help="its token (default: $BLD_REMOTE_MCP_TOKEN; none: auth off)")
    parser.add_argument("--call-timeout", type=float, default=60.0,
                        help="seconds a call may wait for its reply before it counts as lost")
    parser.add_argument("--rss-limit-mib", type=float, default=64.0, help="allowed RSS growth after the warm-up")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default: 20%% of the run, at most 30)")
    parser.add_argument("--out", default=None, help="JSON report path (default: bench/results/soak-<time>.json)")
    args = parser.parse_args()

    instance = None
    if args.port is None:
        os.environ.pop("BLD_COVERAGE", None)  # soak the product, not the tracer
        sys.path.insert(0, str(REPO / "tests" / "e2e"))
        from harness import Instance  # noqa: E402

        instance = Instance(args.kind)
        port, token = instance.port, instance.token
    else:
        port, token = args.port, args.token or os.environ.get("BLD_REMOTE_MCP_TOKEN")
    try:
        report = run_soak(port, token, clients=args.clients, duration=args.duration, seed=args.seed,
                          weights=args.weights, call_timeout=args.call_timeout, warmup=args.warmup,
                          progress=lambda text: print(text, flush=True))
        report["kind"] = args.kind if instance is not None else "external"
        if instance is not None:
            report["blender_alive_after"] = instance.alive()
    finally:
        if instance is not None:
            instance.stop()
    found = problems(report, args.rss_limit_mib)
    report["problems"] = found
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(summary(report))
    print("PASS" if not found else "FAIL:\n  " + "\n  ".join(found))
    print(f"results written to {out}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
