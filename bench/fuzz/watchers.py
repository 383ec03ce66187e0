"""The probe and the monitor: authenticated clients (the shared wire client). The probe, a child
process, measures another client's latency; the monitor checks that nothing ran, that Blender is
alive, and its RSS, threads and connections."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from wire_client import Client

from . import SCRIPT


PROBE_CODE = "1 + 1  # fuzz-probe"
MONITOR_CODE = (
    "# fuzz-monitor\n"
    "import builtins, threading, bld_remote\n"
    "_result = {'marker': repr(getattr(builtins, '__fuzz_executed__', None)),\n"
    "           'persist': sorted(str(k) for k in bld_remote.persist.keys() if str(k).startswith('fuzz')),\n"
    "           'threads': threading.active_count()}\n"
)
OUR_PREVIEWS = (PROBE_CODE, "# fuzz-monitor")


def probe_child(port, interval):
    """Child process: ``execute_code 1 + 1`` every ``interval`` s, one JSON line per call on
    stdout, until stdin closes. Token in BLD_FUZZ_TOKEN."""
    token = os.environ.get("BLD_FUZZ_TOKEN") or None
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    client = None
    while not stop.is_set():
        t0 = time.time()
        started = time.perf_counter()
        record = {"t": t0}
        try:
            if client is None:
                client = Client(port, token=token, timeout=10.0)
            reply = client.execute(PROBE_CODE)
            record["lat"] = time.perf_counter() - started
            record["ok"] = reply.get("status") == "success" and reply.get("result") == 2
            record["job"] = (reply.get("metadata") or {}).get("job_id")
            if not record["ok"]:
                record["err"] = json.dumps(reply)[:300]
        except Exception as exc:  # noqa: BLE001 - every failure is a probe failure, reported
            record["lat"] = time.perf_counter() - started
            record["ok"] = False
            record["err"] = f"{type(exc).__name__}: {exc}"
            if client is not None:
                client.close()
            client = None
        print(json.dumps(record), flush=True)
        stop.wait(max(0.0, interval - (time.perf_counter() - started)))
    if client is not None:
        client.close()


class Probe:
    def __init__(self, port, token, interval):
        env = dict(os.environ)
        env["BLD_FUZZ_TOKEN"] = token or ""
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--probe-child", "--port", str(port),
             "--interval", str(interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )
        self.records = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                pass

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)


class Monitor(threading.Thread):
    """Status every second (alive, RSS, connections); traces and job accounting every 2 s."""

    def __init__(self, ctx, token, stats, findings, instance=None, interval=1.0):
        super().__init__(name="fuzz-monitor", daemon=True)
        self.ctx = ctx
        self.token = token
        self.stats = stats
        self.findings = findings
        self.instance = instance
        self.interval = interval
        self.stopped = threading.Event()
        self.rss = []  # (t, bytes)
        self.connections = []
        self.seen_jobs = {}
        self.threads = []
        self.status_failures = 0
        self.client = None
        self.lock = threading.Lock()

    def _client(self):
        if self.client is None:
            self.client = Client(self.ctx.port, token=self.token, timeout=30.0)
            if self.ctx.recorded is None:
                self.ctx.recorded = self.client.handshake_record  # replayed by forged_proof
        return self.client

    def tick(self, full):
        with self.lock:
            if self.instance is not None and not self.instance.alive():
                self.findings.add("crash", "Blender exited", None, f"exit code {self.instance.proc.returncode}")
                return False
            try:
                client = self._client()
                status = client.call("status")["result"]
            except Exception as exc:  # noqa: BLE001
                self.status_failures += 1
                self.findings.add("status", "status did not answer", None, f"{type(exc).__name__}: {exc}")
                if self.client is not None:
                    self.client.close()
                self.client = None
                return True
            now = time.time()
            if status.get("rss_bytes") is not None:
                self.rss.append((now, status["rss_bytes"]))
            self.connections.append((now, status.get("connections")))
            named = [n for n in status.get("sessions", {}).get("named", []) if str(n).startswith("fuzz")]
            if named:
                self.findings.add("executed", "a fuzz session exists", None, f"named sessions {named}")
            if full:
                self.check_traces(client)
            return True

    def check_traces(self, client):
        reply = client.execute(MONITOR_CODE)
        if reply.get("status") != "success":
            self.findings.add("monitor", "trace check failed", None, json.dumps(reply)[:300])
            return
        self._account(reply)
        result = reply["result"]
        self.threads.append(result["threads"])
        if result["marker"] != "None":
            self.findings.add("executed", "builtins marker set", None,
                              f"builtins.__fuzz_executed__ = {result['marker']}")
        if result["persist"]:
            self.findings.add("executed", "fuzz persist key stored", None, f"persist keys {result['persist'][:10]}")
        try:
            leftovers = sorted(os.listdir(self.ctx.sentinel_dir))
        except OSError:
            leftovers = []
        if leftovers:
            detail = leftovers[:10]
            if "executed" in leftovers:
                detail = (Path(self.ctx.sentinel_file).read_text()[-500:], leftovers[:10])
            self.findings.add("executed", "file written in the sentinel dir", None, f"{detail}")
        jobs = client.call("list_jobs")["result"]["jobs"]
        for job in jobs:
            self._account_job(job["job_id"], job.get("code_preview"))

    def _account(self, reply):
        job = (reply.get("metadata") or {}).get("job_id")
        if job:
            self._account_job(job, "# fuzz-monitor")

    def _account_job(self, job_id, preview):
        if job_id in self.seen_jobs:
            return
        self.seen_jobs[job_id] = preview
        if preview not in OUR_PREVIEWS:
            self.findings.add("executed", "a job nobody of ours created", None, f"{job_id}: {preview!r}")

    def job_gaps(self):
        numbers = sorted(int(j.rsplit("-", 1)[1]) for j in self.seen_jobs)
        if not numbers:
            return []
        seen = set(numbers)
        return [n for n in range(numbers[0], numbers[-1] + 1) if n not in seen]

    def run(self):
        k = 0
        while not self.stopped.wait(self.interval):
            if not self.tick(full=k % 2 == 0):
                break
            k += 1

    def stop(self):
        self.stopped.set()
        self.join(30)
