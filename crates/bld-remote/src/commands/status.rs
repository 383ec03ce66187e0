//! `bld-remote status`: every recorded Blender, asked for its live status; plus a Blender on
//! the default port that bld-remote did not start (the addon enabled in someone's GUI).

use crate::app::{App, unix_now};
use crate::cli::StatusArgs;
use crate::exit;
use crate::style::Painter;
use anyhow::Result;
use bld_remote_client::{Client, ClientError, ClientOptions};
use bld_remote_protocol::{BlenderMode, DEFAULT_PORT};
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
struct Row {
    port: u16,
    pid: Option<u32>,
    /// Started by bld-remote (and so stoppable by `bld-remote stop`).
    managed: bool,
    /// Its `--label`; a pool worker's is `pool-<slot>`.
    label: Option<String>,
    /// The pid of the `bld-remote mcp` whose pool it is in.
    pool_of: Option<u32>,
    reachable: bool,
    mode: Option<BlenderMode>,
    blender_version: Option<String>,
    uptime: Option<f64>,
    queue_length: Option<u64>,
    jobs_running: Option<u64>,
    jobs_finished: Option<u64>,
    connections: Option<u64>,
    error: Option<String>,
}

pub async fn run(app: &App, args: StatusArgs) -> Result<u8> {
    let (records, stale) = app.registry.scan();
    let mut rows = Vec::new();
    for record in &records {
        let mut row = Row {
            port: record.port,
            pid: Some(record.pid),
            managed: true,
            label: record.label.clone(),
            pool_of: record.pool_of,
            mode: Some(record.mode),
            blender_version: Some(record.blender_version.clone()),
            uptime: Some(unix_now().saturating_sub(record.started_at) as f64),
            ..Row::default()
        };
        fill(&mut row, record.probe_options()).await;
        rows.push(row);
    }
    if !records.iter().any(|r| r.port == DEFAULT_PORT) {
        let mut row = Row {
            port: DEFAULT_PORT,
            ..Row::default()
        };
        let untrusted = fill(&mut row, app.probe_options(app.host(None), DEFAULT_PORT)).await;
        // Shown when a Blender answers, or when something holds the port that cannot prove it
        // is one (the agent would get that error too).
        if row.reachable || untrusted {
            rows.push(row);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows, stale);
    }
    Ok(exit::SUCCESS)
}

/// Asks the server for its status; an unreachable one keeps its recorded facts and the reason.
/// True when something answered that is not a Blender this user may trust.
async fn fill(row: &mut Row, options: ClientOptions) -> bool {
    let status = match Client::connect(options).await {
        Ok(client) => client.status().await,
        Err(err) => Err(err),
    };
    match status {
        Ok(status) => {
            row.reachable = true;
            row.pid = Some(status.pid);
            row.mode = Some(status.mode);
            row.blender_version = Some(status.blender_version);
            row.uptime = Some(status.uptime);
            row.queue_length = Some(status.queue_length);
            row.jobs_running = Some(status.jobs.running);
            row.jobs_finished = Some(status.jobs.finished);
            row.connections = Some(status.connections);
            false
        }
        Err(err) => {
            let untrusted = matches!(
                err,
                ClientError::NotProven { .. }
                    | ClientError::AuthOff { .. }
                    | ClientError::ForeignListener { .. }
                    | ClientError::NotBldRemote { .. }
            );
            row.error = Some(err.to_string());
            untrusted
        }
    }
}

fn print_table(rows: &[Row], stale: usize) {
    let paint = Painter::stdout();
    if rows.is_empty() {
        println!("no Blender started by bld-remote is running (start one with `bld-remote start`)");
    } else {
        println!(
            "{}",
            paint.bold(
                "PORT   PID      LABEL        MODE        BLENDER  UPTIME     QUEUE  RUNNING  DONE   STATE"
            )
        );
        for row in rows {
            let dash = || "-".to_owned();
            let state = match (&row.error, row.managed, row.pool_of) {
                (Some(err), _, _) => paint.error(&format!("unreachable: {err}")),
                (None, true, Some(server)) => paint.ok(&format!(
                    "ready (pool worker of bld-remote mcp, pid {server})"
                )),
                (None, true, None) => paint.ok("ready"),
                (None, false, _) => paint.warn("ready (not started by bld-remote)"),
            };
            println!(
                "{:<6} {:<8} {:<12} {:<11} {:<8} {:<10} {:<6} {:<8} {:<6} {}",
                row.port,
                row.pid.map_or_else(dash, |p| p.to_string()),
                row.label.clone().unwrap_or_else(dash),
                row.mode.map_or_else(dash, |m| m.to_string()),
                row.blender_version.clone().unwrap_or_else(dash),
                row.uptime.map_or_else(dash, uptime),
                row.queue_length.map_or_else(dash, |q| q.to_string()),
                row.jobs_running.map_or_else(dash, |q| q.to_string()),
                row.jobs_finished.map_or_else(dash, |q| q.to_string()),
                state
            );
        }
    }
    if stale > 0 {
        println!(
            "{}",
            paint.dim(&format!(
                "(removed {stale} stale record(s) of Blenders that are gone)"
            ))
        );
    }
}

fn uptime(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptimes_read_naturally() {
        assert_eq!(super::uptime(5.2), "5s");
        assert_eq!(super::uptime(125.0), "2m 05s");
        assert_eq!(super::uptime(7300.0), "2h 01m");
    }
}
