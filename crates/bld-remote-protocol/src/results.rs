//! Typed `result`s of the commands whose shape the tools rely on (`docs/protocol.md` §4, §6).
//! Unknown fields are ignored, so a newer addon adding fields still decodes.

use crate::envelope::{Envelope, ExecStatus};
use serde::{Deserialize, Serialize};

/// `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub server: String,
    pub addon_version: String,
    pub blender_version: String,
    /// `"background"` or `"gui"`.
    pub mode: String,
    pub pid: u32,
    pub port: u16,
    #[serde(default)]
    pub connection_id: Option<u64>,
    /// Whether the addon requires a token, and whether this connection presented it.
    #[serde(default)]
    pub auth_required: Option<bool>,
    #[serde(default)]
    pub authenticated: Option<bool>,
    /// Random per server start: tells two Blenders on one port apart, and is the middle part of
    /// every job id of that server (`job-<instance_id>-<n>`).
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    pub mode: String,
    pub port: u16,
    pub pid: u32,
    pub blender_version: String,
    pub addon_version: String,
    /// Seconds since the server started.
    pub uptime: f64,
    pub connections: u64,
    pub queue_length: u64,
    pub jobs: JobsCount,
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    /// Whether token authentication is on.
    #[serde(default)]
    pub auth: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsCount {
    pub queued: u64,
    pub running: u64,
    pub finished: u64,
}

/// The reply to an async `execute_code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub job_id: String,
    pub state: String,
}

/// An entry of `list_jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job_id: String,
    /// `queued`, `running` or `finished`.
    pub state: String,
    pub mode: String,
    pub status: Option<ExecStatus>,
    pub created: Option<f64>,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    pub timeout: Option<f64>,
    #[serde(default)]
    pub code_preview: String,
}

/// `get_job` / `cancel_job`: the summary plus the envelope once finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub envelope: Option<Envelope>,
    /// Only in `cancel_job` replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_accepted: Option<bool>,
    /// Only when `get_job` was asked with `stdout_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StdoutSince>,
}

/// The part of a job's stdout past the offset the caller had reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdoutSince {
    pub text: String,
    /// Where the next poll starts.
    pub offset: u64,
}

impl JobView {
    pub fn is_finished(&self) -> bool {
        self.summary.state == "finished"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hello_from_the_protocol_example() {
        let hello: Hello =
            serde_json::from_value(json!({"protocol_version": 1, "server": "bld-remote",
            "addon_version": "0.1.0", "blender_version": "3.4.1", "mode": "background", "pid": 9834,
            "port": 6688, "connection_id": 1}))
            .unwrap();
        assert_eq!(hello.protocol_version, 1);
        assert_eq!(hello.port, 6688);
        let back: Hello = serde_json::from_value(serde_json::to_value(&hello).unwrap()).unwrap();
        assert_eq!(back, hello);
    }

    #[test]
    fn status_ignores_fields_it_does_not_know() {
        let status: Status =
            serde_json::from_value(json!({"running": true, "mode": "gui", "port": 1, "pid": 2,
            "blender_version": "5.0.1", "addon_version": "0.1.0", "uptime": 3.5, "connections": 1,
            "queue_length": 0, "jobs": {"queued": 0, "running": 1, "finished": 4},
            "sessions": {"connections": 1, "named": []}, "rss_bytes": null, "future_field": 1}))
            .unwrap();
        assert_eq!(status.jobs.finished, 4);
        assert_eq!(status.rss_bytes, None);
    }

    #[test]
    fn job_view_with_and_without_envelope() {
        let running: JobView =
            serde_json::from_value(json!({"job_id": "job-3", "state": "running",
            "mode": "async", "status": null, "created": 1.0, "started": 1.5, "finished": null,
            "timeout": 30.0, "code_preview": "import time", "envelope": null}))
            .unwrap();
        assert!(!running.is_finished());
        assert_eq!(running.envelope, None);
        let finished: JobView = serde_json::from_value(json!({"job_id": "job-3", "state": "finished",
            "mode": "async", "status": "success", "created": 1.0, "started": 1.5, "finished": 2.0,
            "timeout": 30.0, "code_preview": "42", "cancel_accepted": false,
            "envelope": {"status": "success", "result": 42, "output": {"stdout": "", "stderr": "", "logs": []},
                         "duration": 0.1, "error": null, "traceback": null, "metadata": {}}})).unwrap();
        assert!(finished.is_finished());
        assert_eq!(finished.summary.status, Some(ExecStatus::Success));
        assert_eq!(finished.cancel_accepted, Some(false));
        assert_eq!(finished.envelope.unwrap().result, json!(42));
    }
}
