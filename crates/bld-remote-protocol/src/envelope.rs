//! The execution envelope of `execute_code` (`docs/protocol.md` §5): everything a run produced.

use crate::reply::ErrorObject;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub status: ExecStatus,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub output: Output,
    /// Seconds spent compiling and running.
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub error: Option<ErrorObject>,
    #[serde(default)]
    pub traceback: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Envelope {
    pub fn is_success(&self) -> bool {
        self.status == ExecStatus::Success
    }

    /// The job id the server gave this run (`metadata.job_id`).
    pub fn job_id(&self) -> Option<&str> {
        self.metadata.get("job_id").and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    Success,
    Error,
    Timeout,
    Cancelled,
}

impl ExecStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Success => "success",
            ExecStatus::Error => "error",
            ExecStatus::Timeout => "timeout",
            ExecStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Output {
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub logs: Vec<LogRecord>,
}

/// One record of `output.logs`: `source` is `logging`, `blender` (C-level output) or `bld-remote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// `[WARNING] message` (the level of a `logging` record, else its source): how the CLI and
/// the MCP server show a record to a person.
impl std::fmt::Display for LogRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}",
            self.level.as_deref().unwrap_or(&self.source),
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_example_envelope_decodes_and_round_trips() {
        let json = json!({"status": "success", "result": 6,
            "output": {"stdout": "1\n", "stderr": "", "logs": [
                {"source": "logging", "level": "WARNING", "logger": "my.tool", "message": "careful"},
                {"source": "blender", "message": "Info: Saved"}]},
            "duration": 0.0005, "error": null, "traceback": null,
            "metadata": {"job_id": "job-1", "scene_changed": false}});
        let envelope: Envelope = serde_json::from_value(json.clone()).unwrap();
        assert!(envelope.is_success());
        assert_eq!(envelope.result, json!(6));
        assert_eq!(envelope.job_id(), Some("job-1"));
        assert_eq!(envelope.output.logs[0].level.as_deref(), Some("WARNING"));
        assert_eq!(envelope.output.logs[1].level, None);
        assert_eq!(envelope.output.logs[0].to_string(), "[WARNING] careful");
        assert_eq!(envelope.output.logs[1].to_string(), "[blender] Info: Saved");
        assert_eq!(serde_json::to_value(&envelope).unwrap(), json);
    }

    #[test]
    fn every_status_decodes() {
        for status in [
            ExecStatus::Success,
            ExecStatus::Error,
            ExecStatus::Timeout,
            ExecStatus::Cancelled,
        ] {
            let text = format!("\"{}\"", status.as_str());
            assert_eq!(serde_json::from_str::<ExecStatus>(&text).unwrap(), status);
        }
        assert!(serde_json::from_str::<ExecStatus>("\"exploded\"").is_err());
    }
}
