"""Captures what one job writes: Python stdout/stderr, logging records, and C-level output.

Pure module (no bpy). Three mechanisms, each for a reason:

* ``sys.stdout``/``sys.stderr`` are replaced once, at install, by streams that route each write
  by thread: only the thread running a job is captured, so prints from other threads never
  land in a job's output (``contextlib.redirect_stdout`` would swap them for every thread).
* A logging handler on the root logger routes records by thread the same way.
* Blender's own C code (operator reports, ``Info:`` lines, render progress) writes straight to
  file descriptors 1 and 2, so during a job those are pointed at a temporary file (``dup2``).
  Python writes from other threads go to duplicates of the original descriptors, so they do
  not land in that file either.
"""

import ctypes
import io
import logging
import os
import sys
import tempfile
import threading

_TRUNCATION_NOTE = "\n[bld-remote: output truncated: {omitted} more characters were written]\n"


class _Buffer:
    """Text written by one job to one stream, bounded."""

    __slots__ = ("chunks", "size", "limit", "omitted")

    def __init__(self, limit):
        self.chunks = []
        self.size = 0
        self.limit = limit
        self.omitted = 0

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.limit - self.size
        if len(text) <= room:
            self.chunks.append(text)
            self.size += len(text)
        else:
            if room > 0:
                self.chunks.append(text[:room])
                self.size += room
            self.omitted += len(text) - max(room, 0)
        return len(text)

    def getvalue(self):
        text = "".join(self.chunks)
        if self.omitted:
            text += _TRUNCATION_NOTE.format(omitted=self.omitted)
        return text


class _LogRecords(list):
    """Log records of one job, bounded like the streams: past the limit, counted, not kept."""

    def __init__(self, limit):
        super().__init__()
        self.size = 0
        self.limit = limit
        self.omitted = 0

    def append(self, record):
        cost = len(record["message"]) + 40
        if self.size + cost > self.limit:
            self.omitted += 1
            return
        self.size += cost
        super().append(record)

    def as_list(self):
        records = list(self)
        if self.omitted:
            note = f"bld-remote: {self.omitted} more log records were omitted (output limit reached)"
            records.append({"source": "bld-remote", "message": note})
        return records


class _BinaryAdapter(io.RawIOBase):
    """``sys.stdout.buffer`` for code that writes bytes: decoded and routed like text."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream

    def writable(self):
        return True

    def write(self, data):
        self._stream.write(bytes(data).decode("utf-8", "backslashreplace"))
        return len(data)

    def flush(self):
        self._stream.flush()


class RoutedStream(io.TextIOBase):
    """A text stream that sends each write to the capturing buffer of the writing thread."""

    def __init__(self, name, passthrough):
        super().__init__()
        self.name = name
        self._passthrough = passthrough
        self._targets = {}  # thread ident -> _Buffer
        self._binary = _BinaryAdapter(self)

    @property
    def encoding(self):
        return getattr(self._passthrough, "encoding", "utf-8") or "utf-8"

    @property
    def errors(self):
        return getattr(self._passthrough, "errors", "strict")

    @property
    def buffer(self):
        return self._binary

    def writable(self):
        return True

    def write(self, text):
        target = self._targets.get(threading.get_ident())
        if target is not None:
            return target.write(text)
        if self._passthrough is None:  # e.g. GUI Blender on Windows has no console
            return len(text)
        return self._passthrough.write(text)

    def flush(self):
        if self._passthrough is not None and threading.get_ident() not in self._targets:
            self._passthrough.flush()

    def isatty(self):
        return bool(self._passthrough is not None and self._passthrough.isatty())

    def fileno(self):
        if self._passthrough is None:
            raise io.UnsupportedOperation("fileno")
        return self._passthrough.fileno()


class _RoutedLogHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.targets = {}  # thread ident -> _LogRecords

    def emit(self, record):
        target = self.targets.get(record.thread)
        if target is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception as exc:  # a bad format string must not break the job
            message = f"<log message could not be formatted: {exc}>"
        target.append({"source": "logging", "level": record.levelname, "logger": record.name, "message": message})


class _FdRedirect:
    """Points fds 1 and 2 at a temporary file around a job, to catch Blender's C-level output."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._fd = self._file.fileno()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        try:
            self._fflush = ctypes.CDLL(None).fflush  # C stdio buffers must be flushed around dup2
            self._fflush.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError):
            self._fflush = None

    def saved_fd(self, fd):
        return self._saved[fd]

    def _flush_c(self):
        if self._fflush is not None:
            self._fflush(None)

    def start(self):
        self._flush_c()
        os.dup2(self._fd, 1)
        os.dup2(self._fd, 2)

    def stop(self):
        self._flush_c()
        os.dup2(self._saved[1], 1)
        os.dup2(self._saved[2], 2)
        size = os.lseek(self._fd, 0, os.SEEK_END)
        if size == 0:
            return ""
        os.lseek(self._fd, 0, os.SEEK_SET)
        data = os.read(self._fd, size)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        return data.decode("utf-8", "backslashreplace")

    def close(self):
        for fd in self._saved.values():
            os.close(fd)
        self._file.close()


class JobOutput:
    """What one job wrote, once capture has ended."""

    __slots__ = ("stdout", "stderr", "logs", "_thread", "_limit")

    def __init__(self, thread_ident, limit):
        self._thread = thread_ident
        self._limit = limit
        self.stdout = _Buffer(limit)
        self.stderr = _Buffer(limit)
        self.logs = _LogRecords(limit)

    def as_dict(self):
        return {"stdout": self.stdout.getvalue(), "stderr": self.stderr.getvalue(), "logs": self.logs.as_list()}


class OutputCapture:
    """Installed once per service; ``begin``/``end`` bracket each job on the thread that runs it."""

    def __init__(self, max_bytes, capture_fds=True):
        self.max_bytes = max_bytes
        self._capture_fds = capture_fds
        self._installed = False
        self._fd_redirect = None
        self._handler = _RoutedLogHandler()
        self._originals = None
        self._streams = ()
        self._passthrough_files = []

    def install(self):
        if self._installed:
            return
        self._originals = (sys.stdout, sys.stderr)
        for stream in self._originals:
            if stream is not None:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        if self._capture_fds:
            try:
                self._fd_redirect = _FdRedirect()
            except OSError:
                self._fd_redirect = None
        outs = []
        for fd, original in ((1, sys.stdout), (2, sys.stderr)):
            outs.append(self._passthrough(fd, original))
        self._streams = (RoutedStream("<stdout>", outs[0]), RoutedStream("<stderr>", outs[1]))
        sys.stdout, sys.stderr = self._streams
        logging.getLogger().addHandler(self._handler)
        self._installed = True

    def _passthrough(self, fd, original):
        """Where writes from threads that are not capturing go: the original fd, even mid-job."""
        if self._fd_redirect is None or original is None:
            return original
        try:
            stream = open(
                os.dup(self._fd_redirect.saved_fd(fd)),
                "w",
                buffering=1,
                encoding=getattr(original, "encoding", None) or "utf-8",
                errors="backslashreplace",
                closefd=True,
            )
        except OSError:
            return original
        self._passthrough_files.append(stream)
        return stream

    def uninstall(self):
        if not self._installed:
            return
        for stream in self._streams:
            stream.flush()
        # Only put the originals back where our streams still stand (user code may have swapped them).
        if sys.stdout is self._streams[0]:
            sys.stdout = self._originals[0]
        if sys.stderr is self._streams[1]:
            sys.stderr = self._originals[1]
        self._streams = ()
        logging.getLogger().removeHandler(self._handler)
        for stream in self._passthrough_files:
            try:
                stream.close()
            except OSError:
                pass
        self._passthrough_files = []
        if self._fd_redirect is not None:
            self._fd_redirect.close()
            self._fd_redirect = None
        self._installed = False

    def begin(self):
        """Start capturing the calling thread. Returns the JobOutput to pass to ``end``."""
        ident = threading.get_ident()
        out = JobOutput(ident, self.max_bytes)
        if not self._installed:
            return out
        self._streams[0]._targets[ident] = out.stdout
        self._streams[1]._targets[ident] = out.stderr
        self._handler.targets[ident] = out.logs
        if self._fd_redirect is not None:
            self._fd_redirect.start()
        return out

    def end(self, out):
        if not self._installed:
            return out
        ident = out._thread
        if self._fd_redirect is not None:
            blender_text = self._fd_redirect.stop()
            for line in blender_text.splitlines():
                if line.strip():
                    out.logs.append({"source": "blender", "message": line})
        for stream in self._streams:
            stream._targets.pop(ident, None)
        self._handler.targets.pop(ident, None)
        return out
