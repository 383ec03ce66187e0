//! The timeline of one `execute_code` call, as docs/protocol.md ("Timeline of a call") tables
//! it: the limits and graces the client and the MCP server use, each named once here. The
//! addon's own (the interrupt's resend interval, the stuck grace, the 1.3.3 cap) are named once
//! on its side, in `blender_addon/bld_remote_mcp/engine/timeline.py`; both are tested against
//! that table.
//!
//! In order: a synchronous job waits in the queue at most its `timeout`, then runs at most its
//! `timeout` (default [`DEFAULT_TIMEOUT_SECS`], at most [`MAX_TIMEOUT_SECS`]); at the deadline
//! the addon interrupts it, and a job still running its stuck grace later is reported stuck. A
//! client gives a call the time the server may hold it on purpose plus a margin
//! (`bld_remote_client::call_limit`, the one place that sum is made). The MCP server follows a
//! job by waits of at most [`MAX_WAIT_SECS`], and gives up on it [`FOLLOW_GRACE_SECS`] past its
//! timeout.

/// The addon's default `execute_code` timeout (its `BLD_REMOTE_MCP_DEFAULT_TIMEOUT` default):
/// the run time of a call that names none.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// The longest `timeout` the addon takes.
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// A client's default limit of a call the server does not hold on purpose
/// (`ClientOptions::call_timeout`); the MCP server's control calls get it on top of their wait.
pub const CALL_TIMEOUT_SECS: f64 = 60.0;
/// What a client adds to a bound the server keeps itself (an execution's timeout, a `wait`), so
/// that the server's own reply arrives before the client gives up
/// (`ClientOptions::timeout_margin`).
pub const CLIENT_MARGIN_SECS: f64 = 5.0;
/// How long the MCP server's submit of a synchronous tool call waits for the job before
/// replying with its id (the job is then followed by polls): short, so a cancel soon has a job
/// id to cancel.
pub const FIRST_WAIT_SECS: f64 = 0.2;
/// How often the MCP server polls a job for new stdout when the caller asked for progress.
pub const PROGRESS_POLL_SECS: f64 = 0.2;
/// The longest `wait` of `get_job` and of an async `execute_code` (the addon refuses more):
/// also the longest single poll of the MCP server following a job.
pub const MAX_WAIT_SECS: f64 = 3_600.0;
/// How long past its timeout the MCP server follows a job before telling the agent it is stuck
/// in a C call (restarting a Blender it started, with `--on-stuck restart`). Longer than the
/// addon's stuck grace, so a job the addon stops in time is never called stuck here. It counts
/// from the first reply to the submission, taken as the job's start (a queue wait is not
/// counted).
pub const FOLLOW_GRACE_SECS: f64 = 5.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol_doc::{section, table, unquote};

    /// The Rust side's constants, by the name the document gives them.
    const CONSTANTS: &[(&str, f64)] = &[
        ("DEFAULT_TIMEOUT_SECS", DEFAULT_TIMEOUT_SECS),
        ("MAX_TIMEOUT_SECS", MAX_TIMEOUT_SECS),
        ("CALL_TIMEOUT_SECS", CALL_TIMEOUT_SECS),
        ("CLIENT_MARGIN_SECS", CLIENT_MARGIN_SECS),
        ("FIRST_WAIT_SECS", FIRST_WAIT_SECS),
        ("PROGRESS_POLL_SECS", PROGRESS_POLL_SECS),
        ("MAX_WAIT_SECS", MAX_WAIT_SECS),
        ("FOLLOW_GRACE_SECS", FOLLOW_GRACE_SECS),
    ];

    /// The table's rows: (step, constant, layers, value).
    fn documented() -> Vec<(String, String, String, Option<f64>)> {
        table(
            section("### Timeline of a call"),
            &["step", "constant", "layer", "seconds", "meaning"],
        )
        .into_iter()
        .map(|row| {
            (
                row[0].to_owned(),
                unquote(row[1]).to_owned(),
                row[2].to_owned(),
                row[3].parse().ok(),
            )
        })
        .collect()
    }

    #[test]
    fn the_constants_are_the_timeline_table_of_the_protocol_document() {
        let rows = documented();
        let steps: Vec<&str> = rows.iter().map(|row| row.0.as_str()).collect();
        let mut order = steps.clone();
        order.dedup();
        assert_eq!(
            order,
            [
                "queue wait",
                "run",
                "interrupt",
                "stuck grace",
                "client limit",
                "MCP follow"
            ],
            "the table's steps, in the order of a call"
        );
        // Every row of a Rust layer (client, MCP server) names a constant of this module with
        // its value, and every constant here is in the table.
        let rust_rows: Vec<(&str, Option<f64>)> = rows
            .iter()
            .filter(|row| row.2.contains("client") || row.2.contains("MCP server"))
            .map(|row| (row.1.as_str(), row.3))
            .collect();
        let ours: Vec<(&str, Option<f64>)> = CONSTANTS
            .iter()
            .map(|&(name, value)| (name, Some(value)))
            .collect();
        assert_eq!(rust_rows, ours);
    }

    #[test]
    fn the_mcp_server_waits_out_the_addons_stuck_grace_before_calling_a_job_stuck() {
        let rows = documented();
        let stuck_grace = rows
            .iter()
            .find(|row| row.1 == "STUCK_GRACE_SECS")
            .and_then(|row| row.3)
            .expect("the addon's stuck grace is in the table");
        assert!(FOLLOW_GRACE_SECS > stuck_grace, "{stuck_grace}");
    }
}
