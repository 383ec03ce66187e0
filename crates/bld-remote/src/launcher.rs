//! Starting a Blender with the embedded addon and waiting until it serves: what `bld-remote
//! start` and the MCP server's `--spawn` share. The caller owns the child process, so its exit
//! status says how Blender ended (crashed, killed, exited with a code).

use crate::app::{App, unix_now};
use crate::blender::{Blender, Launch};
use crate::instances::Record;
use crate::{embedded_addon, port_holder, process, signals};
use anyhow::{Context, Result, bail};
use bld_remote_client::{Client, ClientOptions, private_fs};
use bld_remote_protocol::BlenderMode;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Child;

/// What to start.
#[derive(Debug, Clone)]
pub struct Request {
    pub mode: BlenderMode,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// `None`: discovered (`BLENDER_PATH`, the config, `PATH`, the usual places).
    pub blender: Option<PathBuf>,
    pub file: Option<PathBuf>,
    pub no_auth: bool,
    pub guard: bool,
    pub guard_allow: Vec<PathBuf>,
    /// Blender's output to a private log file under the state dir (else this process's own).
    pub log_to_file: bool,
    /// Its own session, so that closing a terminal (or the MCP client's process group) does not
    /// end it; else only its own process group, so that Ctrl-C reaches us first.
    pub own_session: bool,
    pub ready_timeout: Duration,
    /// A name to pick it by (`start --label`), kept in its record.
    pub label: Option<String>,
    /// Started by the pool of the `bld-remote mcp` with this pid (kept in its record).
    pub pool_of: Option<u32>,
}

/// A Blender that serves: its process and its record (saved in the registry).
pub struct Started {
    pub child: Child,
    pub record: Record,
}

/// Starts Blender and waits until its server answers the handshake. A stop signal while it
/// starts stops it again.
pub async fn start(
    app: &App,
    request: &Request,
    stop_signals: &mut signals::StopSignals,
) -> Result<Started> {
    let found = app.find_blender(request.blender.clone())?;
    let blender = Blender::new(found.path.clone());
    if request.mode == BlenderMode::Gui {
        check_display()?;
    }
    if let Some(file) = &request.file {
        if !file.is_file() {
            bail!("no such .blend file: {}", file.display());
        }
    }
    let (host, port) = (request.host.as_str(), request.port);
    if port != 0 {
        ensure_port_free(app, host, port).await?;
    }
    let package = embedded_addon::extract(&app.paths.cache_dir)?;
    // Private (0700, ours, checked): the ready file names the port we then trust, and the logs
    // hold what agents' code printed.
    let state_dir = private_fs::ensure_private_tree(
        &app.paths.state_dir,
        &["run", "logs", "tokens", "instances"],
    )?;
    // Unique per start: one MCP server may start several Blenders within a second.
    static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nth = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stamp = format!("{}-{}-{nth}", std::process::id(), unix_now());
    let ready_file = state_dir.join("run").join(format!("ready-{stamp}.json"));
    // Blender's own temp dir (its session files, its crash report): private to this Blender,
    // not the shared one, and where to look for `blender.crash.txt` when it crashes.
    let temp_dir = private_fs::ensure_private_tree(&state_dir.join("run"), &[])
        .map(|run| run.join(format!("tmp-{stamp}")))?;
    private_fs::ensure_private_tree(&temp_dir, &[])?;
    let file = request
        .file
        .as_ref()
        .map(|f| f.canonicalize())
        .transpose()?;
    let launch = Launch {
        mode: request.mode,
        host,
        port,
        addon_package: &package,
        ready_file: &ready_file,
        blend_file: file.as_deref(),
    };
    let mut command = blender.launch_command(&launch)?;
    command.stdin(Stdio::null());
    command.env("TMPDIR", &temp_dir);
    if request.no_auth {
        command.env("BLD_REMOTE_MCP_AUTH", "off");
    }
    if request.guard {
        command.env("BLD_REMOTE_MCP_GUARD", "on");
        if !request.guard_allow.is_empty() {
            // Absolute, because Blender resolves them from its own working directory.
            let dirs = request
                .guard_allow
                .iter()
                .map(std::path::absolute)
                .collect::<std::io::Result<Vec<_>>>()?;
            command.env("BLD_REMOTE_MCP_GUARD_ALLOW", std::env::join_paths(dirs)?);
        }
    }
    let log = if request.log_to_file {
        let path = state_dir.join("logs").join(format!("blender-{stamp}.log"));
        let out = private_fs::create_private_file(&path)?;
        command.stdout(out.try_clone()?).stderr(out);
        Some(path)
    } else {
        None
    };
    if request.pool_of.is_some() {
        dies_with_this_process(&mut command);
    }
    if request.own_session {
        own_session(&mut command);
    } else {
        // Its own process group: Ctrl-C reaches us, and we shut Blender down cleanly.
        #[cfg(unix)]
        command.process_group(0);
    }
    tracing::debug!(?command, "starting Blender");
    let mut child = command
        .spawn()
        .with_context(|| format!("could not run {}", found.path.display()))?;
    let ready = tokio::select! {
        ready = wait_ready(&mut child, &ready_file, request.ready_timeout, log.as_deref()) => ready,
        signal = stop_signals.recv() => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = std::fs::remove_file(&ready_file);
            bail!("{signal} received while Blender was starting; it was stopped");
        }
    };
    let _ = std::fs::remove_file(&ready_file);
    let ready = match ready {
        Ok(ready) => ready,
        Err(err) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(err);
        }
    };
    let options = app.trusting(ClientOptions {
        host: host.to_owned(),
        port: ready.port,
        retry_for: Duration::from_secs(5),
        // The Blender we just started without a token: accepted as such.
        allow_no_auth: request.no_auth,
        ..Default::default()
    });
    let hello = match Client::connect(options).await {
        Ok(client) => client.server().await?,
        Err(err) => {
            let _ = child.start_kill();
            return Err(err).context("Blender started but its server does not answer");
        }
    };
    let record = Record {
        port: hello.port,
        host: host.to_owned(),
        pid: hello.pid,
        process_start: process::start_identity(hello.pid),
        mode: hello.mode,
        blender_version: hello.blender_version.clone(),
        addon_version: hello.addon_version.clone(),
        blender_path: found.path.clone(),
        started_at: unix_now(),
        log,
        detached: request.own_session,
        auth: !request.no_auth,
        temp_dir: Some(temp_dir),
        label: request.label.clone(),
        pool_of: request.pool_of,
    };
    app.registry.save(&record)?;
    Ok(Started { child, record })
}

/// What the ready file says (written by the addon's entry script once it accepts requests).
#[derive(Debug, Deserialize)]
struct Ready {
    port: u16,
}

async fn wait_ready(
    child: &mut Child,
    ready_file: &Path,
    limit: Duration,
    log: Option<&Path>,
) -> Result<Ready> {
    let started = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(ready_file) {
            if let Ok(ready) = serde_json::from_slice::<Ready>(&bytes) {
                return Ok(ready);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "Blender exited ({}) before it was ready{}",
                describe_status(status),
                log_tail(log)
            );
        }
        if started.elapsed() > limit {
            bail!(
                "Blender did not become ready within {:.0} s{}",
                limit.as_secs_f64(),
                log_tail(log)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last lines of a detached Blender's log, where the reason for a failed start is.
fn log_tail(log: Option<&Path>) -> String {
    let Some(text) = log.and_then(|path| std::fs::read_to_string(path).ok()) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(8)..].join("\n  ");
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n  {tail}")
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}

/// Its own session: closing the terminal (or ending the process group that started it) does not
/// end Blender.
fn own_session(command: &mut tokio::process::Command) {
    #[cfg(unix)]
    {
        // SAFETY: setsid is async-signal-safe, as required between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// A pool worker is killed by the kernel when this server dies without stopping it (SIGKILL,
/// a crash): nobody else would ever stop it, and nobody else may lease it. On Linux the parent
/// death signal; it fires when the spawning thread exits, and tokio's worker threads live as
/// long as the server's runtime. Elsewhere the server's own shutdown is all there is.
fn dies_with_this_process(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: prctl, getppid and raise are async-signal-safe, as required between fork
        // and exec; the death signal survives the exec of Blender.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The server may have died between fork and prctl.
                if libc::getppid() as u32 != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

fn check_display() -> Result<()> {
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty())
        && std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty())
    {
        bail!(
            "no display to open Blender's window on (DISPLAY is not set); use --background, or run under a desktop session or xvfb-run"
        );
    }
    Ok(())
}

/// Refuses a taken port up front, saying who holds it.
async fn ensure_port_free(app: &App, host: &str, port: u16) -> Result<()> {
    let connect = tokio::net::TcpStream::connect((host, port));
    if !matches!(
        tokio::time::timeout(Duration::from_millis(500), connect).await,
        Ok(Ok(_))
    ) {
        return Ok(());
    }
    let options = app.probe_options(host, port);
    if let Ok(client) = Client::connect(options).await {
        if let Ok(hello) = client.server().await {
            bail!(
                "port {port} is taken: bld-remote already serves it (Blender {}, {}, pid {}); \
                 use it, stop it with `bld-remote stop --port {port}`, or pick another port with --port",
                hello.blender_version,
                hello.mode,
                hello.pid
            );
        }
    }
    let holder = port_holder::who_holds(port)
        .map(|h| h.to_string())
        .unwrap_or_else(|| "another program".to_owned());
    bail!("port {port} is taken by {holder}; pick another port with --port (0 picks a free one)")
}
