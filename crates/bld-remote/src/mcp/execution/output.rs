//! `execute_code`'s structured content as a type. The tool's output schema is generated from it
//! (schemars) and the structured content is serialised from it, so what the schema promises and
//! what a client receives cannot drift apart (clients such as the Python SDK validate one
//! against the other). Built from an execution envelope within the reply budget (`budget.rs`),
//! or from the job an async submission became.

use crate::mcp::budget;
use crate::mcp::schema;
use crate::mcp::tool::ToolOutput;
use bld_remote_protocol::{Envelope, ErrorObject, ExecStatus, JobState, LogRecord, Submitted};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A finished run (synchronous mode, the default), or the job an async submission became
/// (then only `status` and `job_id`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ExecuteCodeOutput {
    pub status: ExecuteCodeStatus,
    /// The job of an async submission.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub job_id: Option<String>,
    #[serde(flatten)]
    pub run: Option<RunOutput>,
}

/// How a run ended, or where an async submission's job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecuteCodeStatus {
    Success,
    Error,
    Timeout,
    Cancelled,
    Queued,
    Running,
    // An async job that finished before its submission was answered. (A `//` comment: a doc
    // comment would split the schema's enum into a oneOf.)
    Finished,
}

impl From<ExecStatus> for ExecuteCodeStatus {
    fn from(status: ExecStatus) -> Self {
        match status {
            ExecStatus::Success => ExecuteCodeStatus::Success,
            ExecStatus::Error => ExecuteCodeStatus::Error,
            ExecStatus::Timeout => ExecuteCodeStatus::Timeout,
            ExecStatus::Cancelled => ExecuteCodeStatus::Cancelled,
        }
    }
}

impl From<JobState> for ExecuteCodeStatus {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => ExecuteCodeStatus::Queued,
            JobState::Running => ExecuteCodeStatus::Running,
            JobState::Finished => ExecuteCodeStatus::Finished,
        }
    }
}

/// What a finished run produced, as an agent receives it (bounded; see `truncated`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RunOutput {
    /// The value of the last expression, or `_result` (a preview when large).
    pub result: Value,
    pub stdout: String,
    pub stderr: String,
    /// `output.logs` of the envelope (docs/protocol.md §5), the last ones.
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub logs: Vec<Value>,
    /// Seconds.
    pub duration: f64,
    #[schemars(with = "Option<Map<String, Value>>")]
    pub error: Option<ErrorObject>,
    pub traceback: Option<String>,
    /// The envelope's metadata (docs/protocol.md §5): job_id, scene changes, …
    pub metadata: Map<String, Value>,
    /// What was left out of the fields above (by field name: `stdout`, `stderr`, `result`,
    /// `logs`), and where the whole of it is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub truncated: BTreeMap<&'static str, Cut>,
}

/// One cut: what was left out, and where the whole is.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Cut {
    pub what: String,
    /// Characters in the stream before the cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "usize")]
    pub total_chars: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub full: Option<String>,
}

impl ToolOutput for ExecuteCodeOutput {
    fn schema() -> Option<Arc<rmcp::model::JsonObject>> {
        Some(schema::output::<Self>())
    }
}

impl ExecuteCodeOutput {
    /// A finished run, within the reply budget (`budget.rs`): what was cut is listed under
    /// `truncated`, with where the full data is.
    pub fn from_envelope(envelope: &Envelope) -> ExecuteCodeOutput {
        let traceback = envelope.traceback.as_deref();
        let stdout = budget::stream(&envelope.output.stdout, traceback);
        let stderr = budget::stream(&envelope.output.stderr, traceback);
        let (result, result_note) = budget::result(&envelope.result);
        let logs: Vec<Value> = envelope
            .output
            .logs
            .iter()
            .map(|record| serde_json::to_value(record).unwrap_or(Value::Null))
            .collect();
        let (logs, progress_collapsed, logs_dropped) = budget::logs(&logs);
        let job = envelope.job_id().unwrap_or("the job");
        let stream_cut = |shown: &budget::Shown, paged: bool| {
            shown.note.as_ref().map(|note| Cut {
                what: note.clone(),
                total_chars: Some(shown.total_chars),
                full: (paged && shown.text.contains("characters cut]")).then(|| {
                    format!("get_job with job_id {job} and stdout_offset pages through all of it")
                }),
            })
        };
        let mut log_notes = Vec::new();
        if progress_collapsed > 0 {
            log_notes.push(format!(
                "{progress_collapsed} render progress lines collapsed"
            ));
        }
        if logs_dropped > 0 {
            log_notes.push(format!(
                "{logs_dropped} earlier log records dropped; the last {} kept",
                logs.len()
            ));
        }
        let result_cut = result_note.map(|note| Cut {
            what: note,
            total_chars: None,
            full: Some(format!("resource blender://jobs/{job}/result")),
        });
        let logs_cut = (!log_notes.is_empty()).then(|| Cut {
            what: log_notes.join(", "),
            total_chars: None,
            full: None,
        });
        let truncated = [
            ("stdout", stream_cut(&stdout, true)),
            ("stderr", stream_cut(&stderr, false)),
            ("result", result_cut),
            ("logs", logs_cut),
        ]
        .into_iter()
        .filter_map(|(name, cut)| cut.map(|cut| (name, cut)))
        .collect();
        ExecuteCodeOutput {
            status: envelope.status.into(),
            job_id: None,
            run: Some(RunOutput {
                result,
                stdout: stdout.text,
                stderr: stderr.text,
                logs,
                duration: envelope.duration,
                error: envelope.error.clone(),
                traceback: envelope.traceback.clone(),
                metadata: envelope.metadata.clone(),
                truncated,
            }),
        }
    }

    /// The job an async submission became.
    pub fn submitted(submitted: Submitted) -> ExecuteCodeOutput {
        ExecuteCodeOutput {
            status: submitted.state.into(),
            job_id: Some(submitted.job_id),
            run: None,
        }
    }

    /// The log records kept, as the protocol's type (for the text rendering).
    pub fn log_records(&self) -> impl Iterator<Item = LogRecord> + '_ {
        self.run
            .iter()
            .flat_map(|run| &run.logs)
            .filter_map(|record| serde_json::from_value(record.clone()).ok())
    }
}
