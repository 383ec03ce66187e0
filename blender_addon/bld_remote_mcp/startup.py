"""Arguments and the ready file shared by the two entry scripts (``keepalive.py`` for background
Blender, ``gui_start.py`` for a Blender with a window). Pure: no bpy.

The ready file is how ``bld-remote start`` learns that the server accepts requests and on which
port (``--port 0`` picks one), without parsing Blender's console output: a small JSON object
``{"port", "pid", "mode"}``, written to a temporary name and renamed, so a reader never sees half
of it.
"""

import argparse
import json
import os
import tempfile


def parse_args(argv, prog, description):
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=None, help="TCP port (0 picks a free one; env BLD_REMOTE_MCP_PORT)")
    parser.add_argument("--host", default=None, help="bind address (loopback unless BLD_REMOTE_MCP_ALLOW_REMOTE=1)")
    parser.add_argument("--ready-file", default=None, help="write {port, pid, mode} as JSON here once ready")
    parser.add_argument("--blend", default=None, help=".blend file to open before serving")
    return parser.parse_args(argv)


def script_args(argv, has_bpy_module):
    """The arguments meant for our script: Blender passes its own, ours follow ``--``."""
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    # Plain Python with the bpy module: argv[0] is the script, the rest is ours.
    return [] if has_bpy_module else argv[1:]


def write_ready_file(path, port, pid, mode):
    # A fresh name made with O_EXCL (mode 0600), then renamed: never written through a planted file.
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"port": port, "pid": pid, "mode": mode}, handle)
    os.replace(tmp, path)

