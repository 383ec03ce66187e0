"""Background entry point: ``blender -b --factory-startup -noaudio --python keepalive.py -- --port N``.

Starts the service, prints exactly one ``READY port=N`` line on stdout once requests are
accepted, then runs main-thread work as it arrives (background Blender never fires timers, so
this loop is what executes requests). SIGINT/SIGTERM, a ``shutdown`` request or ``sys.exit()``
in user code end it; Blender exits with that code. Also runs under a plain Python that has the
``bpy`` module (PyPI ``bpy``): ``python keepalive.py --port N``.
"""

import argparse
import os
import signal
import sys


def _args(argv):
    # Blender passes its own arguments; ours follow "--".
    ours = argv[argv.index("--") + 1:] if "--" in argv else ([] if "bpy" in sys.modules else argv[1:])
    parser = argparse.ArgumentParser(prog="keepalive.py", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="TCP port (0 picks a free one; env BLD_REMOTE_MCP_PORT)")
    parser.add_argument("--host", default=None, help="bind address (loopback unless BLD_REMOTE_MCP_ALLOW_REMOTE=1)")
    return parser.parse_args(ours)


def main(argv=None):
    args = _args(sys.argv if argv is None else argv)
    addon_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if addon_parent not in sys.path:
        sys.path.insert(0, addon_parent)
    from bld_remote_mcp import api

    api.install_module_alias()
    try:
        service = api.start_mcp_service(port=args.port, host=args.host)
    except (RuntimeError, ValueError) as exc:
        print(f"bld_remote_mcp: {exc}", file=sys.stderr, flush=True)
        return 2

    def _stop(signum, _frame):
        # Runs on the main thread, possibly in the middle of a job: stop that job, then the loop.
        for job in service.jobs.running():
            service.cancel_job(job)
        service.queue.request_stop(0)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(f"READY port={service.port}", flush=True)
    code = api.serve_forever()
    api.stop_mcp_service()
    return code


if __name__ == "__main__":
    sys.exit(main())
