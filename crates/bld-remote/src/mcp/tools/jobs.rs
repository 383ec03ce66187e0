//! Jobs: follow one (`get_job`), stop one (`cancel_job`), list them (`list_jobs`). Job ids are
//! unique per Blender, so these work on any job; with `session`, only on the jobs started with
//! that handle (a list of one agent's jobs, and a slip of another agent's id is refused).

use super::session::SessionArgs;
use crate::mcp::args;
use crate::mcp::server::BlenderMcp;
use crate::mcp::server::Routed;
use crate::mcp::tool::{BlenderObject, Context, Hints, Outcome, READ, SAFE_SET, Tool, routed};
use crate::mcp::tool_result::{job_result, json_result, tool_error};
use bld_remote_protocol::timeline::MAX_WAIT_SECS;
use bld_remote_protocol::{Command, JobView};
use rmcp::model::CallToolResult;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The server as `session` sees it, on the Blender the job was started on, refusing a job
/// that handle did not start.
async fn for_job(
    server: &BlenderMcp,
    session: Option<&str>,
    job_id: &str,
) -> Result<Routed, CallToolResult> {
    let routed = server.route_job(session, job_id).await?;
    if let Some(handle) = routed.server.handle()
        && !handle.has_job(job_id)
    {
        return Err(tool_error(format!(
            "job {job_id} was not started in session {}: leave out `session` to reach any job",
            handle.name
        )));
    }
    Ok(routed)
}

pub struct GetJob;

impl Tool for GetJob {
    const NAME: &'static str = "get_job";
    const DESCRIPTION: &'static str = "A job's state; once finished, its result as execute_code gives it. wait waits; stdout_offset pages through long output.";
    const HINTS: Hints = READ;
    type Args = GetJobArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: GetJobArgs, _: &Context) -> Outcome {
        args::check_range("wait", args.wait, 0.0, MAX_WAIT_SECS)?;
        let routed = match for_job(server, args.session.as_deref(), &args.job_id).await {
            Ok(routed) => routed,
            Err(refused) => return Ok(refused),
        };
        let server = &routed.server;
        let command = Command::GetJob {
            job_id: args.job_id,
            wait: args.wait,
            stdout_offset: args.stdout_offset,
        };
        Ok(
            match server.call_control(command, args.wait.unwrap_or(0.0)).await {
                Ok(value) => match serde_json::from_value::<JobView>(value.clone()) {
                    Ok(view) => job_result(&view),
                    Err(_) => json_result(value),
                },
                Err(error) => error,
            },
        )
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetJobArgs {
    pub job_id: String,
    /// Seconds to wait for it to finish.
    #[serde(default)]
    // Whole seconds, so the schema says 3600 (not 3600.0).
    #[schemars(range(min = 0, max = MAX_WAIT_SECS as u32))]
    pub wait: Option<f64>,
    /// Its stdout from this character on (a cut result says where).
    #[serde(default)]
    pub stdout_offset: Option<u64>,
    /// From new_session.
    #[serde(default)]
    pub session: Option<String>,
}

pub struct CancelJob;

impl Tool for CancelJob {
    const NAME: &'static str = "cancel_job";
    const DESCRIPTION: &'static str = "Stop a queued or running job.";
    const HINTS: Hints = SAFE_SET;
    type Args = JobIdArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: JobIdArgs, _: &Context) -> Outcome {
        let routed = match for_job(server, args.session.as_deref(), &args.job_id).await {
            Ok(routed) => routed,
            Err(refused) => return Ok(refused),
        };
        let server = &routed.server;
        server
            .control(
                Command::CancelJob {
                    job_id: args.job_id,
                },
                0.0,
            )
            .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIdArgs {
    /// A job id such as `job-7`.
    pub job_id: String,
    /// From new_session.
    #[serde(default)]
    pub session: Option<String>,
}

pub struct ListJobs;

impl Tool for ListJobs {
    const NAME: &'static str = "list_jobs";
    const DESCRIPTION: &'static str = "Recent jobs and their states (of `session` only, with it).";
    const HINTS: Hints = READ;
    type Args = SessionArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: SessionArgs, _: &Context) -> Outcome {
        let routed = routed!(server, args.session.as_deref(), args.blender.as_deref());
        let server = &routed.server;
        let Some(handle) = server.handle().cloned() else {
            return server.control(Command::ListJobs, 0.0).await;
        };
        server
            .control_mapped(Command::ListJobs, 0.0, |mut listed| {
                if let Some(Value::Array(jobs)) = listed.get_mut("jobs") {
                    jobs.retain(|job| {
                        job.get("job_id")
                            .and_then(Value::as_str)
                            .is_some_and(|id| handle.has_job(id))
                    });
                }
                listed
            })
            .await
    }
}
