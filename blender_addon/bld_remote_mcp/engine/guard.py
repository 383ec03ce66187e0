"""Guard mode: a seatbelt that refuses subprocesses, network sockets and file writes outside
allowed folders while an agent's code runs. Off by default (BLD_REMOTE_MCP_GUARD=on).

Pure module (no bpy). It is built on Python audit hooks (PEP 578): the interpreter reports
"subprocess.Popen", "socket.connect", "open", ... before doing them, and a hook that raises
stops the operation. It is a seatbelt, not a sandbox:

* Only Python-level operations are audited. Blender's own C code (``bpy.ops.wm.save_as_mainfile``,
  render output) and native libraries loaded with ``ctypes`` are not seen.
* It watches only the thread running the agent's code, while that code runs; threads the code
  starts itself are not watched. Code that wants to can switch the guard off (it is a Python
  object in the same process). It stops mistakes, not an attacker.

Audit hooks cannot be removed, so one hook is installed per process (the first time a guard is
enabled) and it consults whichever guard is current; with no guard enabled nothing is installed
and nothing is slowed down.
"""

import os
import socket
import sys
import threading

# The audit events refused outright, by category.
_SUBPROCESS = frozenset((
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.startfile", "pty.spawn",
))
_NETWORK = frozenset((
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr",
))
# File-system changes other than open(): event -> indexes of the path arguments.
_PATH_CHANGES = {
    "os.remove": (0,), "os.rename": (0, 1), "os.rmdir": (0,), "os.mkdir": (0,),
    "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.symlink": (1,), "os.link": (1,),
    "os.utime": (0,), "shutil.rmtree": (0,), "shutil.move": (0, 1), "shutil.copyfile": (1,),
    "shutil.copytree": (1,), "os.removexattr": (0,), "os.setxattr": (0,),
}
_INET_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_MAX_REPORTED = 20  # refusals listed per call
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class GuardRefused(PermissionError):
    """Raised inside the agent's code for an operation guard mode does not allow.

    A PermissionError, so code (and Python's own import machinery writing .pyc files) that
    already copes with "not allowed" keeps working.
    """

    def __init__(self, category, event, detail):
        self.category = category  # "subprocess" | "network" | "file_write"
        self.event = event
        self.detail = detail
        super().__init__(f"guard mode refused {detail} ({category}: audit event {event}); "
                         "guard mode is on (BLD_REMOTE_MCP_GUARD) and does not allow this")

    def as_dict(self):
        return {"category": self.category, "event": self.event, "detail": self.detail}


def _is_write(mode, flags):
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Guard:
    """The rules of one running service: which folders code may write to."""

    def __init__(self, allowed_dirs):
        self.allowed_dirs = tuple(os.path.realpath(os.path.expanduser(d)) for d in allowed_dirs if d)
        self._thread = None  # ident of the thread whose code is being watched, or None
        self.refusals = 0
        # What was refused during the current call: libraries often wrap the PermissionError
        # (urllib's URLError) or swallow it, so the executor reports these, not the exception.
        self.refused = []

    # -- which code is watched ------------------------------------------------------------
    def watch(self):
        """Watch this thread until ``unwatch()``: called around the agent's code."""
        self.refused = []
        self._thread = threading.get_ident()

    def unwatch(self):
        self._thread = None

    @property
    def watching(self):
        return self._thread is not None

    # -- the rules ------------------------------------------------------------------------
    def allows_path(self, path):
        if isinstance(path, int):  # an already open descriptor: opening it was judged then
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        for folder in self.allowed_dirs:
            if real == folder or real.startswith(folder.rstrip(os.sep) + os.sep):
                return True
        return False

    def check(self, event, args):
        """Raise GuardRefused when ``event`` (an audit event) is not allowed; else return."""
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if _is_write(mode, flags) and not self.allows_path(path):
                self._refuse("file_write", event, f"writing {_short(path)} "
                             f"(outside the allowed folders {list(self.allowed_dirs)})")
        elif event in _SUBPROCESS:
            self._refuse("subprocess", event, f"running a program: {event}{_short(tuple(args))}")
        elif event in _NETWORK:
            self._refuse("network", event, f"network access: {event}{_short(tuple(args))}")
        elif event == "socket.__new__":
            if len(args) > 1 and args[1] in _INET_FAMILIES:
                self._refuse("network", event, "opening a network socket")
        elif event in _PATH_CHANGES:
            for index in _PATH_CHANGES[event]:
                if index < len(args) and not self.allows_path(args[index]):
                    self._refuse("file_write", event, f"changing {_short(args[index])} with {event} "
                                 f"(outside the allowed folders {list(self.allowed_dirs)})")

    def _refuse(self, category, event, detail):
        self.refusals += 1
        refusal = GuardRefused(category, event, detail)
        if len(self.refused) < _MAX_REPORTED:
            self.refused.append(refusal.as_dict())
        raise refusal

    # -- the process-wide hook --------------------------------------------------------------
    def enable(self):
        """Make this guard the current one (installing the process's hook the first time)."""
        _state["guard"] = self
        if not _state["installed"]:
            sys.addaudithook(_hook)
            _state["installed"] = True

    def disable(self):
        if _state["guard"] is self:
            _state["guard"] = None


_WATCHED = frozenset(_SUBPROCESS | _NETWORK | set(_PATH_CHANGES) | {"open", "socket.__new__"})
# Kept on the sys module so that reloading this module (an addon reload) finds the hook it
# already installed instead of adding a second one that can never be removed.
_state = sys.__dict__.setdefault("_bld_remote_guard_state", {"installed": False, "guard": None})


def _hook(event, args):
    if event not in _WATCHED:
        return
    guard = _state["guard"]
    if guard is None or guard._thread != threading.get_ident():
        return
    guard.check(event, args)
