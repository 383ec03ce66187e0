"""Socket fuzzer against a live addon: hostile bytes on the port, an oracle checked all along.

Fuzz connections never authenticate (protocol 2, docs/protocol.md §1a). Everything they send is a
stranger's: garbage, requests for every command, protocol 1 requests carrying a ``token`` (the
real one included: protocol 2 refuses the field whatever it holds), handshakes with forged,
replayed, reflected or wrongly bound proofs (``forged_proof``), ``authenticate`` with no
challenge, malformed client nonces, and inputs that spend the pre-auth budget. A fuzz connection
may hold a *valid* client proof (it sends a real ``hello`` first and computes the proof for the
server's nonce), but only inside a frame that is malformed by construction
(``real_proof_malformed``: 1.3.3 framing, a ``token`` key beside it, a bad id, a truncated,
oversized or invalid line, junk first...; see ``g_real_proof_malformed``). It never sends a
well-formed ``authenticate`` with a valid proof: every input built from the server's nonces is
checked against the reference model (``model``), for many ways of splitting it into reads, when
it is made (with stand-in nonces) and again with the real nonces just before it is sent.

So docs/protocol.md says that no fuzz input may ever run anything, and every command whose effect
is visible carries a trace: code sets ``builtins.__fuzz_executed__`` and appends to a sentinel
file, ``session``/``key`` params are named ``fuzz-…``, screenshot paths point into the sentinel
dir, and ``shutdown`` would end Blender.

Oracle, checked while the fuzzer runs (each violation is a finding, printed with a reproduction):

* **Nothing executes.** A monitor connection (authenticated) checks every 2 s that the builtins
  marker is unset, no persist key or named session starts with ``fuzz``, the sentinel dir is
  empty, and that every job ``list_jobs`` shows was created by the probe or the monitor (by its
  ``code_preview``), with no gap in the job ids: a fuzz input cannot even *queue* a job.
* **Blender never crashes**: the process stays alive (when the fuzzer started it) and
  ``status`` answers every second.
* **Other clients keep their latency**: a probe in a separate process (so that the fuzzer's own
  CPU use does not count) runs ``execute_code 1 + 1`` on its own authenticated connection every
  50 ms, first alone (baseline), then during the fuzzing. No probe call may fail, and
  p99 during <= max(latency_factor x p99 baseline, latency_floor) (10x and 50 ms by default),
  checked apart for the calls that overlap a hostile stranger (below) and for the others.
* **Memory stays bounded**: ``rss_bytes`` from ``status`` every second; max - first <= the
  limit (128 MiB by default). Threads and connections return to their level at the end.
* **Every reply is well-formed**: strict UTF-8 JSON; a v1 error line or a 1.3.3 error object
  whose ``code`` is one of docs/protocol.md §3; the pre-auth ``hello`` with exactly the fields of
  §1a (nothing about the Blender); a challenge whose ``server_proof`` is right for the client
  nonce sent and whose server nonce was never handed out before; or the exact ``HTTP/1.1 403``.
  A connection where the server neither answers nor closes in time is a hang.
* **Every reply is the right one.** ``StrangerModel`` is a reference model of a connection that
  never authenticates: the addon's own pure decoder (``framing.py``, strict, as on every
  connection not yet vetted) for message boundaries, and docs/protocol.md §1a for the rest: the
  byte and message budgets and the auth deadline (each an ``unauthorized`` with ``id`` null that
  names the limit, then the close), the gate (a ``token`` key, a 1.3.3 message, a command other
  than ``hello``/``authenticate``: ``unauthorized``, close), ``hello`` (the plain answer, a
  challenge, or ``invalid_params`` for a malformed nonce), ``authenticate`` (no challenge or a
  wrong proof: ``unauthorized``, close), strict framing (any framing error closes after its reply;
  a first byte that is a letter gets the 403). The message of each ``unauthorized`` must say why
  (``WHY``). The server's timers (a deferred 1.3.3 parse after a 20 ms pause, the idle limit,
  the auth deadline) are simulated against the times the bytes were sent; where a send and a
  timer are too close to call, both orders are allowed. A mismatch is replayed twice and is a
  finding only if it reproduces. The model covers the server around the decoder (server loop,
  dispatch, auth, reply encoding, connection life); the decoder itself is checked against the
  documentation directly (``check_doc``: a letter first gets the 403, any other first byte a
  ``parse_error``, a message over the limit ``message_too_large``, in v1 framing when its bytes
  contain ``"id"``).
* **Strangers cannot hold a connection**: connections that stay open (waiters, slow clients
  feeding one byte a second or just under the idle limit, hostile strangers that never stop
  sending) are closed by the budgets or at the auth deadline (+ slack), as the model says.

Delivery: most inputs on a fresh connection (an interactive ``hello`` first when the input needs
the server's nonce; then send, half-close, read until the server closes; sometimes close or reset
at once instead), some several on one connection (each followed by a newline and a plain ``hello``
as a sync marker: the budgets make these short), a few waiter threads that send and wait for the
server to give up on them, slow clients feeding one byte at a time or a few pieces with pauses
(cut mostly just after a ``}``, where the decoder puts a parse off until the pause; a plain hello
last shows whether a connection that should be closed is), and one thread of hostile strangers
that never stop sending, with pauses in between: ``cpu_drip`` (a message kept just under the
limit, then a byte every few ms) and ``byte_stream`` (whitespace, CRLF, non-JSON lines or plain
hellos as fast as the server takes them). Before authenticating, both are cut off by the byte or
message budget within the first 4 KiB.

Report: inputs per generator, bytes sent, connections, how long the server took over them,
replies by code and ``unauthorized`` by reason, probe latency (baseline; during, with and without
a hostile stranger), RSS, findings with reproductions (the exact input is saved next to the JSON:
resend it with ``--send FILE --port P``, or ``--show REF --seed N`` prints the input of item REF;
inputs that need the server's nonce are saved as templates, with the interactive ``hello`` first).
Printed, and written to bench/results/fuzz-socket-<timestamp>.json.

Run: .venv/bin/python bench/fuzz_socket.py --duration 300 --seed 1 [--kind bg|bpy5]
     (starts its own Blender with small limits, SPAWN_ENV), or attach with --port P --token T (and
     tell it that server's limits: --max-message-bytes, --preauth-bytes, --preauth-messages,
     --idle-timeout, --auth-timeout; the job accounting then assumes nobody else uses that
     Blender). Exit status 1 on any finding. tests/e2e/test_fuzz_socket.py runs the same code,
     shorter, as a test.

Layout, one module per job, each importing only from those above it:

* ``protocol``: what the fuzzer knows of the server (error codes, commands, the pre-auth hello,
  its reads and timers) and ``Ctx``, the run's address, token, limits and sentinels;
* ``jsontext``: JSON text with control over every byte; ``requests``: plausible requests for
  every command, each effect leaving a trace; ``mutations``: mutations of JSON text;
* ``inputs``: an input, and the values only known once connected (slots: nonces, proofs);
* ``model``: the reference model of a connection that never authenticates (``StrangerModel``);
* ``gen_messages`` (garbage, framing, requests) and ``gen_handshake`` (nonces, proofs, budgets):
  the generators; ``generators``: their table, the hostile ones, and ``make_input``, which checks
  with the model that no input could authenticate;
* ``items``: what one fuzz step does (single, batch, wait, slow, paced, hostile);
* ``replies``: replies parsed and checked (well-formed, documented, as the model says);
* ``network``: the connection driver (send while reading, half-close, hangs);
* ``findings``: statistics and findings (their inputs saved for a resend);
* ``runners``: the threads that deliver items and check what comes back;
* ``watchers``: the probe (latency, from a child process) and the monitor (traces, RSS, jobs);
* ``run``: one fuzzing run (``run_fuzz``) and its report; ``report``: ``problems`` and ``summary``;
* ``cli``: the command line, which bench/fuzz_socket.py runs.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The command line, run by path (the probe is a child process started through it too).
SCRIPT = REPO / "bench" / "fuzz_socket.py"
# The addon's pure modules (no bpy): its decoder is the model's, its proofs are the client's.
sys.path.insert(0, str(REPO / "blender_addon"))
# The monitor's and the probe's authenticated connections: the shared wire client.
sys.path.insert(0, str(REPO / "tests" / "support"))
