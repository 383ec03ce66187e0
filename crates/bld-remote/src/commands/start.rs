//! `bld-remote start`: find Blender, start it with the embedded addon, wait until it answers,
//! record it; then either return (`--detach`) or supervise it until it exits or we are asked
//! to stop (Ctrl-C, SIGTERM), passing its exit code on.

use crate::app::{App, unix_now};
use crate::blender::{Blender, Launch, Mode};
use crate::cli::StartArgs;
use crate::instances::Record;
use crate::stopper;
use crate::style::Painter;
use crate::{embedded_addon, exit, port_holder, process, signals};
use anyhow::{Context, Result, bail};
use bld_remote_client::{Client, ClientOptions, private_fs};
use serde::Deserialize;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Child;

pub async fn run(app: &App, args: StartArgs) -> Result<u8> {
    let mut stop_signals = signals::StopSignals::listen();
    let mode = if args.gui {
        Mode::Gui
    } else if args.background {
        Mode::Background
    } else if app.config.mode.as_deref() == Some("gui") {
        Mode::Gui
    } else {
        Mode::Background
    };
    let host = app.host(args.host.clone());
    let port = args
        .port
        .or(app.config.port)
        .unwrap_or(bld_remote_protocol::DEFAULT_PORT);
    let ready_timeout = Duration::from_secs_f64(
        args.ready_timeout
            .or(app.config.ready_timeout)
            .unwrap_or(120.0)
            .max(1.0),
    );
    let found = app.find_blender(args.blender.clone())?;
    let blender = Blender::new(found.path.clone());
    if mode == Mode::Gui {
        check_display()?;
    }
    if let Some(file) = &args.file {
        if !file.is_file() {
            bail!("no such .blend file: {}", file.display());
        }
    }
    if port != 0 {
        ensure_port_free(app, &host, port).await?;
    }
    let package = embedded_addon::extract(&app.paths.cache_dir)?;
    // Private (0700, ours, checked): the ready file names the port we then trust, and the logs
    // hold what agents' code printed.
    let state_dir = private_fs::ensure_private_tree(
        &app.paths.state_dir,
        &["run", "logs", "tokens", "instances"],
    )?;
    let run_dir = state_dir.join("run");
    let stamp = format!("{}-{}", std::process::id(), unix_now());
    let ready_file = run_dir.join(format!("ready-{stamp}.json"));
    let file = args.file.as_ref().map(|f| f.canonicalize()).transpose()?;
    let launch = Launch {
        mode,
        host: &host,
        port,
        addon_package: &package,
        ready_file: &ready_file,
        blend_file: file.as_deref(),
    };
    let mut command = blender.launch_command(&launch)?;
    command.stdin(Stdio::null());
    if args.no_auth {
        command.env("BLD_REMOTE_MCP_AUTH", "off");
    }
    if args.guard {
        command.env("BLD_REMOTE_MCP_GUARD", "on");
        if !args.guard_allow.is_empty() {
            // Absolute, because Blender resolves them from its own working directory.
            let dirs = args
                .guard_allow
                .iter()
                .map(std::path::absolute)
                .collect::<std::io::Result<Vec<_>>>()?;
            command.env("BLD_REMOTE_MCP_GUARD_ALLOW", std::env::join_paths(dirs)?);
        }
    }
    let log = if args.detach {
        let path = state_dir.join("logs").join(format!("blender-{stamp}.log"));
        let out = private_fs::create_private_file(&path)?;
        command.stdout(out.try_clone()?).stderr(out);
        detach_from_terminal(&mut command);
        Some(path)
    } else {
        // Its own process group: Ctrl-C reaches us, and we shut Blender down cleanly.
        #[cfg(unix)]
        command.process_group(0);
        None
    };
    tracing::debug!(?command, "starting Blender");
    let mut child = command
        .spawn()
        .with_context(|| format!("could not run {}", found.path.display()))?;
    let ready = tokio::select! {
        ready = wait_ready(&mut child, &ready_file, ready_timeout, log.as_deref()) => ready,
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
        host: host.clone(),
        port: ready.port,
        retry_for: Duration::from_secs(5),
        // The Blender we just started without a token: accepted as such.
        allow_no_auth: args.no_auth,
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
        host: host.clone(),
        pid: hello.pid,
        process_start: process::start_identity(hello.pid),
        mode: hello.mode.clone(),
        blender_version: hello.blender_version.clone(),
        addon_version: hello.addon_version.clone(),
        blender_path: found.path.clone(),
        started_at: unix_now(),
        log: log.clone(),
        detached: args.detach,
        auth: !args.no_auth,
    };
    app.registry.save(&record)?;
    announce(&record, args.json)?;
    if args.detach {
        return Ok(exit::SUCCESS);
    }
    let grace = Duration::from_secs_f64(app.config.stop_grace.unwrap_or(10.0).max(0.0));
    let status = supervise(&mut child, &record, grace, &mut stop_signals).await?;
    app.registry.remove(record.port, record.pid);
    Ok(exit_code_of(status))
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

fn announce(record: &Record, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(record)?);
        return Ok(());
    }
    let paint = Painter::stdout();
    println!(
        "{} Blender {} ready on {}:{} (pid {}, {})",
        paint.ok("✓"),
        record.blender_version,
        record.host,
        record.port,
        record.pid,
        record.mode
    );
    if let Some(log) = &record.log {
        println!("  log: {}", log.display());
        println!("  stop it with: bld-remote stop --port {}", record.port);
    } else {
        println!("  Ctrl-C stops it");
    }
    Ok(())
}

async fn supervise(
    child: &mut Child,
    record: &Record,
    grace: Duration,
    stop_signals: &mut signals::StopSignals,
) -> Result<ExitStatus> {
    tokio::select! {
        status = child.wait() => Ok(status?),
        signal = stop_signals.recv() => {
            eprintln!("{signal} received: shutting Blender down");
            let outcome = stopper::stop(record, grace).await;
            tracing::debug!(?outcome, "stopped");
            Ok(child.wait().await?)
        }
    }
}

/// Blender's exit code, or 128 + the signal that ended it (as shells report it).
fn exit_code_of(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(exit::FAILURE);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(exit::FAILURE);
        }
    }
    exit::FAILURE
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}

/// A detached Blender gets its own session, so closing the terminal does not end it.
fn detach_from_terminal(command: &mut tokio::process::Command) {
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
