"""What authentication costs a client, and what strangers cost one (protocol §1a).

* ``connection_setup``: opening a connection, as bld-remote's clients do it (connect, ``hello``
  with a nonce, ``authenticate``), against the same connect plus one plain ``hello`` round trip,
  which is what opening a connection cost before the handshake (one line carrying the token).
* ``preauth_flood``: an authenticated client's trivial-call latency alone, then while stranger
  processes flood the port with what an unauthenticated connection may still send (a full
  pre-auth budget of JSON to parse, or hellos that each cost the server a nonce and an HMAC),
  reconnecting as fast as they are closed.

Figures only; nothing here asserts on them (the tests check that the rows exist)."""

import json
import multiprocessing
import os
import socket
import time

from . import stats
from .wire import TRIVIAL_CODE, connect  # (which puts the shared wire client and the addon in reach)

from bld_remote_mcp.wire import handshake  # noqa: E402  (a stranger's nonces)
from wire_client import Client  # noqa: E402


def _hello_line(request_id, nonce=None):
    params = {"client_nonce": nonce} if nonce else {}
    return json.dumps({"id": request_id, "type": "hello", "params": params}).encode() + b"\n"


def connection_setup(port, token, count=300, warmup=30):
    """Milliseconds to open a connection: with the handshake, and with one plain hello."""
    def authenticated():
        return Client(port, token=token)

    def one_hello():
        client = Client(port)
        client.call("hello", {})
        return client

    rows = {}
    for name, open_one in (("connect + handshake (hello with nonce, authenticate)", authenticated),
                           ("connect + one plain hello (the old setup's round trip)", one_hello)):
        for _ in range(warmup):
            open_one().close()
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            client = open_one()
            samples.append((time.perf_counter() - start) * 1000)
            client.close()
        rows[name] = stats.summarize(samples)
    return rows


def _stranger(port, stop_at, counts, index):
    """Floods until ``stop_at``: each connection spends its pre-auth budget (a JSON line nearly as
    long as the budget, parsed, then more bytes than are left; or five hellos with nonces, one
    more than the message budget), so the server closes it, and the next one starts."""
    junk = b'{"id":1,"type":"hello","padding":"' + b"x" * 3900 + b'"}\n' + b" " * 400
    connections = 0
    while time.time() < stop_at:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if connections % 2:
                sock.sendall(junk)
            else:
                sock.sendall(b"".join(_hello_line(i, handshake.new_nonce()) for i in range(5)))
            while sock.recv(65536):
                pass
            sock.close()
            connections += 1
        except OSError:
            connections += 1
    counts[index] = connections


def preauth_flood(port, token, strangers=2, seconds=5.0, calls=2000):
    """p50/p99 of a trivial call alone, then with ``strangers`` flooding processes."""
    conn = connect("v1", port, token)
    raw = conn.encoded_execute(TRIVIAL_CODE)

    def measure(n, samples):
        for _ in range(n):
            start = time.perf_counter()
            reply = conn.round_trip(raw)
            samples.append((time.perf_counter() - start) * 1000)
            if not conn.succeeded(reply):
                raise RuntimeError(f"unexpected reply: {reply[:300]!r}")
        return samples

    try:
        for _ in range(200):
            conn.round_trip(raw)
        idle = stats.summarize(measure(calls, []))
        counts = multiprocessing.Array("i", strangers)
        stop_at = time.time() + seconds
        workers = [multiprocessing.Process(target=_stranger, args=(port, stop_at, counts, i), daemon=True)
                   for i in range(strangers)]
        for worker in workers:
            worker.start()
        flooded = []
        while time.time() < stop_at - 0.2:
            measure(100, flooded)
        for worker in workers:
            worker.join(seconds + 10)
        under_flood = stats.summarize(flooded)
        return {
            "idle": idle,
            "under_flood": under_flood,
            "stranger_connections": sum(counts),
            "strangers": strangers,
            "seconds": seconds,
            "p50_ratio": round(under_flood["p50_ms"] / idle["p50_ms"], 2) if idle["p50_ms"] else None,
            "cpus": os.cpu_count(),
        }
    finally:
        conn.close()
