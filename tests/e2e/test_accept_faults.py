"""The accept loop of a real Blender (3.4 and 5.0) under what the operating system throws at it:
running out of file descriptors, and a socket option that cannot be set on an accepted
connection. It keeps serving, and backs off instead of spinning (server.py; the backoff
schedule itself is unit-tested in tests/unit/test_auth.py)."""

import os
import resource
import socket

import pytest

from wire_client import Client


def _open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("kind", ["bg", "bpy5"])
def test_out_of_descriptors_the_server_backs_off_and_serves_again_once_they_are_freed(spawn, kind):
    instance = spawn(kind)
    control = instance.client()  # authenticated before the limit: it must keep working
    assert control.call("status")["result"]["accept_errors"] == 0
    soft, hard = resource.prlimit(instance.pid, resource.RLIMIT_NOFILE)
    # Room for a few more descriptors only: the strangers below use them up.
    resource.prlimit(instance.pid, resource.RLIMIT_NOFILE, (_open_fds(instance.pid) + 4, hard))
    held = []
    try:
        # Connections past the limit complete at the TCP level (the kernel queues them) but the
        # server cannot accept them: accept() fails with EMFILE.
        for _ in range(12):
            held.append(socket.create_connection(("127.0.0.1", instance.port), timeout=10))
        status = control.call("status")["result"]
        while status["accept_errors"] == 0:  # each failure is counted as it happens
            status = control.call("status")["result"]
        assert control.execute("6 * 7")["result"] == 42, "an existing client is served meanwhile"
    finally:
        for sock in held:
            sock.close()
        resource.prlimit(instance.pid, resource.RLIMIT_NOFILE, (soft, hard))
    with instance.client() as fresh:  # descriptors freed: new clients are served again
        assert fresh.execute("1 + 1")["result"] == 2
    assert instance.alive()


SETSOCKOPT_FAULT = """
import bld_remote
server = bld_remote.get_service().server

class _NoSetsockopt:
    def __init__(self, sock):
        self.sock = sock
    def setsockopt(self, *args):
        raise OSError(22, "Invalid argument (injected by the test)")
    def __getattr__(self, name):
        return getattr(self.sock, name)

class _Listener:
    def __init__(self, real):
        self.real, self.faults = real, 1
    def accept(self):
        client, address = self.real.accept()
        if self.faults:
            self.faults -= 1
            return _NoSetsockopt(client), address
        return client, address
    def __getattr__(self, name):
        return getattr(self.real, name)

server._sock = _Listener(server._sock)
"""


@pytest.mark.parametrize("kind", ["bg", "bpy5"])
def test_a_setsockopt_failure_on_one_connection_does_not_stop_the_accept_thread(spawn, kind):
    instance = spawn(kind)
    with instance.client() as c:
        c.ok(SETSOCKOPT_FAULT)
    # The accept thread was blocked in the real socket's accept(): one connection brings it back
    # to its loop, which then uses the faulty listener for the next one.
    with instance.client() as primer:
        assert primer.call("ping")["result"]["pong"] is True
    doomed = Client(instance.port)
    try:
        assert doomed.read_until_closed(timeout=10) == b"", "that one connection is closed"
    finally:
        doomed.close()
    with instance.client() as after:
        assert after.execute("6 * 7")["result"] == 42
        threads = after.ok("import threading\n[t.name for t in threading.enumerate()]")["result"]
        assert "bld-remote-accept" in threads
