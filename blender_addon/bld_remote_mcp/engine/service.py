"""The running service: server, main-thread queue, jobs, sessions and output capture, wired.

Pure module (no bpy): the bpy-specific parts (scene probe, namespace preload, how to quit
Blender) are passed in by ``blender/api.py``, which is what Blender and keep-alive scripts call.
"""

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time

from .. import commands
from ..wire import auth, errors
from ..wire.replies import CommandError
from ..wire.tcp_server import TcpServer
from .capture import OutputCapture
from .executor import Executor, cancelled_before_start, envelope
from .guard import Guard
from .interrupt import Interrupter
from .job_registry import QUEUED, JobRegistry
from .mainthread import MainThreadQueue
from .memory import rss_bytes
from .persist_store import PersistStore
from .sessions import SessionStore

log = logging.getLogger("bld_remote_mcp")

_PEER_CHECK_INTERVAL = 0.1  # how often a waiting sync call looks whether its caller left


class Service:
    def __init__(self, settings, mode, blender_version, addon_version, main_thread_ident, persist=None,
                 scene_probe=None, preload=None, quit_app=None, capture_fds=True, undo_step=None,
                 checkpoint=None, load_baseline=None, blend_file_probe=None):
        commands.load()
        self.settings = settings
        self.mode = mode  # "background" | "gui"
        self.blender_version = blender_version
        self.addon_version = addon_version
        # Headless only: callable(path or None) loading that .blend, or Blender's factory startup
        # scene, and returning the number of objects then (``reset_blender``); raises on failure.
        self.load_baseline = load_baseline
        # callable() -> the open .blend's path ("" unsaved); main thread only, like all of bpy.
        self._blend_file_probe = blend_file_probe
        self.blend_file = ""  # what the probe said last: read by `status` from any thread
        self.queue = MainThreadQueue(after_each=self.refresh_blend_file)
        # Random per server: tells two Blenders on one port apart, and names this server's jobs.
        self.instance_id = secrets.token_hex(3)
        self.jobs = JobRegistry(settings.max_pending_jobs, settings.max_finished_jobs, settings.finished_job_ttl,
                                instance_id=self.instance_id)
        self.sessions = SessionStore(preload)
        self.persist = persist if persist is not None else PersistStore()
        self.capture = OutputCapture(settings.max_output_bytes, capture_fds=capture_fds)
        self.interrupter = Interrupter(main_thread_ident)
        # Files this service makes for its clients (screenshots) and, in guard mode, the folder
        # agent code may write to by default: 0700, this user's only, removed at stop.
        self.private_tmp = tempfile.mkdtemp(prefix="bld-remote-")
        self.guard = Guard(settings.guard_allow or (self.private_tmp,)) if settings.guard else None
        self.executor = Executor(self.capture, self.interrupter, self.jobs, scene_probe, settings.max_result_bytes,
                                 self.guard, undo_step if settings.undo else None, checkpoint)
        self.quit_app = quit_app  # GUI: how to quit Blender, called on the main thread
        self.server = TcpServer(settings, self)
        self.port = None
        self.started_at = None
        self.exit_code = None  # set once a shutdown was requested
        self.token = None  # the token clients must present (None: auth off)
        self.token_file = None
        self._stop_lock = threading.Lock()
        self.running = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        self.capture.install()
        try:
            self.interrupter.install_signal_handler()
            state_dir = None
            if self.settings.auth:
                self.token = self.settings.token or auth.generate_token()
                # Checked before listening: a state dir another user could change stops the start
                # before anyone can connect.
                state_dir = auth.prepare_token_dir(self.settings.state_dir or auth.default_state_dir())
            self.port = self.server.start()
            if self.guard is not None:
                self.guard.enable()
            if self.token is not None:
                self.token_file = auth.token_path(state_dir, self.port)
                auth.write_token_file(self.token_file, self.token)
        except BaseException:
            self.server.stop()
            self.capture.uninstall()
            self.interrupter.close()
            shutil.rmtree(self.private_tmp, ignore_errors=True)
            raise
        self.started_at = time.time()
        self.running = True
        self.refresh_blend_file()
        return self.port

    def stop(self):
        """Stop serving. Idempotent; call from the main thread when possible."""
        with self._stop_lock:
            if not self.running:
                return
            self.running = False
        # Nobody will run queued jobs any more: answer their callers rather than leave them waiting.
        for job in self.jobs.all():
            if job.state == QUEUED:
                self.jobs.cancel_if_queued(job, cancelled_before_start(
                    job, errors.SHUTTING_DOWN, "the server stopped before this job started"))
        for job in self.jobs.running():
            self.interrupter.cancel(job)
        self.server.wait_idle(timeout=2.0)  # let replies being written reach their clients
        self.server.stop()
        if self.token_file is not None:
            auth.remove_token_file(self.token_file, self.token)
        if self.guard is not None:
            self.guard.disable()
        self.interrupter.close()
        self.capture.uninstall()
        shutil.rmtree(self.private_tmp, ignore_errors=True)

    def request_shutdown(self, code=0, quit_blender=True):
        """After a reply was sent: stop serving, then end the keep-alive loop or quit Blender."""
        if self.exit_code is not None:
            return
        self.exit_code = code
        log.info("shutdown requested (exit code %s)", code)
        # New requests now get `shutting_down`; what is already queued still runs and is answered.
        if self.mode == "background":
            self.queue.request_stop(code)  # the keep-alive loop ends after the queued work, then stop()
        else:
            self.queue.submit(self.stop)
            if quit_blender and self.quit_app is not None:
                self.queue.submit(self.quit_app)

    def connection_closed(self, connection):
        self.sessions.drop_connection(connection.id)

    # -- main thread -------------------------------------------------------------------------
    def call_on_main(self, fn, timeout=None):
        """Run ``fn`` on the main thread and return its result (or raise its exception)."""
        timeout = self.settings.default_timeout if timeout is None else timeout
        call = self.queue.submit(fn)
        if not call.done.wait(timeout):
            call.abandoned = True
            if not call.done.is_set():
                raise CommandError(
                    errors.BUSY,
                    f"Blender's main thread did not finish the request within {timeout:g} s "
                    "(a long job may be holding it: see list_jobs / cancel_job)",
                )
        if call.error is not None:
            raise call.error
        return call.result

    # -- jobs --------------------------------------------------------------------------------
    def submit_job(self, job):
        self.queue.submit(lambda: self._run_job(job))

    def _run_job(self, job):
        self.executor.run(job)
        if job.system_exit is not None and (job.mode == "async" or job.detached):
            # Nobody is waiting for a reply to send first: shut down now.
            self.request_shutdown(job.system_exit, quit_blender=True)

    def _waiter(self, job, connection):
        """``wait(seconds)`` for ``job``; with on_disconnect=cancel it also watches the caller's
        connection and cancels the job once the caller is gone (then keeps waiting for it to end)."""
        if connection is None or self.settings.on_disconnect != "cancel":
            return job.wait

        def wait(seconds):
            until = time.monotonic() + seconds
            while True:
                left = until - time.monotonic()
                if job.wait(max(0.0, min(left, _PEER_CHECK_INTERVAL))):
                    return True
                if left <= _PEER_CHECK_INTERVAL:
                    return False
                if not job.cancel_requested and connection.peer_gone():
                    log.info("%s: its caller disconnected; cancelling it (on_disconnect=cancel)", job.id)
                    self.cancel_job(job)

        return wait

    def wait_for_sync_job(self, job, connection=None):
        """Wait for a sync job; never longer than its timeout plus the stuck-call grace period.

        A job still queued after ``timeout`` (the main thread busy with others) is cancelled
        and reported as never started.
        """
        grace = self.settings.stuck_grace
        wait = self._waiter(job, connection)
        queued_until = time.monotonic() + job.timeout
        while job.started_monotonic is None:
            if wait(max(0.0, queued_until - time.monotonic())):
                return job.envelope
            if job.started_monotonic is None:
                never_started = envelope(
                    "timeout",
                    error={
                        "code": errors.BUSY,
                        "message": f"the code never started: Blender's main thread stayed busy for "
                        f"{job.timeout:g} s (see list_jobs / cancel_job)",
                    },
                    metadata={"job_id": job.id},
                )
                if self.jobs.cancel_if_queued(job, never_started):
                    return never_started
        if wait(max(0.0, job.started_monotonic + job.timeout + grace - time.monotonic())):
            return job.envelope
        # Interrupted but still running: the code sits inside one long C call (a render, a
        # heavy operator) that Python cannot break into. It stops when that call returns.
        job.detached = True
        output = job.output.as_dict() if job.output is not None else None
        return envelope(
            "timeout",
            output=output,
            duration=time.time() - (job.started or job.created),
            error={
                "code": errors.TIMEOUT,
                "type": "ExecutionTimeout",
                "stuck": True,
                "message": f"execution exceeded its timeout of {job.timeout:g} s and is stuck inside a "
                "long C call (render, operator, sleep in C): it was told to stop and will stop when that "
                "call returns; until then Blender's main thread is busy. Control commands still answer.",
            },
            metadata={"job_id": job.id, "still_running": True},
        )

    def cancel_job(self, job):
        """Cancel a queued or running job. Returns whether a cancellation was made."""
        if job.is_done():
            return False
        if self.jobs.cancel_if_queued(job, cancelled_before_start(job)):
            return True
        job.cancel_requested = True
        # Not yet inside its code (still compiling): the executor sees cancel_requested then.
        return self.interrupter.cancel(job) or not job.is_done()

    # -- the open file and resets ------------------------------------------------------------
    def refresh_blend_file(self):
        """Main thread only: re-read the open .blend's path into ``blend_file``.

        ``status`` answers on client threads, which must not touch bpy, so it reports this copy.
        The main thread refreshes it after every call it runs (the main-thread queue's
        ``after_each``): that sees every load and save made through this server, even by code
        that removed Blender's handlers, for the price of reading one string. blender/baseline.py
        also calls it from ``load_post``/``save_post`` handlers, which see what happens outside
        any call: a GUI user's File > Open or Save, the file given on Blender's command line.
        """
        probe = self._blend_file_probe
        if probe is None:
            return
        try:
            self.blend_file = probe() or ""
        except Exception:  # bpy.data is restricted while Blender registers addons: keep the last
            log.debug("could not read the open file's path", exc_info=True)

    def check_can_reset(self):
        """``reset_blender`` is for headless workers only: refused in a Blender with a window."""
        if self.mode != "background" or self.load_baseline is None:
            raise CommandError(
                errors.INVALID_REQUEST,
                f"reset_blender is refused in this Blender (mode {self.mode}): it would throw away the "
                "open scene and every client's variables. It is meant for headless workers that "
                "bld-remote starts; here use reset_session, or open a file from execute_code",
                mode=self.mode,
            )

    def reset_blender(self, path=None):
        """Main thread only (``reset_blender``, docs/protocol.md §4): load the baseline, ``path``
        or Blender's factory startup scene, then drop what agents left in this process: every
        namespace (the connections' and the named sessions'), the persist store, the jobs that
        have not started, and the finished jobs' records.

        The load comes first: Blender keeps the open file when it cannot read another (measured
        on 3.4, 4.2, 4.5, 5.0 and 5.3), so a file that fails to open leaves everything as it was
        and the caller is told nothing was reset, rather than variables dropped over the old scene.
        """
        self.check_can_reset()
        running = self.jobs.running()
        if running:
            # Only code that pumps the queue itself (bld_remote.step() inside a job) gets here:
            # never swap the file under code that is running.
            raise CommandError(
                errors.BUSY,
                f"job {running[0].id} is running: reset_blender does not load a file under running code "
                "(cancel it first)",
            )
        try:
            objects = self.load_baseline(path)
        except Exception as exc:
            if path is None:
                raise
            reason = str(exc).strip()
            reason = reason[len("Error: "):] if reason.startswith("Error: ") else reason
            raise CommandError(
                errors.INVALID_PARAMS,
                f"Blender could not open {path} ({reason}); nothing was reset",
                param="file",
                file=path,
            ) from exc
        cancelled = self.jobs.cancel_all_queued(lambda job: cancelled_before_start(
            job, errors.CANCELLED, "job was cancelled before it started: reset_blender reset this Blender"))
        # Finished jobs too (the ones just cancelled among them): their code and results are the
        # last agent's.
        forgotten = self.jobs.forget_finished()
        namespaces = self.sessions.clear()
        persist_keys = self.persist.clear()
        self.refresh_blend_file()
        log.info("reset to %s: %d namespaces, %d persist keys, %d queued and %d finished jobs dropped",
                 path or "the factory startup scene", namespaces, persist_keys, len(cancelled), forgotten)
        return {
            "reset": True,
            "file": path,
            "namespaces_dropped": namespaces,
            "persist_keys_dropped": persist_keys,
            "jobs_cancelled": len(cancelled),
            "jobs_forgotten": forgotten,
            "objects": objects,
        }

    # -- status ------------------------------------------------------------------------------
    def status(self):
        jobs = self.jobs.all()
        return {
            "running": self.running,
            "mode": self.mode,
            "port": self.port,
            "pid": os.getpid(),
            "instance_id": self.instance_id,
            "blender_version": self.blender_version,
            "addon_version": self.addon_version,
            "uptime": time.time() - self.started_at if self.started_at else 0.0,
            "connections": self.server.connection_count(),
            # accept() failures (out of descriptors), each followed by a backoff (tcp_server.py)
            "accept_errors": self.server.accept_errors,
            "queue_length": self.queue.qsize(),
            "jobs": {state: sum(1 for j in jobs if j.state == state) for state in ("queued", "running", "finished")},
            "sessions": self.sessions.stats(),
            "rss_bytes": rss_bytes(),
            "blend_file": self.blend_file,
            "auth": self.token is not None,
            "guard": {"enabled": True, "allowed_dirs": list(self.guard.allowed_dirs), "refusals": self.guard.refusals}
            if self.guard is not None else {"enabled": False},
        }
