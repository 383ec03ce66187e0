//! `bld-remote start`: find Blender, start it with the embedded addon, wait until it answers,
//! record it (all in `launcher`); then either return (`--detach`) or supervise it until it exits
//! or we are asked to stop (Ctrl-C, SIGTERM), passing its exit code on.

use crate::app::App;
use crate::cli::StartArgs;
use crate::instances::Record;
use crate::launcher::{self, Request};
use crate::style::Painter;
use crate::{exit, signals, stopper};
use anyhow::{Result, bail};
use bld_remote_protocol::BlenderMode;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::Child;

pub async fn run(app: &App, args: StartArgs) -> Result<u8> {
    let mut stop_signals = signals::StopSignals::listen();
    let mode = if args.gui {
        BlenderMode::Gui
    } else if args.background {
        BlenderMode::Background
    } else if app.config.mode == Some(BlenderMode::Gui) {
        BlenderMode::Gui
    } else {
        BlenderMode::Background
    };
    if let Some(label) = &args.label
        && let Some(taken) = app
            .registry
            .user_blenders()
            .into_iter()
            .find(|record| record.label.as_ref() == Some(label))
    {
        bail!(
            "the label {label} is taken by the Blender on port {} (pid {}): pick another, or \
             stop that one first",
            taken.port,
            taken.pid
        );
    }
    let request = Request {
        mode,
        host: app.host(args.host.clone()),
        port: args
            .port
            .or(app.config.port)
            .unwrap_or(bld_remote_protocol::DEFAULT_PORT),
        blender: args.blender.clone(),
        file: args.file.clone(),
        no_auth: args.no_auth,
        guard: args.guard,
        guard_allow: args.guard_allow.clone(),
        log_to_file: args.detach,
        own_session: args.detach,
        ready_timeout: Duration::from_secs_f64(
            args.ready_timeout
                .or(app.config.ready_timeout)
                .unwrap_or(120.0)
                .max(1.0),
        ),
        label: args.label.clone(),
        pool_of: None,
    };
    let launcher::Started { mut child, record } =
        launcher::start(app, &request, &mut stop_signals).await?;
    announce(&record, args.json)?;
    if args.detach {
        return Ok(exit::SUCCESS);
    }
    let grace = Duration::from_secs_f64(app.config.stop_grace.unwrap_or(10.0).max(0.0));
    let status = supervise(&mut child, &record, grace, &mut stop_signals).await?;
    app.registry.remove(record.port, record.pid);
    Ok(exit_code_of(status))
}

fn announce(record: &Record, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(record)?);
        return Ok(());
    }
    let paint = Painter::stdout();
    let label = record
        .label
        .as_ref()
        .map(|label| format!(", label {label}"))
        .unwrap_or_default();
    println!(
        "{} Blender {} ready on {}:{} (pid {}, {}{label})",
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
