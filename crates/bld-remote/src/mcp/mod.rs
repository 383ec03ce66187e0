//! `bld-remote mcp`: an MCP server (rmcp) over stdio, or over Streamable HTTP with `--http`
//! (`http/`). Over stdio, stdout carries only MCP messages; logs go to stderr, always.

mod args;
mod blender_calls;
mod budget;
mod execution;
mod http;
mod in_flight;
mod link;
mod resources;
mod schema;
#[cfg(test)]
mod scripted_addon;
mod server;
mod session_handles;
mod stdio;
mod supervisor;
#[cfg(test)]
mod test_session;
mod tool;
mod tool_result;
mod tools;

use crate::app::App;
use crate::cli::McpArgs;
use crate::{exit, signals};
use anyhow::{Context, Result};
use rmcp::ServiceExt;
use std::sync::Arc;

pub async fn run(app: App, args: McpArgs) -> Result<u8> {
    let mut stop_signals = signals::StopSignals::listen();
    let options = supervisor::SupervisorOptions {
        port: args.port,
        host: args.host,
        spawn: args.spawn || app.config.spawn.unwrap_or(false),
        blender: args.blender,
        restart_stuck: args.on_stuck == crate::cli::OnStuck::Restart,
    };
    let state_dir = app.paths.state_dir.clone();
    let supervisor = Arc::new(supervisor::BlenderSupervisor::new(Arc::new(app), options));
    let handles = Arc::new(session_handles::SessionHandles::new(
        std::time::Duration::try_from_secs_f64(args.handle_idle_timeout)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .context("--handle-idle-timeout: a positive number of seconds")?,
    ));
    let reaper = tokio::spawn(session_handles::reap(Arc::clone(&handles)));
    if let Some(listen) = args.http {
        let options = http::HttpOptions {
            listen,
            allow_remote: args.allow_remote,
            allow_hosts: args.allow_host,
            allow_origins: args.allow_origin,
            no_auth: args.no_auth,
            session_idle_timeout: std::time::Duration::try_from_secs_f64(args.session_idle_timeout)
                .context("--session-idle-timeout: a number of seconds")?,
            drain_timeout: std::time::Duration::try_from_secs_f64(args.drain_timeout)
                .context("--drain-timeout: a number of seconds")?,
        };
        let served = http::serve(
            Arc::clone(&supervisor),
            Arc::clone(&handles),
            &state_dir,
            options,
            stop_signals,
        )
        .await;
        reaper.abort();
        // A Blender started by --spawn is stopped however serving ended.
        supervisor.shutdown().await;
        served?;
        return Ok(exit::SUCCESS);
    }
    let service = server::BlenderMcp::new(Arc::clone(&supervisor), Default::default(), handles)
        .serve(stdio::transport())
        .await
        .context("starting the MCP session on stdio")?;
    // The session ends when the client closes stdin, or we are told to stop; either way a
    // Blender this session spawned is stopped with it.
    tokio::select! {
        reason = service.waiting() => tracing::debug!(?reason, "MCP session ended"),
        signal = stop_signals.recv() => tracing::info!(signal, "stopping the MCP server"),
    }
    reaper.abort();
    supervisor.shutdown().await;
    Ok(exit::SUCCESS)
}
