"""Memory and CPU of a process from Linux /proc (what the report's memory figures are made of)."""

import os
import threading
import time


def _status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_mib(pid):
    """Resident set size now."""
    return round(_status_kib(pid, "VmRSS") / 1024, 1)


def peak_rss_mib(pid):
    """The highest RSS since start, or since the last reset_peak_rss()."""
    return round(_status_kib(pid, "VmHWM") / 1024, 1)


def reset_peak_rss(pid):
    """Restart the VmHWM high-water mark at the current RSS (writing 5 to clear_refs), so a
    peak can be measured around one call. Returns False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread, for the peak under load
    (VmHWM would also count what happened before the window)."""

    def __init__(self, pid, interval=0.1):
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(rss_mib(self.pid))
            except (OSError, LookupError):
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self):
        return max(self.samples) if self.samples else None


def wait_quiet(seconds=1.0):
    """Let the machine settle between phases (pending frees, writes of the previous phase)."""
    time.sleep(seconds)
