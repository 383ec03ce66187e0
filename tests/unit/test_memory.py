import os

from bld_remote_mcp.engine import memory


def _vmrss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def test_rss_is_a_plausible_positive_number():
    rss = memory.rss_bytes()
    assert isinstance(rss, int)
    assert 1024 * 1024 < rss < 64 * 1024**3


def test_rss_matches_the_kernel_report():
    if not os.path.exists("/proc/self/status"):
        return
    rss, reference = memory.rss_bytes(), _vmrss_bytes()
    assert abs(rss - reference) < 16 * 1024 * 1024


def test_rss_grows_when_memory_is_touched():
    before = memory.rss_bytes()
    block = bytearray(64 * 1024 * 1024)  # zero-filled by the allocator: pages get touched
    for i in range(0, len(block), 4096):
        block[i] = 1
    after = memory.rss_bytes()
    del block
    assert after - before > 48 * 1024 * 1024


def break_proc(monkeypatch, read):
    """Make the /proc read behave like ``read()`` however memory.py reads it."""
    if hasattr(memory, "_read_statm"):
        monkeypatch.setattr(memory, "_read_statm", read)
    else:
        class FakeFile:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def read(self):
                return read()

        monkeypatch.setattr(memory, "open", lambda *a, **k: FakeFile(), raising=False)


def test_falls_back_to_getrusage_without_proc(monkeypatch):
    def no_proc():
        raise OSError("no /proc here")

    break_proc(monkeypatch, no_proc)
    import resource

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = memory.rss_bytes()
    assert rss is not None and abs(rss - peak_kib * 1024) < 16 * 1024 * 1024


def test_garbage_in_statm_falls_back(monkeypatch):
    import resource

    break_proc(monkeypatch, lambda: b"garbage")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert abs(memory.rss_bytes() - peak_kib * 1024) < 16 * 1024 * 1024


def test_repeated_reads_stay_consistent():
    values = [memory.rss_bytes() for _ in range(100)]
    assert all(isinstance(v, int) and v > 0 for v in values)
    assert max(values) - min(values) < 32 * 1024 * 1024
