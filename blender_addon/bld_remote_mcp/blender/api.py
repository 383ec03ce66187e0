"""The ``bld_remote`` module: the 1.3.3 Python API, for keep-alive scripts and Blender's console.

``import bld_remote`` works inside Blender once the addon is registered (or keepalive.py ran):
``get_status``, ``start_mcp_service``, ``stop_mcp_service``, ``is_mcp_service_up``,
``get_mcp_service_port``, ``set_mcp_service_port``, ``step``, ``is_background_mode``,
``get_startup_options`` and ``persist`` keep their 1.3.3 meaning. This is also where the
bpy-specific pieces are given to the (bpy-free) service.
"""

import logging
import os
import sys
import threading

from ..engine import config
from ..engine.persist_store import PersistStore
from ..engine.service import Service
from ..version import ADDON_VERSION
from . import baseline, scene_state

log = logging.getLogger("bld_remote_mcp")

persist = PersistStore()
_service = None
_lock = threading.Lock()


def _setup_logging():
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("bld_remote_mcp %(levelname)s: %(message)s"))
    log.addHandler(handler)
    # Our own records must not be captured as the user's logging output.
    log.propagate = False
    level = os.environ.get("BLD_REMOTE_LOG_LEVEL", "INFO").upper()
    log.setLevel(level if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO")


def set_log_level(level):
    """The addon's log level (Blender's stderr), from the preferences; BLD_REMOTE_LOG_LEVEL,
    when set, wins."""
    _setup_logging()
    if os.environ.get("BLD_REMOTE_LOG_LEVEL"):
        return
    level = str(level).upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        log.setLevel(level)


def _preload():
    import bmesh
    import bpy
    import mathutils

    return {"bpy": bpy, "mathutils": mathutils, "bmesh": bmesh}


class _SceneProbe:
    take = staticmethod(scene_state.take)
    compare = staticmethod(scene_state.compare)


def _window_context(bpy):
    """A context override with a window and screen: operators run from the GUI timer have
    none, and ``ed.undo_push`` / ``ed.undo`` refuse to run without one."""
    window = bpy.context.window_manager.windows[0]
    return bpy.context.temp_override(window=window, screen=window.screen)


def _push_undo_step(label):
    import bpy

    with _window_context(bpy):
        bpy.ops.ed.undo_push(message=label)


def _save_checkpoint(job):
    import bpy

    from ..wire import auth
    from . import checkpoints

    settings = _service.settings if _service is not None else config.from_env()
    state_dir = settings.state_dir or auth.default_state_dir()
    path = checkpoints.path_for(state_dir, bpy.data.filepath, job.id)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # copy=True: the open file keeps its own path and unsaved state; only a copy is written.
    result = bpy.ops.wm.save_as_mainfile(filepath=path, copy=True, check_existing=False)
    if "FINISHED" not in result or not os.path.exists(path):
        raise RuntimeError(f"Blender did not write {path} ({result})")
    checkpoints.prune(os.path.dirname(path))
    return path


def _quit_blender():
    import bpy

    bpy.ops.wm.quit_blender()


def is_background_mode():
    import bpy

    return bool(bpy.app.background)


def get_service():
    """The running Service, or None."""
    return _service


def _preferences():
    """The addon's preferences when it is enabled as an addon (else None: defaults apply)."""
    try:
        from . import preferences
    except ImportError:  # pure-Python tests: no bpy
        return None
    try:
        return preferences.current()
    except Exception:  # e.g. bpy.context not available yet during startup
        return None


def start_mcp_service(port=None, host=None, token=None):
    """Start the server (main thread only). Raises RuntimeError when it cannot listen."""
    global _service
    import bpy

    _setup_logging()
    with _lock:
        if _service is not None and _service.running:
            return _service
        settings = config.from_env(preferences=_preferences())
        if port is not None:
            settings.port = int(port)
        if host is not None:
            settings.host = host
        if token is not None and settings.auth:
            settings.token = token
        settings.check()
        background = bool(bpy.app.background)
        service = Service(
            settings,
            mode="background" if background else "gui",
            blender_version=bpy.app.version_string,
            addon_version=ADDON_VERSION,
            main_thread_ident=threading.main_thread().ident,
            persist=persist,
            scene_probe=_SceneProbe,
            preload=_preload,
            quit_app=_quit_blender,
            undo_step=None if background else _push_undo_step,
            checkpoint=_save_checkpoint,
            # reset_blender: headless workers only (a user's window keeps its scene).
            load_baseline=baseline.load if background else None,
            blend_file_probe=baseline.open_file,
        )
        try:
            service.start()
        except OSError as exc:
            raise RuntimeError(str(exc)) from exc
        _service = service
    baseline.watch(service)
    if not background:
        from . import gui_pump

        gui_pump.start(service)
    from . import render_guards

    render_guards.register()
    log.info("service up on %s:%s (%s mode, Blender %s)", settings.host, service.port, service.mode,
             service.blender_version)
    return service


# Kept on the sys module: disabling the addon or reloading scripts re-imports this package,
# and the note must outlive the module that wrote it.
_RESTART_NOTE = "_bld_remote_restart_note"


def leave_restart_note():
    """Called as the addon unregisters: if a server runs, remember its address and token so
    that the next register() (re-enable, script reload) brings it back on the same port."""
    service = _service
    if service is not None and service.running and service.exit_code is None:
        setattr(sys, _RESTART_NOTE, {"port": service.port, "host": service.settings.host, "token": service.token})


def take_restart_note():
    note = getattr(sys, _RESTART_NOTE, None)
    if note is not None:
        delattr(sys, _RESTART_NOTE)
    return note


def stop_mcp_service():
    global _service
    with _lock:
        service, _service = _service, None
    if service is not None:
        service.stop()
        from . import render_guards

        render_guards.unregister()
        baseline.unwatch()


def is_mcp_service_up():
    return _service is not None and _service.running


def get_mcp_service_port():
    if _service is not None and _service.running:
        return _service.port
    return config.from_env(preferences=_preferences()).port


def set_mcp_service_port(port_number):
    """Port for the next start (only while stopped), as in 1.3.3."""
    if is_mcp_service_up():
        raise RuntimeError("Cannot change port while server is running. Stop service first.")
    if not isinstance(port_number, int) or isinstance(port_number, bool) or not 0 <= port_number <= 65535:
        raise ValueError("Port number must be an integer between 0 and 65535")
    os.environ["BLD_REMOTE_MCP_PORT"] = str(port_number)


def get_status():
    service = _service
    running = service is not None and service.running
    port = service.port if running else get_mcp_service_port()
    host = service.settings.host if service is not None else config.from_env().host
    status = {"running": running, "port": port, "address": f"{host}:{port}", "server_object": service is not None}
    if running:
        status.update(mode=service.mode, connections=service.server.connection_count(),
                      queue_length=service.queue.qsize())
    return status


def get_startup_options():
    env = os.environ
    return {
        "BLD_REMOTE_MCP_PORT": env.get("BLD_REMOTE_MCP_PORT", str(config.DEFAULT_PORT)),
        "BLD_REMOTE_MCP_START_NOW": env.get("BLD_REMOTE_MCP_START_NOW", "false"),
        "BLD_REMOTE_LOG_LEVEL": env.get("BLD_REMOTE_LOG_LEVEL", "INFO"),
        "auto_start": config.from_env().start_now,
    }


def step():
    """Run the queued main-thread work once (1.3.3 keep-alive scripts call this in a loop).

    When a shutdown was requested in background mode it stops the service and raises
    SystemExit with the exit code, which ends the calling script and so Blender.
    """
    service = _service
    if service is None:
        return
    if not service.queue.run_pending() and service.mode == "background":
        code = service.queue.stop_code or 0
        stop_mcp_service()
        raise SystemExit(code)


def serve_forever():
    """Background mode: run main-thread work as it arrives until a shutdown. Returns the exit code."""
    service = _service
    if service is None:
        raise RuntimeError("the service is not running: call start_mcp_service() first")
    return service.queue.serve_forever()


def install_module_alias():
    """Make ``import bld_remote`` give this module, as the 1.3.3 addon did."""
    sys.modules["bld_remote"] = sys.modules[__name__]
