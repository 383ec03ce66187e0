"""Background entry point: ``blender -b --factory-startup -noaudio --python keepalive.py -- --port N``.

Starts the service, prints exactly one ``READY port=N`` line on stdout once requests are
accepted (and writes ``--ready-file``), then runs main-thread work as it arrives (background
Blender never fires timers, so this loop is what executes requests). SIGINT/SIGTERM, a
``shutdown`` request or ``sys.exit()`` in user code end it; Blender exits with that code. Also
runs under a plain Python that has the ``bpy`` module (PyPI ``bpy``): ``python keepalive.py --port N``.
"""

import os
import signal
import sys


def main(argv=None):
    here = os.path.abspath(__file__)
    parent = os.path.dirname(os.path.dirname(here))
    if parent not in sys.path:
        sys.path.insert(0, parent)
    from bld_remote_mcp import startup
    from bld_remote_mcp.blender import api

    argv = sys.argv if argv is None else argv
    args = startup.parse_args(startup.script_args(argv, "bpy" in sys.modules), "keepalive.py", __doc__.splitlines()[0])
    api.install_module_alias()
    if args.blend and not _open_blend(args.blend):
        return 2
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
    if args.ready_file:
        startup.write_ready_file(args.ready_file, service.port, os.getpid(), "background")
    print(f"READY port={service.port}", flush=True)
    code = api.serve_forever()
    api.stop_mcp_service()
    return code


def _open_blend(path):
    import bpy

    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path))
    except Exception as exc:  # noqa: BLE001 - any failure to load is reported the same way
        print(f"bld_remote_mcp: cannot open {path}: {exc}", file=sys.stderr, flush=True)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
