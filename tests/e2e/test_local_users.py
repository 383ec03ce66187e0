"""Local-attacker hardening, played out with two real local users against real Blender processes.

What is tested (README "Security by default", docs/protocol.md §1 and §1a):

1. The attacker cannot read the victim's token, instance records, logs or run files, even when the
   victim keeps its state in a directory the attacker can traverse; the victim's state dirs are
   0700 and its files 0600.
2. The attacker cannot plant a directory or file the victim then uses: a state dir the attacker
   made, a ``tokens/`` dir the attacker made in a state dir that was open to others, a state dir
   below a directory the attacker owns. Blender refuses to start (exit code 2, the path and the
   fix on stderr), ``bld-remote start`` refuses too, ``exec`` refuses the planted token, and a
   planted instance record naming a process of the victim's never gets that process signalled
   by ``status`` or ``stop``.
3. The attacker cannot win the ``::1`` / ``127.0.0.1`` race: with Blender on 127.0.0.1:P and the
   attacker listening on [::1]:P, ``localhost`` reaches Blender, and ``--host ::1`` is refused
   (another user's socket, exit code 3) before a single byte is sent, ``--allow-no-auth`` or not.
4. A token file another user wrote, or one others could read, is never used: the client names the
   file and why, and the attacker's listener, though it proves that very token, receives nothing
   derived from it.

How the attacker is played: a throw-away user ``bldtest-<random>`` (no home, no login shell),
made with ``useradd`` for this module and removed with ``userdel`` afterwards. Its programs are
small Python scripts run with ``subprocess`` under its uid and gid (no supplementary groups, a
minimal environment, a Python from /usr/bin since root's may live under /root): ``ATTACKER_TOOL``
makes, writes, reads and lists files, and ``IMPOSTOR`` listens on a loopback port, logs every
connection and every byte it receives, and answers like a bld-remote server (a fake ``hello``,
or, given the token, a challenge with a correct proof). The victim is this test process (root):
Blenders from the e2e harness, and the ``bld-remote`` CLI run with an isolated environment.

The victim's state lives below a directory the attacker CAN traverse (0755, or a sticky 1777
"shared" dir), never in a private temp dir: only bld-remote's own permission handling protects it.
Root reads every file regardless of its mode, so whatever is refused below is refused because of
its owner or mode, not because the victim could not read it.

Synchronisation without sleeps: the impostor serves one connection at a time, to its end; after
the victim's command has exited the test connects itself and sends a sentinel line, and the
impostor's answer to it means every earlier connection has been logged in full.
"""

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bld_remote_mcp.wire import handshake
from harness import REPO, HarnessError, Instance

BINARY = REPO / "target" / "debug" / "bld-remote"
CLI_TIMEOUT = 180


# -- the attacker's programs ---------------------------------------------------------------------

# One script for every file operation the attacker makes. argv[1] is a JSON list of operations;
# it prints one result per operation: "ok", what was read or listed, or the exception's name.
ATTACKER_TOOL = r'''
import json, os, sys

def start_time(pid):
    # Field 22 of /proc/PID/stat, counted after the closing parenthesis of the command name:
    # what bld-remote records to recognise a process ("process_start").
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read()
    return int(stat[stat.rfind(")") + 1:].split()[19])

def run(op):
    kind, path = op[0], op[1]
    if kind == "mkdir":
        os.mkdir(path)
        os.chmod(path, op[2])
        return "ok"
    if kind == "write":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(op[2])
        os.chmod(path, op[3])
        return "ok"
    if kind == "record":  # an instance record naming process op[2], port op[3]
        pid, port = op[2], op[3]
        record = {"port": port, "host": "127.0.0.1", "pid": pid, "process_start": start_time(pid),
                  "mode": "background", "blender_version": "3.4.1", "addon_version": "0.1.0",
                  "blender_path": "/usr/bin/blender", "started_at": 1, "log": None,
                  "detached": True, "auth": True}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        return "ok"
    if kind == "rename":
        os.rename(path, op[2])
        return "ok"
    if kind == "read":
        with open(path) as handle:
            return handle.read()
    if kind == "list":
        return sorted(os.listdir(path))
    raise ValueError(kind)

results = []
for op in json.loads(sys.argv[1]):
    try:
        results.append(run(op))
    except OSError as exc:
        results.append(type(exc).__name__)
print(json.dumps(results))
'''

# A listener that pretends to be bld-remote. argv: host port log_path [token binding].
# Prints its port once listening. Serves one connection at a time, to its end, logging
# {"conn", "event": connect|data|sentinel|close, ...} lines; answers every line with a fake
# hello (auth off), or, given a token, `hello` with a challenge carrying a correct proof.
IMPOSTOR = r'''
import base64, hashlib, hmac, json, os, socket, sys

SENTINEL = b"bld-test-sentinel"

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def proof(token, role, server_nonce, client_nonce, binding):
    transcript = "\n".join(["bld-remote/2", role, server_nonce, client_nonce, binding]).encode()
    return b64(hmac.new(token.encode(), transcript, hashlib.sha256).digest())

def answer(line, token, binding, port):
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    message = message if isinstance(message, dict) else {}
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    client_nonce = params.get("client_nonce")
    if token and message.get("type") == "hello" and isinstance(client_nonce, str):
        server_nonce = b64(os.urandom(32))
        result = {"protocol_version": 2, "server": "bld-remote", "auth_required": True,
                  "authenticated": False,
                  "auth": {"scheme": "hmac-sha256", "server_nonce": server_nonce,
                           "server_proof": proof(token, "server", server_nonce, client_nonce, binding)}}
    else:
        result = {"protocol_version": 2, "server": "bld-remote", "auth_required": bool(token),
                  "authenticated": True, "addon_version": "0.1.0", "blender_version": "3.4.1",
                  "mode": "background", "pid": os.getpid(), "port": port}
    reply = {"id": message.get("id"), "status": "success", "result": result, "error": None}
    return json.dumps(reply).encode() + b"\n"

def serve(conn, number, log, token, binding, port):
    def event(kind, **extra):
        log.write(json.dumps(dict(conn=number, event=kind, **extra)) + "\n")
        log.flush()
    event("connect")
    conn.settimeout(60)
    buffered = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            event("data", hex=chunk.hex())
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                if line.strip() == SENTINEL:
                    event("sentinel")
                    conn.sendall(b"sentinel-ok\n")
                    return
                conn.sendall(answer(line, token, binding, port))
    except OSError as exc:
        event("error", error=repr(exc))
    finally:
        event("close")
        conn.close()

def main():
    host, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    token, binding = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, port))
    server.listen(16)
    port = server.getsockname()[1]
    if binding == "AUTO":
        binding = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    log = open(log_path, "a")
    print(port, flush=True)
    number = 0
    while True:
        conn, _peer = server.accept()
        number += 1
        serve(conn, number, log, token, binding, port)

if __name__ == "__main__":
    main()
'''


@dataclass
class Impostor:
    """The attacker's listener: its process, port and log."""

    proc: subprocess.Popen
    host: str
    port: int
    log: Path

    def connections(self):
        """What each connection (but the test's own sentinel) sent, once all were served:
        ``[{"data": bytes, "closed": bool}, ...]``."""
        with socket.create_connection((self.host, self.port), timeout=30) as sock:
            sock.sendall(b"bld-test-sentinel\n")
            assert sock.makefile("rb").readline() == b"sentinel-ok\n", "the impostor did not answer"
        conns = {}
        for line in self.log.read_text().splitlines():
            entry = json.loads(line)
            conn = conns.setdefault(entry["conn"], {"data": b"", "closed": False, "sentinel": False})
            if entry["event"] == "data":
                conn["data"] += bytes.fromhex(entry["hex"])
            elif entry["event"] == "close":
                conn["closed"] = True
            elif entry["event"] == "sentinel":
                conn["sentinel"] = True
        return [c for c in conns.values() if not c["sentinel"]]

    def requests(self):
        """The request types each connection sent, parsed from its bytes."""
        return [[json.loads(line).get("type") for line in c["data"].splitlines() if line.strip()]
                for c in self.connections()]


@dataclass
class Attacker:
    """The throw-away user, and every process this module ran as that user."""

    name: str
    uid: int
    gid: int
    python: str = ""
    started: list = field(default_factory=list)

    def _as_me(self):
        """subprocess arguments that run a program as the attacker: its uid and gid only, and a
        minimal environment (nothing of the victim's leaks through variables)."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        return dict(user=self.name, group=self.name, extra_groups=[], env=env, cwd="/")

    def run(self, args, timeout=60):
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **self._as_me())

    def do(self, *ops):
        """Runs ATTACKER_TOOL on ``ops``; one result per operation."""
        done = self.run([self.python, "-c", ATTACKER_TOOL, json.dumps([list(map(_jsonable, op)) for op in ops])])
        assert done.returncode == 0, f"the attacker's tool failed: {done.stderr}"
        return json.loads(done.stdout)

    def plant(self, *ops):
        """Like ``do``, insisting that every operation succeeded (the attack's premise)."""
        results = self.do(*ops)
        assert results == ["ok"] * len(ops), f"the attacker could not plant: {list(zip(ops, results))}"

    def impostor(self, home, host, port=0, token=None, binding="AUTO", as_victim=False):
        """Starts IMPOSTOR on host:port (0: any free port) as the attacker, logging into ``home``
        (a dir of the attacker's); returns it once it listens. With ``token`` it proves that
        token for ``binding`` (AUTO: the address it listens on). ``as_victim`` runs it as the
        victim instead, for tests where the socket's owner must not be what refuses it."""
        log = Path(home) / f"impostor-{secrets.token_hex(4)}.log"
        errors = log.with_suffix(".err")
        args = [self.python, "-c", IMPOSTOR, host, str(port), str(log)]
        if token is not None:
            args += [token, binding]
        with open(errors, "wb") as stderr:
            run_as = {} if as_victim else self._as_me()
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, **run_as)
        self.started.append(proc)
        line = proc.stdout.readline()  # blocks until it listens, or ends with its death
        if not line.strip():
            proc.wait(30)
            raise AssertionError(f"the impostor did not listen on {host}: {errors.read_text()}")
        return Impostor(proc, host, int(line), log)

    def stop_processes(self):
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
            proc.stdout.close()
        self.started.clear()


def _jsonable(value):
    return str(value) if isinstance(value, Path) else value


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def attacker():
    """A throw-away local user, removed at the end of the module (also when a test fails)."""
    if os.geteuid() != 0:
        pytest.fail("tests/e2e/test_local_users.py needs root: it creates throw-away users "
                    "(useradd/userdel) to play the local attacker. Run it as root (CI does).")
    name = f"bldtest-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=60)
    user = None
    try:
        entry = pwd.getpwnam(name)
        user = Attacker(name, entry.pw_uid, entry.pw_gid)
        user.python = _python_for(user)
        yield user
    finally:
        if user is not None:
            user.stop_processes()  # userdel refuses a user with running processes
        removed = subprocess.run(["userdel", name], capture_output=True, text=True, timeout=60)
        assert removed.returncode == 0, f"userdel {name} failed: {removed.stderr}"


def _python_for(user):
    """A Python the attacker can run: root's own may live under /root, which it cannot enter."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3") or ""):
        if candidate and os.path.exists(candidate):
            if user.run([candidate, "-c", "print('ok')"]).stdout.strip() == "ok":
                return candidate
    pytest.fail("no Python that the throw-away user can run (looked for /usr/bin/python3)")


@pytest.fixture
def yard(attacker):
    """A fresh directory the attacker can traverse (0755, root's), holding a directory of the
    attacker's (``yard / "attacker"``, 0755: its impostors' logs) and a private one of the victim's
    (``yard / "victim"``, 0700: what needs no exposure, such as Blender's own config and temp files)."""
    base = Path(tempfile.mkdtemp(prefix="bld-local-users-", dir="/tmp"))
    os.chmod(base, 0o755)
    home = base / "attacker"
    home.mkdir(mode=0o755)
    os.chown(home, attacker.uid, attacker.gid)
    (base / "victim").mkdir(mode=0o700)
    try:
        yield base
    finally:
        attacker.stop_processes()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def cli():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run `cargo build --workspace --bins` first")
    return BINARY


@pytest.fixture
def victim_sleep():
    """A process of the victim's that nothing in these tests may signal."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


# -- the victim's side ---------------------------------------------------------------------------

def victim_env(yard, state_dir, cache_home=None, **extra):
    """The environment of the victim's CLI (and of the Blender it starts): bld-remote's state in
    ``state_dir``, no config file, nothing inherited from a BLD_REMOTE_* variable of the caller."""
    # RUST_LOG too: the warnings naming ignored files are asserted below.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLD_REMOTE") and k != "RUST_LOG"}
    private = yard / "victim"
    for sub in ("blender-config", "blender-scripts", "tmp"):
        (private / sub).mkdir(mode=0o700, exist_ok=True)
    env.update(
        BLD_REMOTE_STATE_DIR=str(state_dir),
        BLD_REMOTE_CONFIG=str(private / "no-config.toml"),
        XDG_CACHE_HOME=str(cache_home or private / "cache"),
        BLENDER_USER_CONFIG=str(private / "blender-config"),
        BLENDER_USER_SCRIPTS=str(private / "blender-scripts"),
        TMPDIR=str(private / "tmp"),
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def bld_remote(cli, env, *args, timeout=CLI_TIMEOUT):
    return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def free_port():
    """A port nothing listens on (for a record that must lead nowhere)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class WatchedInstance(Instance):
    """A harness Instance that stays inspectable when its start fails: its exit code and stderr."""

    last = None

    def __init__(self, *args, **kwargs):
        WatchedInstance.last = self
        super().__init__(*args, **kwargs)


def blender_refuses(state_dir, *fragments):
    """Starts Blender with the addon and ``state_dir``; asserts it exits with code 2 before
    serving, with every fragment (the path, the reason, the fix) on its stderr."""
    try:
        instance = WatchedInstance("bg", env={"BLD_REMOTE_STATE_DIR": str(state_dir)}, ready_timeout=90)
    except HarnessError as exc:
        failed = WatchedInstance.last
        assert failed.proc.returncode == 2, exc
        stderr = failed.stderr_path.read_text(errors="replace")
    else:
        instance.stop()
        pytest.fail(f"Blender started with the planted state dir {state_dir}")
    refusal = [line for line in stderr.splitlines() if line.startswith("bld_remote_mcp: ")]
    assert refusal, stderr
    for fragment in fragments:
        assert fragment in refusal[-1], f"{fragment!r} missing from: {refusal[-1]}"


def stop_recorded(cli, env, record):
    """Stops a Blender the CLI started (by the CLI, then by its pid if that failed)."""
    bld_remote(cli, env, "stop", "--all", "--grace", "5")
    pid = record["pid"]
    if _start_time(pid) == record.get("process_start"):
        os.kill(pid, signal.SIGKILL)


def _start_time(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text[text.rfind(")") + 1:].split()[19])


# -- 1. nothing of the victim's is readable ------------------------------------------------------

def test_the_attacker_cannot_read_the_victims_token_records_or_logs(attacker, yard, cli):
    state = yard / "state"
    cache_home = yard / "cache"  # Blender's own cache dir, traversable: only bld-remote's subdir is private
    cache_home.mkdir(mode=0o755)
    env = victim_env(yard, state, cache_home=cache_home)
    started = bld_remote(cli, env, "start", "--background", "--detach", "--port", "0", "--json")
    assert started.returncode == 0, started.stderr
    record = json.loads(started.stdout)
    try:
        port, log = record["port"], Path(record["log"])
        token_file = state / "tokens" / f"{port}.token"
        record_file = state / "instances" / f"{port}.json"
        assert token_file.is_file() and record_file.is_file() and log.is_file()
        assert log.parent == state / "logs"

        # Even knowing every name, the attacker can neither list nor read.
        probes = [("list", state), ("list", state / "tokens"), ("read", token_file),
                  ("list", state / "instances"), ("read", record_file),
                  ("list", state / "logs"), ("read", log), ("list", state / "run"),
                  ("list", cache_home / "bld-remote")]
        results = attacker.do(("list", yard), *probes)
        # Control: the directory above is open to the attacker, so the refusals below are
        # bld-remote's doing, not the test's.
        assert "state" in results[0], results[0]
        for (kind, path), result in zip(probes, results[1:]):
            assert result == "PermissionError", f"the attacker could {kind} {path}: {result!r}"

        # Every directory bld-remote keeps is 0700 and its own, every file 0600.
        assert os.stat(state).st_uid == os.getuid()
        for root, dirs, files in os.walk(state):
            assert mode_of(root) == 0o700, f"{root} is {mode_of(root):04o}"
            for name in files:
                path = Path(root) / name
                assert mode_of(path) == 0o600, f"{path} is {mode_of(path):04o}"
        for sub in ("tokens", "instances", "logs", "run"):
            assert (state / sub).is_dir()
        assert mode_of(cache_home / "bld-remote") == 0o700
    finally:
        stop_recorded(cli, env, record)
    assert not token_file.exists(), "the token goes away with Blender"


# -- 2. nothing the attacker plants is used ------------------------------------------------------

def _planted_by_the_attacker(attacker, yard, plant_files):
    """The attacker makes the whole state dir in a sticky shared dir, before the victim does."""
    shared = yard / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    state = shared / "state"
    attacker.plant(("mkdir", state, 0o700), ("mkdir", state / "tokens", 0o700),
                   ("mkdir", state / "instances", 0o700))
    plant_files(state)
    return state, state, [f"{state} belongs to user {attacker.name} (uid {attacker.uid}), not to you",
                          "remove it (or choose another BLD_REMOTE_STATE_DIR)"]


def _tokens_in_an_open_state_dir(attacker, yard, plant_files):
    """The victim's own state dir is world-writable: the attacker makes ``tokens/`` and
    ``instances/`` in it."""
    state = yard / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    attacker.plant(("mkdir", state / "tokens", 0o700), ("mkdir", state / "instances", 0o700))
    plant_files(state)
    return state, state, [f"{state} can be written by other users (mode 0777)", f"chmod 700 {state}"]


def _tokens_left_after_chmod_700(attacker, yard, plant_files):
    """As above, then the victim narrows its state dir to 0700 (the fix the refusal suggests)
    without looking inside: the attacker's ``tokens/`` and ``instances/`` stay."""
    state, _, _ = _tokens_in_an_open_state_dir(attacker, yard, plant_files)
    os.chmod(state, 0o700)
    tokens = state / "tokens"
    return state, tokens, [f"{tokens} belongs to user {attacker.name} (uid {attacker.uid}), not to you"]


def _below_a_dir_the_attacker_owns(attacker, yard, plant_files):
    """The victim's state dir (its own, 0700) sits in a directory the attacker owns: the attacker
    moves it aside and puts its own in its place."""
    parent = yard / "attacker"
    state = parent / "state"
    state.mkdir(mode=0o700)
    (state / "instances").mkdir(mode=0o700)
    attacker.plant(("rename", state, parent / "state.old"), ("mkdir", state, 0o700),
                   ("mkdir", state / "tokens", 0o700), ("mkdir", state / "instances", 0o700))
    plant_files(state)
    return state, parent, [f"{parent} belongs to user {attacker.name} (uid {attacker.uid})",
                           "keep bld-remote's state in a directory of your own (BLD_REMOTE_STATE_DIR)"]


PLANTINGS = {
    "attacker-made-state-dir": _planted_by_the_attacker,
    "attacker-tokens-in-world-writable-state-dir": _tokens_in_an_open_state_dir,
    "attacker-tokens-left-after-chmod-700": _tokens_left_after_chmod_700,
    "state-dir-below-an-attacker-dir": _below_a_dir_the_attacker_owns,
}


def _planted_files(state):
    return {p.relative_to(state): p.read_bytes() for sub in ("tokens", "instances")
            for p in (state / sub).rglob("*")}


@pytest.mark.parametrize("planting", PLANTINGS.values(), ids=PLANTINGS.keys())
def test_a_planted_state_dir_is_refused_and_its_files_never_used(attacker, yard, cli, bg, victim_sleep, planting):
    record_port = free_port()  # nothing listens there: a trusted record would end in SIGTERM
    planted_token = "attacker-chosen-token-0123456789abcdef"

    def plant_files(state):
        # A token for the victim's real Blender, and a record naming the victim's sleep process
        # (pid and start time right, so that only the owner checks can stop it).
        attacker.plant(("write", state / "tokens" / f"{bg.port}.token", planted_token, 0o600),
                       ("record", state / "instances" / f"{record_port}.json", victim_sleep.pid, record_port))

    state, unsafe, fragments = planting(attacker, yard, plant_files)
    planted = _planted_files(state)
    assert len(planted) == 2
    env = victim_env(yard, state)

    # The addon refuses to write its token there.
    blender_refuses(state, *fragments)

    # `bld-remote start` refuses before starting anything.
    started = bld_remote(cli, env, "start", "--background", "--detach", "--port", "0", "--json")
    if started.returncode == 0:
        stop_recorded(cli, env, json.loads(started.stdout))
        pytest.fail(f"bld-remote start used the planted state dir {state}")
    assert any(f"{unsafe} {why}" in started.stderr for why in ("belongs to", "can be written")), started.stderr

    # `exec` does not take the planted token file for the victim's Blender.
    ran = bld_remote(cli, env, "exec", "--port", str(bg.port), "6*7")
    assert ran.returncode != 0 and "42" not in ran.stdout, ran.stdout + ran.stderr
    # Named: the tokens dir, or the directory above it that the attacker owns or may write to.
    assert str(state) in ran.stderr and (f"uid {attacker.uid}" in ran.stderr
                                         or "can be written by other users" in ran.stderr), ran.stderr

    # `status` and `stop` ignore the planted record: the sleep process is never signalled.
    status = bld_remote(cli, env, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert not [row for row in rows if row["port"] == record_port or row.get("pid") == victim_sleep.pid], rows
    ignored = f"instance records ignored: {state}"
    why = (f"belongs to uid {attacker.uid}", "can be written by other users")
    assert ignored in status.stderr and any(w in status.stderr for w in why), status.stderr
    stopped = bld_remote(cli, env, "stop", "--all", "--grace", "5")
    assert stopped.returncode == 0, stopped.stderr
    assert ignored in stopped.stderr, stopped.stderr
    assert "no Blender started by bld-remote is running" in stopped.stdout, stopped.stdout
    by_port = bld_remote(cli, env, "stop", "--port", str(record_port), "--grace", "5")
    assert by_port.returncode != 0, by_port.stdout
    # `stop` waits until a process it signalled is gone (a zombie counts): had it signalled the
    # sleep, poll() would now return its exit status.
    assert victim_sleep.poll() is None, "the planted record got the victim's process signalled"
    assert _planted_files(state) == planted, "the victim changed nothing the attacker planted"


def test_control_the_same_record_written_by_the_victim_is_trusted(attacker, yard, cli):
    """Shows that the planted record above is one `stop` acts on when the victim wrote it
    (private dir, 0600): what spared the sleep process was the owner check alone."""
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        record_port = free_port()
        shared = yard / "shared"
        shared.mkdir()
        os.chmod(shared, 0o1777)
        attacker.plant(("record", shared / "record.json", sleeper.pid, record_port))
        state = yard / "state"
        state.mkdir(mode=0o700)
        (state / "instances").mkdir(mode=0o700)
        own = state / "instances" / f"{record_port}.json"
        own.write_bytes((shared / "record.json").read_bytes())
        os.chmod(own, 0o600)
        env = victim_env(yard, state)
        rows = json.loads(bld_remote(cli, env, "status", "--json").stdout)
        assert [row["pid"] for row in rows if row["port"] == record_port] == [sleeper.pid]
        stopped = bld_remote(cli, env, "stop", "--all", "--grace", "5")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "stopped with SIGTERM" in stopped.stdout, stopped.stdout
        assert sleeper.poll() == -signal.SIGTERM
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        sleeper.wait(30)


# -- 3. the ::1 / 127.0.0.1 race -----------------------------------------------------------------

@pytest.fixture
def raced_blender(attacker, yard):
    """An impostor of the attacker's on [::1]:P and the victim's Blender on 127.0.0.1:P."""
    for _attempt in range(3):
        impostor = attacker.impostor(yard / "attacker", "::1")
        try:
            instance = Instance("bg", port=impostor.port)
        except HarnessError as exc:
            if "in use" not in str(exc):
                raise
            attacker.stop_processes()  # 127.0.0.1:P was taken: another port
            continue
        try:
            yield instance, impostor
        finally:
            instance.stop()
        return
    pytest.fail("no port free on both ::1 and 127.0.0.1 in three tries")


def test_localhost_reaches_blender_not_the_attacker_on_ipv6(attacker, yard, cli, raced_blender):
    blender, impostor = raced_blender
    env = victim_env(yard, blender.env["BLD_REMOTE_STATE_DIR"])
    for host in ("localhost", "127.0.0.1"):
        ran = bld_remote(cli, env, "exec", "--host", host, "--port", str(blender.port), "6*7")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip().splitlines()[-1] == "42", ran.stdout
    assert impostor.connections() == [], "localhost means 127.0.0.1: nothing reached [::1]"


@pytest.mark.parametrize("extra", [[], ["--allow-no-auth"]], ids=["default", "allow-no-auth"])
def test_the_attackers_ipv6_listener_gets_not_one_byte(attacker, yard, cli, raced_blender, extra):
    blender, impostor = raced_blender
    env = victim_env(yard, blender.env["BLD_REMOTE_STATE_DIR"])
    ran = bld_remote(cli, env, "exec", *extra, "--host", "::1", "--port", str(blender.port), "6*7")
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "42" not in ran.stdout
    assert f"[::1]:{blender.port}" in ran.stderr and "belongs to another user" in ran.stderr, ran.stderr
    assert f"uid {attacker.uid}" in ran.stderr and "nothing was sent" in ran.stderr, ran.stderr
    conns = impostor.connections()
    # The client did connect (that is how it learns which socket it reached), then checked the
    # socket's owner in /proc/net/tcp6 and closed without writing.
    assert conns, "the client never reached the impostor: the test proves nothing"
    assert [c["data"] for c in conns] == [b""] * len(conns), f"bytes reached the attacker: {conns}"
    # The real Blender is untouched and still answers.
    with blender.client() as client:
        assert client.execute("6*7")["result"] == 42


def test_declaring_a_tunnel_does_not_open_the_door_to_another_users_listener(attacker, yard, cli, raced_blender):
    """--server-address (a forward the user set up) relaxes the owner check to the user or root
    (ssh runs as the user, Docker's proxy as root), never to another user; and --allow-no-auth
    does not apply through a tunnel at all."""
    blender, impostor = raced_blender
    env = victim_env(yard, blender.env["BLD_REMOTE_STATE_DIR"])
    ran = bld_remote(cli, env, "exec", "--allow-no-auth", "--server-address", f"[::1]:{blender.port}",
                     "--host", "::1", "--port", str(blender.port), "6*7")
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "belongs to another user" in ran.stderr and f"uid {attacker.uid}" in ran.stderr, ran.stderr
    conns = impostor.connections()
    assert conns and [c["data"] for c in conns] == [b""] * len(conns), f"bytes reached the attacker: {conns}"


# -- 4. planted or exposed token files -----------------------------------------------------------

TOKEN = "token-the-attacker-knows-0123456789abcdef"


def _attacker_wrote_it_then_victim_closed_the_dir(attacker, yard):
    """The attacker writes the file while the victim's dir is open, the victim then closes it."""
    folder = yard / "tokens"
    folder.mkdir()
    os.chmod(folder, 0o777)
    path = folder / "blender.token"
    attacker.plant(("write", path, TOKEN, 0o600))
    os.chmod(folder, 0o700)  # the victim's dir is private again; the attacker's file is still in it
    return path, [str(path), f"belongs to uid {attacker.uid}, not to you"]


def _attacker_wrote_it_in_the_shared_dir(attacker, yard):
    """The attacker's file in a sticky shared dir (/tmp-like): refused for the dir already."""
    shared = yard / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    path = shared / "blender.token"
    attacker.plant(("write", path, TOKEN, 0o644))
    return path, [str(shared), "mode 1777"]


def _victims_file_readable_by_others(attacker, yard):
    """The victim's own file, 0644: the attacker read it while the dir was open."""
    folder = yard / "tokens"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "blender.token"
    path.write_text(TOKEN)
    os.chmod(path, 0o644)
    assert attacker.do(("read", path)) == [TOKEN], "the attacker could read it while the dir was open"
    os.chmod(folder, 0o700)  # the dir is closed now, the file is still 0644
    return path, [str(path), "mode 0644"]


def _victims_file_in_a_readable_dir(attacker, yard):
    """The victim's own file, 0600, in a dir others can list (0755)."""
    folder = yard / "tokens"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "blender.token"
    path.write_text(TOKEN)
    os.chmod(path, 0o600)
    return path, [str(folder), "mode 0755"]


TOKEN_FILES = {
    "attacker-written": _attacker_wrote_it_then_victim_closed_the_dir,
    "attacker-written-in-sticky-dir": _attacker_wrote_it_in_the_shared_dir,
    "victim-owned-mode-0644": _victims_file_readable_by_others,
    "victim-owned-in-a-0755-dir": _victims_file_in_a_readable_dir,
}


def _exec_through_tunnel(cli, yard, impostor, token_file):
    """`exec` as for a Blender behind a tunnel (--server-address). The impostor that proves the
    token runs as the victim here, so that the socket-owner check (which refuses another user's
    listener, tunnel or not) passes and only the token file's own checks stand between the
    victim and it: an attacker who got the victim to run such a forwarder."""
    env = victim_env(yard, yard / "victim" / "state")
    address = f"127.0.0.1:{impostor.port}"
    return bld_remote(cli, env, "exec", "--host", "127.0.0.1", "--port", str(impostor.port),
                      "--token-file", str(token_file), "--server-address", address, "6*7")


@pytest.mark.parametrize("token_file", TOKEN_FILES.values(), ids=TOKEN_FILES.keys())
def test_an_untrustworthy_token_file_is_never_used(attacker, yard, cli, token_file):
    """The attacker knows the token in the file and listens with an impostor that proves it;
    the victim's client refuses the file, so the impostor gets the `hello` and nothing else."""
    path, fragments = token_file(attacker, yard)
    impostor = attacker.impostor(yard / "attacker", "127.0.0.1", token=TOKEN, as_victim=True)
    ran = _exec_through_tunnel(cli, yard, impostor, path)
    assert ran.returncode != 0 and "42" not in ran.stdout, ran.stdout + ran.stderr
    for fragment in fragments:
        assert fragment in ran.stderr, f"{fragment!r} missing from: {ran.stderr}"
    # The hello (a fresh client nonce) went out before the token was looked up; nothing after it.
    assert impostor.requests() == [["hello"]], impostor.connections()
    for conn in impostor.connections():
        assert b"client_proof" not in conn["data"] and TOKEN.encode() not in conn["data"]


def test_control_a_private_token_file_is_proven_to_whoever_proves_it(attacker, yard, cli):
    """The same impostor, with the token in a private file of the victim's: the client answers
    its challenge and sends the code. So the refusals above are what kept the token's proof
    and the code from the attacker."""
    folder = yard / "victim" / "tokens"
    folder.mkdir(mode=0o700)
    path = folder / "blender.token"
    path.write_text(TOKEN)
    os.chmod(path, 0o600)
    impostor = attacker.impostor(yard / "attacker", "127.0.0.1", token=TOKEN, as_victim=True)
    _exec_through_tunnel(cli, yard, impostor, path)
    assert impostor.requests() == [["hello", "authenticate", "execute_code"]], impostor.connections()


def test_the_impostor_proves_like_the_addon():
    """The impostor's proof is the protocol's (test vectors of docs/protocol.md §1a)."""
    namespace = {"__name__": "impostor"}
    exec(compile(IMPOSTOR, "impostor", "exec"), namespace)  # noqa: S102 - our own source
    server_nonce = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    client_nonce = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"
    token = "bld-remote-test-token-0123456789"
    for binding in ("127.0.0.1:6688", "[::1]:6688"):
        for role in ("server", "client"):
            assert namespace["proof"](token, role, server_nonce, client_nonce, binding) == \
                handshake.proof(token, role, server_nonce, client_nonce, binding)
    assert namespace["proof"](token, "server", server_nonce, client_nonce, "127.0.0.1:6688") == \
        "GXMWWPAKmCxt1lT5ZXb2qPbJl-pwYwAuydZNqGc7Pt0"


def test_blenders_own_token_file_made_readable_is_refused(attacker, yard, cli, spawn):
    """The token file the addon wrote, later made 0644 (a careless copy, a backup tool): the
    client refuses it, naming the file and its mode, and nothing runs."""
    blender = spawn("bg")
    token_file = Path(blender.env["BLD_REMOTE_STATE_DIR"]) / "tokens" / f"{blender.port}.token"
    env = victim_env(yard, blender.env["BLD_REMOTE_STATE_DIR"])
    marker = yard / "victim" / "ran"
    code = f"open({str(marker)!r}, 'w').write('x'); 6*7"
    os.chmod(token_file, 0o644)
    ran = bld_remote(cli, env, "exec", "--port", str(blender.port), code)
    assert ran.returncode != 0 and "42" not in ran.stdout, ran.stdout + ran.stderr
    assert str(token_file) in ran.stderr and "mode 0644" in ran.stderr, ran.stderr
    assert not marker.exists()
    os.chmod(token_file, 0o600)  # control: private again, the same command runs
    ran = bld_remote(cli, env, "exec", "--port", str(blender.port), code)
    assert ran.returncode == 0 and ran.stdout.strip().splitlines()[-1] == "42", ran.stdout + ran.stderr
    assert marker.exists()
