//! `bld-remote mcp`: an MCP server over stdio (rmcp). stdout carries only MCP messages; logs go
//! to stderr.

mod args;
mod blender_calls;
mod budget;
mod execution;
mod resources;
mod schema;
#[cfg(test)]
mod scripted_addon;
mod server;
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
    let supervisor = Arc::new(supervisor::BlenderSupervisor::new(Arc::new(app), options));
    let service = server::BlenderMcp::new(Arc::clone(&supervisor))
        .serve(stdio::transport())
        .await
        .context("starting the MCP session on stdio")?;
    // The session ends when the client closes stdin, or we are told to stop; either way a
    // Blender this session spawned is stopped with it.
    tokio::select! {
        reason = service.waiting() => tracing::debug!(?reason, "MCP session ended"),
        signal = stop_signals.recv() => tracing::info!(signal, "stopping the MCP server"),
    }
    supervisor.shutdown().await;
    Ok(exit::SUCCESS)
}
