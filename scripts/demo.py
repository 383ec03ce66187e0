#!/usr/bin/env python3
"""The main job until the Rust CLI exists: talk to Blender through the addon, end to end.

Uses the Blender already serving on 127.0.0.1:6688 (BLD_REMOTE_MCP_PORT) when there is one;
otherwise starts a headless Blender with the addon on a free port, and stops it (by its PID)
at the end. Then it builds a small scene, shows the reply envelope of a few calls, renders a
preview PNG and prints what happened. Standard library only.
"""

import argparse
import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEEPALIVE = REPO / "blender_addon" / "bld_remote_mcp" / "keepalive.py"


class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rwb")
        self.ids = itertools.count(1)

    def call(self, type_, **params):
        request = {"id": next(self.ids), "type": type_, "params": params}
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        line = self.file.readline()
        if not line:
            raise ConnectionError("Blender closed the connection")
        return json.loads(line)

    def close(self):
        self.sock.close()


def running_blender(port):
    try:
        conn = Connection(port)
    except OSError:
        return None
    try:
        hello = conn.call("hello")
        return conn if hello.get("status") == "success" else None
    except (OSError, ValueError):
        conn.close()
        return None


def start_headless(blender):
    workdir = Path(tempfile.mkdtemp(prefix="bld-remote-demo-"))
    env = dict(os.environ, BLENDER_USER_CONFIG=str(workdir / "config"), BLENDER_USER_SCRIPTS=str(workdir / "scripts"))
    log = open(workdir / "blender.log", "wb")
    proc = subprocess.Popen(
        [blender, "-b", "--factory-startup", "-noaudio", "--python", str(KEEPALIVE), "--", "--port", "0"],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
    )
    deadline = time.monotonic() + 120
    for raw in proc.stdout:
        line = raw.decode(errors="replace").strip()
        if line.startswith("READY port="):
            # Keep draining Blender's stdout so its pipe never fills and blocks Blender.
            threading.Thread(target=shutil.copyfileobj, args=(proc.stdout, log), daemon=True).start()
            return proc, int(line.split("=", 1)[1]), workdir
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"Blender did not become ready; see {workdir / 'blender.log'}")


def show(title, reply, keys=None):
    print(f"\n== {title}")
    shown = {k: reply[k] for k in keys} if keys else reply
    print(json.dumps(shown, indent=2)[:2500])


SCENE_CODE = """
import bpy
for obj in [o for o in bpy.data.objects if o.name.startswith("Demo")]:
    bpy.data.objects.remove(obj)
for i in range(5):
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.4, location=(i - 2, 0, 1.5))
    bpy.context.object.name = f"DemoSphere{i}"
print(f"made {len([o for o in bpy.data.objects if o.name.startswith('DemoSphere')])} spheres")
[o.name for o in bpy.data.objects if o.name.startswith("Demo")]
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BLD_REMOTE_MCP_PORT", "6688")))
    parser.add_argument("--blender", default=os.environ.get("BLENDER_BIN") or shutil.which("blender"))
    parser.add_argument("--out", default=str(REPO / "demo-preview.png"), help="where to write the preview PNG")
    args = parser.parse_args()

    proc = None
    conn = running_blender(args.port)
    if conn is not None:
        print(f"Using the Blender already serving on 127.0.0.1:{args.port}")
    else:
        if not args.blender:
            raise SystemExit("Blender not found: apt-get install blender, or pass --blender PATH")
        print(f"No Blender on 127.0.0.1:{args.port}: starting a headless one ({args.blender})")
        started = time.monotonic()
        proc, port, _workdir = start_headless(args.blender)
        conn = Connection(port)
        print(f"headless Blender pid {proc.pid} ready on port {port} in {time.monotonic() - started:.1f} s")
    try:
        show("hello", conn.call("hello")["result"])
        show("execute_code: build a scene", conn.call("execute_code", code=SCENE_CODE),
             ["status", "result", "output", "duration", "metadata"])
        show("execute_code: an error, with the user's traceback", conn.call("execute_code", code="x = 1\nx / 0"),
             ["status", "error", "traceback"])
        show("execute_code: runaway code stopped by its timeout",
             conn.call("execute_code", code="while True:\n    pass", timeout=1), ["status", "error", "duration"])
        timings = []
        for _ in range(200):
            t = time.perf_counter()
            conn.call("execute_code", code="x = 1")
            timings.append((time.perf_counter() - t) * 1000)
        timings.sort()
        print(f"\n== 200 trivial round trips: p50 {timings[100]:.3f} ms, p95 {timings[190]:.3f} ms")
        scene = conn.call("get_scene_info", limit=3)["result"]
        show("get_scene_info (limit 3)", scene)
        shot = conn.call("get_viewport_screenshot", max_size=480)
        if shot["status"] == "success":
            Path(args.out).write_bytes(base64.b64decode(shot["result"]["image_base64"]))
            print(f"\n== preview: {shot['result']['width']}x{shot['result']['height']} PNG "
                  f"({shot['result']['source']}) written to {args.out}")
        else:
            show("get_viewport_screenshot failed", shot)
    finally:
        if proc is not None:
            conn.call("shutdown")
            print(f"\nheadless Blender exited with {proc.wait(30)}")
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
