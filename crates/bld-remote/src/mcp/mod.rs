//! `bld-remote mcp`: an MCP server (rmcp) over stdio, or over Streamable HTTP with `--http`
//! (`http/`). Over stdio, stdout carries only MCP messages; logs go to stderr, always.

mod args;
mod blender_calls;
mod budget;
mod execution;
mod fleet;
mod http;
mod in_flight;
mod link;
mod pool;
mod resources;
mod schema;
#[cfg(test)]
mod scripted_addon;
mod seat;
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
    let restart_stuck = args.on_stuck == crate::cli::OnStuck::Restart;
    let options = supervisor::SupervisorOptions {
        port: args.port,
        host: args.host.clone(),
        spawn: args.spawn || app.config.spawn.unwrap_or(false),
        blender: args.blender.clone(),
        restart_stuck,
        worker: None,
    };
    let state_dir = app.paths.state_dir.clone();
    let pool_size = args.pool.map(usize::from).or(app.config.pool);
    let app = Arc::new(app);
    let pool = match pool_size {
        Some(size) => Some(pool::Pool::new(
            Arc::clone(&app),
            pool_options(size, &args, restart_stuck)?,
        )),
        None => None,
    };
    let default = Arc::new(supervisor::BlenderSupervisor::new(
        Arc::clone(&app),
        options,
    ));
    let fleet = Arc::new(fleet::Fleet::new(app, default, pool.clone()));
    let handles = Arc::new(session_handles::SessionHandles::new(positive_seconds(
        args.handle_idle_timeout,
        "--handle-idle-timeout",
    )?));
    let reaper = tokio::spawn(session_handles::reap(Arc::clone(&handles)));
    let pool_reaper = pool.as_ref().map(|pool| {
        pool.keep_warm();
        tokio::spawn(Arc::clone(pool).reap())
    });
    let served = match args.http {
        Some(listen) => {
            let options = http::HttpOptions {
                listen,
                allow_remote: args.allow_remote,
                allow_hosts: args.allow_host,
                allow_origins: args.allow_origin,
                no_auth: args.no_auth,
                session_idle_timeout: std::time::Duration::try_from_secs_f64(
                    args.session_idle_timeout,
                )
                .context("--session-idle-timeout: a number of seconds")?,
                drain_timeout: std::time::Duration::try_from_secs_f64(args.drain_timeout)
                    .context("--drain-timeout: a number of seconds")?,
            };
            http::serve(
                Arc::clone(&fleet),
                Arc::clone(&handles),
                &state_dir,
                options,
                stop_signals,
            )
            .await
        }
        None => serve_stdio(&fleet, handles, &mut stop_signals).await,
    };
    reaper.abort();
    if let Some(pool_reaper) = pool_reaper {
        pool_reaper.abort();
    }
    // Blenders this server started (--spawn, the pool) are stopped however serving ended.
    fleet
        .default
        .close(std::time::Duration::from_secs(10))
        .await;
    if let Some(pool) = &fleet.pool {
        pool.shutdown().await;
    }
    served?;
    Ok(exit::SUCCESS)
}

/// One MCP session on stdin and stdout, until the client closes stdin or we are told to stop.
async fn serve_stdio(
    fleet: &Arc<fleet::Fleet>,
    handles: Arc<session_handles::SessionHandles>,
    stop_signals: &mut signals::StopSignals,
) -> Result<()> {
    let service = server::BlenderMcp::new(Arc::clone(fleet), Default::default(), handles)
        .serve(stdio::transport())
        .await
        .context("starting the MCP session on stdio")?;
    tokio::select! {
        reason = service.waiting() => tracing::debug!(?reason, "MCP session ended"),
        signal = stop_signals.recv() => tracing::info!(signal, "stopping the MCP server"),
    }
    Ok(())
}

/// The pool's settings from the flags, checked.
fn pool_options(size: usize, args: &McpArgs, restart_stuck: bool) -> Result<pool::PoolOptions> {
    anyhow::ensure!(
        (1..=64).contains(&size),
        "pool: between 1 and 64 Blenders, not {size}"
    );
    let blend = match &args.pool_blend {
        Some(file) => Some(
            file.canonicalize()
                .ok()
                .filter(|file| file.is_file())
                .with_context(|| {
                    format!("--pool-blend: no such .blend file: {}", file.display())
                })?,
        ),
        None => None,
    };
    Ok(pool::PoolOptions {
        size,
        warm: usize::from(args.pool_warm).min(size),
        blend,
        wait: positive_seconds(args.pool_wait, "--pool-wait")?,
        queue: args.pool_queue,
        idle: positive_seconds(args.pool_idle, "--pool-idle")?,
        blender: args.blender.clone(),
        host: args.host.clone(),
        restart_stuck,
    })
}

/// A duration flag that must be a positive number of seconds.
fn positive_seconds(value: f64, flag: &str) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{flag}: a positive number of seconds"))
}
