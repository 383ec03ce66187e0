"""GUI entry point: ``blender [file.blend] --python gui_start.py -- --port N --ready-file F``.

Starts the service inside a Blender with a window (the GUI timer drains the main-thread queue),
registers the addon's panel and preferences (nothing else would: the addon is loaded by path,
not enabled), then writes the ready file; Blender then carries on into its event loop. Used by
``bld-remote start --gui``, so the addon need not be installed in the user's Blender. If the
addon is already installed and enabled there, that copy is used (one server, one panel per
Blender).
"""

import os
import sys


def main(argv=None):
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if parent not in sys.path:
        sys.path.insert(0, parent)
    from bld_remote_mcp import startup
    from bld_remote_mcp.blender import api, ui

    argv = sys.argv if argv is None else argv
    args = startup.parse_args(startup.script_args(argv, False), "gui_start.py", __doc__.splitlines()[0])
    api.install_module_alias()
    try:
        service = api.start_mcp_service(port=args.port, host=args.host)
    except (RuntimeError, ValueError) as exc:
        # Quit rather than leave a window nobody can reach; the launcher reports the reason.
        print(f"bld_remote_mcp: {exc}", file=sys.stderr, flush=True)
        os._exit(2)
    try:
        ui.register_unless_present()
    except Exception as exc:  # noqa: BLE001 - the server already serves: a panel that cannot
        # register is reported and the Blender stays reachable.
        print(f"bld_remote_mcp: the panel could not be registered: {exc}", file=sys.stderr, flush=True)
    # Written after the panel: once `start` returns, a user (or a test) finds it there.
    if args.ready_file:
        startup.write_ready_file(args.ready_file, service.port, os.getpid(), "gui")
    print(f"READY port={service.port}", flush=True)


main()
