//! One `execute_code` call, run to its end. The code runs as a job of this session (on the exec
//! connection, so in its namespace):
//!
//! 1. submitted and waited for in one request (`execute_code` async with `wait`): a quick call
//!    is answered by that first reply;
//! 2. a longer one is followed past the first wait by `get_job` polls, its stdout sent to the
//!    caller as progress notifications when the caller gave a progress token;
//! 3. a request the caller cancels (`notifications/cancelled`) cancels the job in Blender;
//! 4. a job still running past its timeout plus a grace period is stuck in a C call Python
//!    cannot interrupt: the Blender is restarted if this session started it
//!    (`BlenderSupervisor::recover_stuck`, with `--on-stuck restart`), else the agent is told
//!    how to follow or stop the job.
//!
//! `mode: async` only submits: the result is the job id.

mod output;
#[cfg(test)]
mod tests;

pub use output::ExecuteCodeOutput;

use super::server::BlenderMcp;
use super::supervisor::Clients;
use super::tool::{Context, Outcome};
use super::tool_result::{envelope_result, submitted_result, tool_error};
use super::tools::{ExecuteCodeArgs, Mode};
use bld_remote_client::ClientError;
use bld_remote_protocol::timeline::{
    DEFAULT_TIMEOUT_SECS, FIRST_WAIT_SECS, FOLLOW_GRACE_SECS, MAX_TIMEOUT_SECS, MAX_WAIT_SECS,
    PROGRESS_POLL_SECS,
};
use bld_remote_protocol::{Envelope, ExecuteCode, JobView};
use rmcp::model::{CallToolResult, ProgressNotificationParam, ProgressToken};
use std::time::Duration;
use tokio::time::Instant;

/// Runs `args` as `execute_code` asked (see the module doc).
pub async fn execute(server: &BlenderMcp, args: ExecuteCodeArgs, context: &Context) -> Outcome {
    let clients = match server.clients().await {
        Ok(clients) => clients,
        Err(err) => return Ok(tool_error(err)),
    };
    let mut params = ExecuteCode::new(args.code);
    params.timeout = args.timeout;
    params.checkpoint = args.checkpoint;
    // A handle's namespace is the addon's named namespace of that name: it outlives a
    // reconnect of the handle's exec connection.
    params.session = server.handle().map(|handle| handle.name.clone());
    let timeout = args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    // Which Blender answers, looked at before the code runs: should it die during the call,
    // the next call of this session still knows it was "the one before" (a link's first call
    // would otherwise never have seen it).
    let noted = server
        .supervisor
        .note_new_blender(server.link(), &clients)
        .await;
    if args.mode == Some(Mode::Async) {
        let outcome = clients.exec.submit(params).await.map(|submitted| {
            server.started_job(&submitted.job_id);
            submitted_result(submitted)
        });
        return Ok(server.finish_noted(&clients, outcome, noted).await);
    }
    // Submit and wait in one request: a quick call is answered by its first reply. A longer one
    // has its job id after FIRST_WAIT_SECS, and is followed (and cancellable) from there. Not
    // cancellable before that reply: there is no job id to cancel yet.
    let progress = context.meta.get_progress_token();
    let first = clients
        .exec
        .submit_and_wait(
            params,
            FIRST_WAIT_SECS.min(timeout),
            progress.as_ref().map(|_| 0),
        )
        .await;
    let mut first = match first {
        Ok(view) => view,
        Err(err) => return Ok(server.failure(err, Some(&clients)).await),
    };
    server.started_job(&first.summary.job_id);
    let mut offset = 0;
    notify_stdout(context, progress.as_ref(), &mut first, &mut offset).await;
    if let Some(envelope) = first.envelope {
        return Ok(server.finish_envelope(&clients, &envelope, noted).await);
    }
    let job_id = first.summary.job_id;
    let outcome = tokio::select! {
        outcome = follow_job(&clients, &job_id, timeout, offset, context) => match outcome {
            Ok(Some(envelope)) => {
                return Ok(server.finish_envelope(&clients, &envelope, noted).await);
            }
            Ok(None) => Ok(stuck(server, &clients, &job_id, timeout).await),
            Err(err) => Err(err),
        },
        _ = context.ct.cancelled() => {
            tracing::debug!(job = %job_id, "request cancelled: cancelling the job");
            let _ = clients.control.cancel_job(&job_id).await;
            clients.control.get_job(&job_id, Some(5.0)).await.map(|view| match view.envelope {
                Some(envelope) => envelope_result(&envelope),
                None => tool_error(format!("cancelled; job {job_id} is still stopping")),
            })
        }
    };
    Ok(server.finish_noted(&clients, outcome, noted).await)
}

/// The job outlived its timeout plus the grace period: it sits in a C call Python cannot
/// interrupt. Restart the Blender if this server owns it (`BlenderSupervisor::recover_stuck`),
/// else say how to follow or stop the job.
async fn stuck(
    server: &BlenderMcp,
    clients: &Clients,
    job_id: &str,
    timeout: f64,
) -> CallToolResult {
    let what = format!(
        "the code did not stop within {timeout} s plus {FOLLOW_GRACE_SECS} s: it is stuck in a long C call (render, operator, native library)"
    );
    match server.supervisor.recover_stuck(clients.port).await {
        Some(note) => tool_error(format!("{what}; {note}")),
        None => tool_error(format!(
            "{what}; job {job_id} is still running: follow it with get_job or stop it with cancel_job"
        )),
    }
}

/// Sends the job's new stdout as a progress notification when the client asked for progress,
/// and moves `offset` past it.
async fn notify_stdout(
    context: &Context,
    token: Option<&ProgressToken>,
    view: &mut JobView,
    offset: &mut u64,
) {
    let (Some(token), Some(stdout)) = (token, view.stdout.take()) else {
        return;
    };
    if !stdout.text.is_empty() {
        let note = ProgressNotificationParam::new(token.clone(), stdout.offset as f64)
            .with_message(stdout.text);
        if let Err(err) = context.peer.notify_progress(note).await {
            tracing::debug!(%err, "progress notification not delivered");
        }
    }
    *offset = stdout.offset;
}

/// Waits for the job's envelope, streaming stdout as progress when the caller asked for it.
/// `None`: the job is still running past its timeout plus the grace period (stuck).
async fn follow_job(
    clients: &Clients,
    job_id: &str,
    timeout: f64,
    mut offset: u64,
    context: &Context,
) -> Result<Option<Envelope>, ClientError> {
    let token = context.meta.get_progress_token();
    // The deadline counts from here, a fraction of a second after the job started if it started
    // at once: the grace period more than covers that (a queue wait it does not; docs/protocol.md,
    // "Timeline of a call"). (tokio's clock, so tests can pause it.)
    let deadline = Instant::now()
        + Duration::from_secs_f64(timeout.clamp(0.0, MAX_TIMEOUT_SECS) + FOLLOW_GRACE_SECS);
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        if left <= 0.0 {
            return Ok(None);
        }
        let wait = if token.is_some() {
            PROGRESS_POLL_SECS.min(left)
        } else {
            left.min(MAX_WAIT_SECS)
        };
        let mut view = clients
            .exec
            .poll_job(job_id, wait, token.as_ref().map(|_| offset))
            .await?;
        notify_stdout(context, token.as_ref(), &mut view, &mut offset).await;
        if let Some(envelope) = view.envelope {
            return Ok(Some(envelope));
        }
    }
}
