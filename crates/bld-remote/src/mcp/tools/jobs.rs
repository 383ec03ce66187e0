//! Jobs: follow one (`get_job`), stop one (`cancel_job`), list them (`list_jobs`).

use crate::mcp::args::{self, NoArgs};
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, Context, Hints, Outcome, READ, SAFE_SET, Tool};
use crate::mcp::tool_result::{job_result, json_result};
use bld_remote_protocol::timeline::MAX_WAIT_SECS;
use bld_remote_protocol::{Command, JobView};
use schemars::JsonSchema;
use serde::Deserialize;

pub struct GetJob;

impl Tool for GetJob {
    const NAME: &'static str = "get_job";
    const DESCRIPTION: &'static str = "A job's state; once finished, its result as execute_code gives it. wait waits; stdout_offset pages through long output.";
    const HINTS: Hints = READ;
    type Args = GetJobArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: GetJobArgs, _: &Context) -> Outcome {
        args::check_range("wait", args.wait, 0.0, MAX_WAIT_SECS)?;
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
}

pub struct CancelJob;

impl Tool for CancelJob {
    const NAME: &'static str = "cancel_job";
    const DESCRIPTION: &'static str = "Stop a queued or running job.";
    const HINTS: Hints = SAFE_SET;
    type Args = JobIdArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: JobIdArgs, _: &Context) -> Outcome {
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
}

pub struct ListJobs;

impl Tool for ListJobs {
    const NAME: &'static str = "list_jobs";
    const DESCRIPTION: &'static str = "Recent jobs and their states.";
    const HINTS: Hints = READ;
    type Args = NoArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, _: NoArgs, _: &Context) -> Outcome {
        server.control(Command::ListJobs, 0.0).await
    }
}
