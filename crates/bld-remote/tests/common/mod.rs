//! Shared by the integration tests: an isolated environment per test (state dir, cache, config,
//! Blender user dirs), running the real `bld-remote` binary, and a private Xvfb for GUI tests.
//! Every Blender a test starts is stopped by PID when its `Env` is dropped.
//!
//! A test that needs Blender (one it starts, `blender` on `PATH`, the bpy venvs, a GUI Blender
//! under Xvfb) is `#[ignore = "needs Blender: scripts/test.sh runs it"]`: a plain `cargo test`
//! runs the others and lists it as ignored; `scripts/test.sh` (and `cargo test --
//! --include-ignored`) runs it. There, a missing Blender fails it with what to install (the
//! helpers below panic saying so; `start` reports it as an error): it never skips itself.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bld-remote");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Blender executable on `PATH` (Debian's, installed by `scripts/bootstrap.sh`), found at
/// run time rather than assumed.
pub fn blender_binary() -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|dir| dir.join("blender"))
        .find(|candidate| candidate.is_file())
        .expect("blender on PATH: run scripts/bootstrap.sh")
}

/// The Python with PyPI `bpy` 5.0.1 that `scripts/bootstrap.sh` installs.
pub fn bpy5_python() -> PathBuf {
    let python = repo_root().join(".venv-bpy5/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/bootstrap.sh",
        python.display()
    );
    python
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let p = |sub: &str| {
            let path = dir.path().join(sub);
            std::fs::create_dir_all(&path).unwrap();
            path.display().to_string()
        };
        let vars = vec![
            ("BLD_REMOTE_STATE_DIR".into(), p("state")),
            (
                "BLD_REMOTE_CONFIG".into(),
                dir.path().join("config.toml").display().to_string(),
            ),
            ("XDG_CACHE_HOME".into(), p("cache")),
            ("BLENDER_USER_CONFIG".into(), p("blender/config")),
            ("BLENDER_USER_SCRIPTS".into(), p("blender/scripts")),
            ("BLENDER_USER_EXTENSIONS".into(), p("blender/extensions")),
            ("TMPDIR".into(), p("tmp")),
            ("NO_COLOR".into(), "1".into()),
        ];
        Env { dir, vars }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for key in [
            "BLENDER_PATH",
            "BLD_REMOTE_PORT",
            "BLD_REMOTE_HOST",
            "BLD_REMOTE_TIMEOUT",
            "DISPLAY",
            "RUST_LOG",
        ] {
            command.env_remove(key);
        }
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `bld-remote args…` to completion (bounded at 5 minutes).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = self.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let output = wait_output(child, Duration::from_secs(300));
        Run::from(output)
    }

    /// `start --detach --port 0 --json` plus `extra`; returns the instance record.
    pub fn start_detached(&self, extra: &[&str]) -> Value {
        let mut args = vec!["start", "--detach", "--json"];
        if !extra.contains(&"--port") {
            args.extend(["--port", "0"]);
        }
        args.extend(extra);
        let run = self.run(&args);
        assert_eq!(run.code, 0, "start failed: {}", run.stderr);
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    /// Client options for a Blender this environment started (its token is found in the
    /// environment's state dir, as `bld-remote` itself finds it).
    pub fn client_options(&self, port: u16) -> bld_remote_client::ClientOptions {
        bld_remote_client::ClientOptions {
            state_dir: Some(self.path("state")),
            ..bld_remote_client::ClientOptions::with_port(port)
        }
    }

    pub fn exec(&self, port: u64, code: &str) -> Run {
        self.run(&["exec", "--port", &port.to_string(), code])
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop whatever this test started (by recorded PID), even when the test failed or left
        // a broken config file behind (hence a config path that does not exist).
        let no_config = self.path("cleanup-no-config.toml");
        let _ = self
            .command(&[
                "stop",
                "--all",
                "--grace",
                "3",
                "--config",
                no_config.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs a prepared command (from [`Env::command`]) to completion, bounded at 5 minutes; for
/// tests that run it off the async runtime (`spawn_blocking`) while serving something on it.
pub fn output_of(mut command: Command) -> Run {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    Run::from(wait_output(
        command.spawn().unwrap(),
        Duration::from_secs(300),
    ))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bld-remote did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Reads lines from `reader` until one contains `needle` (bounded), returning all lines read.
pub fn read_until(reader: &mut impl BufRead, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut seen = String::new();
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
    panic!("{needle:?} not seen; output was:\n{seen}");
}

/// Whether any thread of `pid` still runs. A killed Blender's main thread is a zombie while
/// other threads still exit and hold its sockets: "dead" means every thread is gone.
pub fn pid_alive(pid: u64) -> bool {
    let live = |stat: String| {
        let state = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        state != "Z" && state != "X"
    };
    match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks
            .flatten()
            .any(|task| std::fs::read_to_string(task.path().join("stat")).is_ok_and(live)),
        Err(_) => false,
    }
}

pub fn wait_dead(pid: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private X server for GUI tests (`Xvfb -displayfd`), killed by PID on drop.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (apt-get install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb reported no display");
        Xvfb {
            child,
            display: format!(":{number}"),
        }
    }
}

impl Xvfb {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection authenticated by hand (protocol §1a), for sending lines the typed client
/// cannot build (unknown commands, raw bytes). Blocking std I/O: the tests call it from async
/// tests through `spawn_blocking` or directly from sync ones.
pub struct RawConnection {
    pub reader: BufReader<std::net::TcpStream>,
    pub writer: std::net::TcpStream,
}

impl RawConnection {
    pub fn authenticated(port: u16, token: &str) -> RawConnection {
        use bld_remote_client::protocol::handshake::{self, Role};
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let bound = handshake::binding(stream.peer_addr().unwrap());
        let mut raw = RawConnection {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let client_nonce = handshake::encode_nonce(&[42; handshake::NONCE_BYTES]);
        let hello = raw.line(&format!(
            "{{\"id\":\"h\",\"type\":\"hello\",\"params\":{{\"client_nonce\":\"{client_nonce}\"}}}}\n"
        ));
        let auth = &hello["result"]["auth"];
        let server_nonce = auth["server_nonce"].as_str().unwrap();
        assert!(handshake::verify(
            token,
            Role::Server,
            server_nonce,
            &client_nonce,
            &bound,
            auth["server_proof"].as_str().unwrap()
        ));
        let proof = handshake::proof(token, Role::Client, server_nonce, &client_nonce, &bound);
        let reply = raw.line(&format!(
            "{{\"id\":\"a\",\"type\":\"authenticate\",\"params\":{{\"client_proof\":\"{proof}\"}}}}\n"
        ));
        assert_eq!(reply["result"]["authenticated"], true, "{reply}");
        raw
    }

    /// Sends `line` and reads one reply line.
    pub fn line(&mut self, line: &str) -> Value {
        use std::io::Write;
        self.writer.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|err| panic!("{err}: {reply:?}"))
    }
}

/// The token the addon on `port` wrote into `env`'s state dir.
pub fn token_of(env: &Env, port: u16) -> String {
    std::fs::read_to_string(env.path(&format!("state/tokens/{port}.token")))
        .unwrap()
        .trim()
        .to_owned()
}
