"""Resident memory of this process, for job metadata and status. Pure module (no bpy)."""

import os
import sys

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm_fd = None


def _read_statm():
    # Read twice per job: keep the file open and pread it (a fresh open costs ~10 us).
    global _statm_fd
    if _statm_fd is None:
        _statm_fd = os.open("/proc/self/statm", os.O_RDONLY)
    return os.pread(_statm_fd, 128, 0)


def rss_bytes():
    """Current RSS in bytes (Linux: /proc; elsewhere the peak from getrusage), or None."""
    try:
        return int(_read_statm().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None
