"""Socket fuzzer against a live addon: hostile bytes on the port, an oracle checked all along.

The command line (bench/fuzz_socket.py runs it; the oracle is in the package's docstring): start a
Blender or attach to one, fuzz, write the report; ``--send`` resends a saved input, ``--show``
prints an item's input, ``--probe-child`` is the probe's process."""

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import REPO
from .inputs import prelude_line, slot
from .items import make_item
from .network import connect, pump
from .protocol import Ctx
from .report import problems, summary
from .run import run_fuzz
from .watchers import probe_child


SPAWN_ENV = {
    # A message limit under the pre-auth byte budget, so that both are reachable before
    # authenticating: message_too_large for one large message, the budget for many small ones or
    # whitespace. (With the shipped 64 MiB the budget comes first: --max-message-bytes.)
    "BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": "2048",
    "BLD_REMOTE_MCP_PREAUTH_BYTES": "4096",
    "BLD_REMOTE_MCP_PREAUTH_MESSAGES": "4",
    # Partial messages expire within the run and strangers are dropped often.
    "BLD_REMOTE_MCP_IDLE_TIMEOUT": "2",
    "BLD_REMOTE_MCP_AUTH_TIMEOUT": "5",
}


def settings_of(env):
    """run_fuzz's limits from a Blender's environment (the server's defaults where unset, §8)."""
    return {"max_message_bytes": int(env.get("BLD_REMOTE_MCP_MAX_MESSAGE_BYTES", 64 << 20)),
            "preauth_bytes": int(env.get("BLD_REMOTE_MCP_PREAUTH_BYTES", 4096)),
            "preauth_messages": int(env.get("BLD_REMOTE_MCP_PREAUTH_MESSAGES", 4)),
            "idle_timeout": float(env.get("BLD_REMOTE_MCP_IDLE_TIMEOUT", 30)),
            "auth_timeout": float(env.get("BLD_REMOTE_MCP_AUTH_TIMEOUT", 10))}


def send_file(port, path, timeout):
    data = Path(path).read_bytes()
    with connect(port) as sock:
        ex = pump(sock, data, True, time.monotonic() + timeout)
    print(f"sent {len(data)} bytes; eof={ex.eof} reset={ex.reset} hang={ex.hang} after {ex.elapsed:.2f} s")
    print(bytes(ex.received[:4000]).decode("utf-8", "backslashreplace"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=("bg", "bpy5"), default="bg")
    parser.add_argument("--port", type=int, help="attach to this server instead of starting a Blender")
    parser.add_argument("--token", default=os.environ.get("BLD_REMOTE_MCP_TOKEN"))
    parser.add_argument("--max-message-bytes", type=int,
                        help="the server's message limit (started here: "
                             f"{SPAWN_ENV['BLD_REMOTE_MCP_MAX_MESSAGE_BYTES']}; attached: 64 MiB unless told)")
    parser.add_argument("--preauth-bytes", type=int, default=4096, help="attached server's pre-auth byte budget")
    parser.add_argument("--preauth-messages", type=int, default=4, help="attached server's pre-auth message budget")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="attached server's idle limit")
    parser.add_argument("--auth-timeout", type=float, default=10.0, help="attached server's auth deadline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--waiters", type=int, default=3)
    parser.add_argument("--slow-clients", type=int, default=3)
    parser.add_argument("--baseline", type=float, default=10.0)
    parser.add_argument("--max-items", type=int)
    parser.add_argument("--rss-limit-mib", type=float, default=128.0)
    parser.add_argument("--no-hostile", action="store_true", help="no cpu_drip / byte_stream sessions")
    parser.add_argument("--hostile-pause", type=float, default=10.0)
    parser.add_argument("--exclude", action="append", default=[], metavar="GEN[:FORM]",
                        help="skip a generator, or one form of it (e.g. oversized:ws_pad), to attribute a finding")
    parser.add_argument("--out")
    parser.add_argument("--send", help="send this file's bytes on one connection and print the reply")
    parser.add_argument("--show", help="print the input of item REF (e.g. f:123) for --seed and exit")
    parser.add_argument("--probe-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.05, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Stopped by a signal (also when started in the background, where SIGINT is ignored): unwind,
    # so that the Blender this script started is stopped by the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.probe_child:
        probe_child(args.port, args.interval)
        return 0
    if args.send:
        send_file(args.port, args.send, args.idle_timeout + 10)
        return 0
    attached = {"max_message_bytes": args.max_message_bytes or 64 << 20, "preauth_bytes": args.preauth_bytes,
                "preauth_messages": args.preauth_messages, "idle_timeout": args.idle_timeout,
                "auth_timeout": args.auth_timeout}
    if args.show:
        space, n = args.show.split(":")
        settings = attached if args.port else settings_of(SPAWN_ENV)
        ctx = Ctx(args.port or 6688, args.token or "x" * 43, settings["max_message_bytes"], settings["preauth_bytes"],
                  settings["preauth_messages"], settings["idle_timeout"], settings["auth_timeout"],
                  Path(tempfile.gettempdir()) / "bld-fuzz-sentinel")
        item = make_item(args.seed, space, int(n), ctx)
        print(f"{item.kind} {item.gens} mode={item.mode}")
        for inp in item.inputs:
            for k, nonce in enumerate(inp.prelude):
                print("hello first, its answer awaited:", prelude_line(k, nonce))
            if inp.slots:
                print("slots:", {slot(i): spec for i, spec in enumerate(inp.slots)}, "edit:", inp.edit)
            print(repr(inp.data[:4000]), f"({len(inp.data)} bytes)", inp.doc.get("form") or "")
        return 0

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"fuzz-socket-{stamp}.json"
    save_dir = out.with_suffix("")
    instance = None
    if args.port is None:
        sys.path.insert(0, str(REPO / "tests" / "e2e"))
        from harness import Instance  # noqa: E402 - only needed when we start Blender

        env = dict(SPAWN_ENV)
        if args.max_message_bytes:
            env["BLD_REMOTE_MCP_MAX_MESSAGE_BYTES"] = str(args.max_message_bytes)
        instance = Instance(args.kind, env=env)
        port, token = instance.port, instance.token
        settings = settings_of(env)
        print(f"started {args.kind} Blender pid {instance.pid} on port {port}", flush=True)
    else:
        port, token = args.port, args.token
        settings = attached
    try:
        report = run_fuzz(port, token, seed=args.seed, duration=args.duration, max_items=args.max_items,
                          workers=args.workers, waiters=args.waiters, slow_clients=args.slow_clients,
                          baseline=args.baseline, instance=instance, save_dir=save_dir,
                          rss_limit_mib=args.rss_limit_mib, hostile=not args.no_hostile,
                          hostile_pause=args.hostile_pause, exclude=args.exclude, **settings)
    finally:
        if instance is not None:
            instance.stop()
    report["kind"] = args.kind if instance is not None else "attached"
    report["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(summary(report))
    print(f"report: {out}")
    return 1 if problems(report) else 0
