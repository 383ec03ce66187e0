"""Throughput and latency under N concurrent clients, one connection each, each calling the
trivial `execute_code` in a loop for a fixed time. Clients run in a few OS processes (threads
of one Python process would serialise on its GIL and measure the client instead)."""

import multiprocessing
import threading
import time

from . import procs, stats
from .wire import TRIVIAL_CODE, connect


def _client_process(protocol, port, token, threads, seconds, start_at, queue):
    results, lock = [], threading.Lock()

    def worker():
        ok = errors = 0
        samples = []
        try:
            conn = connect(protocol, port, token)
        except (OSError, ValueError) as exc:
            with lock:
                results.append((0, 1, [], repr(exc)))
            return
        raw = conn.encoded_execute(TRIVIAL_CODE)
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        first_error = None
        while time.time() < end:
            t0 = time.perf_counter()
            try:
                reply = conn.round_trip(raw)
            except (OSError, ValueError) as exc:
                errors += 1
                first_error = first_error or repr(exc)
                break
            samples.append((time.perf_counter() - t0) * 1000)
            if conn.succeeded(reply):
                ok += 1
            else:
                errors += 1
                first_error = first_error or reply[:200].decode(errors="replace")
        conn.close()
        with lock:
            results.append((ok, errors, samples, first_error))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put(results)


def concurrent(protocol, port, clients, token=None, seconds=5.0, server_pid=None, max_processes=5):
    processes = min(clients, max_processes)
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    queue = multiprocessing.Queue()
    # Wall-clock start shared by every process, far enough ahead for all connections to open.
    start_at = time.time() + 1.0 + clients * 0.01
    workers = [multiprocessing.Process(target=_client_process,
                                       args=(protocol, port, token, n, seconds, start_at, queue))
               for n in shares]
    for w in workers:
        w.start()
    cpu_before = procs.cpu_seconds(server_pid) if server_pid else None
    sampler = procs.RssSampler(server_pid, 0.2) if server_pid else None
    if sampler:
        sampler.__enter__()
    try:
        gathered = []
        for _ in workers:
            gathered.extend(queue.get(timeout=seconds + 120))
        for w in workers:
            w.join()
    finally:
        if sampler:
            sampler.__exit__(None, None, None)
    ok = sum(r[0] for r in gathered)
    errors = sum(r[1] for r in gathered)
    samples = [s for r in gathered for s in r[2]]
    first_error = next((r[3] for r in gathered if r[3]), None)
    result = {"clients": clients, "seconds": seconds, "requests": ok, "errors": errors,
              "req_per_s": round(ok / seconds, 1), **(stats.summarize(samples) if samples else {})}
    if first_error:
        result["first_error"] = first_error
    if server_pid and ok:
        server_cpu = procs.cpu_seconds(server_pid) - cpu_before
        result["server_cpu_us_per_request"] = round(server_cpu / ok * 1e6, 1)
    if sampler and sampler.peak_mib:
        result["server_peak_rss_mib"] = sampler.peak_mib
    return result
