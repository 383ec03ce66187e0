//! Requests (`docs/protocol.md` §3–§6): `{"id": …, "type": "<command>", "params": {…}}`.
//!
//! [`Command`] is adjacently tagged, so the command name and its params are one Rust value and a
//! request for a command that does not exist cannot be built. Optional params are left out of the
//! JSON when `None`, which the server reads as "use the default".

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A request id: the server echoes it verbatim. Only strings and integers are valid ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Int(i64),
    Str(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Int(n) => write!(f, "{n}"),
            RequestId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Int(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::Str(s.to_owned())
    }
}

/// One request. (Protocol 1 carried the token here; protocol 2 never sends it, §1a.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: Option<RequestId>,
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    pub fn new(id: impl Into<RequestId>, command: Command) -> Self {
        Request {
            id: Some(id.into()),
            command,
        }
    }
}

/// Every command of the protocol, with its params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "params", rename_all = "snake_case")]
pub enum Command {
    Ping,
    /// Before authentication, with `client_nonce`, the first step of the handshake (§1a);
    /// after, who the server is.
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_nonce: Option<String>,
    },
    /// The second step of the handshake: the client's proof (§1a).
    Authenticate {
        client_proof: String,
    },
    Status,
    ExecuteCode(ExecuteCode),
    GetJob {
        job_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait: Option<f64>,
        /// Ask for the job's stdout from this character on (see [`crate::StdoutSince`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdout_offset: Option<u64>,
    },
    CancelJob {
        job_id: String,
    },
    ListJobs,
    ResetSession {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// Headless Blenders only: load `file` (a .blend; `None`: Blender's factory startup scene),
    /// then drop every namespace, the persist store and the jobs not started (§4).
    ResetBlender {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    PutPersistData {
        key: String,
        data: Value,
    },
    GetPersistData {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Value>,
    },
    RemovePersistData {
        key: String,
    },
    Shutdown {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
    ServerShutdown,
    GetPolyhavenStatus,
    GetSceneInfo {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    GetObjectInfo {
        object_name: String,
    },
    GetViewportScreenshot {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_size: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ScreenshotFormat>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filepath: Option<String>,
        /// `current` (default), `camera`, `front`, `back`, `left`, `right`, `top`, `bottom`,
        /// `iso`, or `angle` with `azimuth`/`elevation` in degrees.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        azimuth: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        elevation: Option<f64>,
        /// `current` (default), `wireframe`, `solid`, `material`, `rendered`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shading: Option<String>,
    },
}

impl Command {
    /// The wire name of the command (`"execute_code"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::Hello { .. } => "hello",
            Command::Authenticate { .. } => "authenticate",
            Command::Status => "status",
            Command::ExecuteCode(_) => "execute_code",
            Command::GetJob { .. } => "get_job",
            Command::CancelJob { .. } => "cancel_job",
            Command::ListJobs => "list_jobs",
            Command::ResetSession { .. } => "reset_session",
            Command::ResetBlender { .. } => "reset_blender",
            Command::PutPersistData { .. } => "put_persist_data",
            Command::GetPersistData { .. } => "get_persist_data",
            Command::RemovePersistData { .. } => "remove_persist_data",
            Command::Shutdown { .. } => "shutdown",
            Command::ServerShutdown => "server_shutdown",
            Command::GetPolyhavenStatus => "get_polyhaven_status",
            Command::GetSceneInfo { .. } => "get_scene_info",
            Command::GetObjectInfo { .. } => "get_object_info",
            Command::GetViewportScreenshot { .. } => "get_viewport_screenshot",
        }
    }

    /// Whether the reply is an execution envelope (§5) rather than `{status, result, error}`.
    pub fn replies_with_envelope(&self) -> bool {
        matches!(self, Command::ExecuteCode(exec) if exec.execution_mode != Some(ExecutionMode::Async))
    }
}

/// Params of `execute_code` (§5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecuteCode {
    pub code: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code_is_base64: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<ExecutionMode>,
    /// Seconds, 0.001–86400; the server default is 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_output: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_result_bytes: Option<u64>,
    /// GUI: push an undo step when the call changed the scene (server default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<bool>,
    /// Save a copy of the open file before running; the reply's `metadata.checkpoint` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Async only: reply when the job ends or after this many seconds, with the job's view
    /// (as `get_job` with `wait`), so that a quick job costs one round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<f64>,
    /// Async only: include the job's stdout from this character on (as `get_job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_offset: Option<u64>,
}

impl ExecuteCode {
    pub fn new(code: impl Into<String>) -> Self {
        ExecuteCode {
            code: code.into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    Sync,
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScreenshotFormat {
    Png,
    Jpg,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(request: &Request) -> Value {
        let json = serde_json::to_value(request).unwrap();
        let back: Request = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(&back, request, "round trip of {json}");
        json
    }

    #[test]
    fn unit_commands_carry_no_params() {
        for (command, name) in [
            (Command::Ping, "ping"),
            (Command::Status, "status"),
            (Command::ListJobs, "list_jobs"),
            (Command::ServerShutdown, "server_shutdown"),
            (Command::GetPolyhavenStatus, "get_polyhaven_status"),
        ] {
            let json = round_trip(&Request::new(7, command.clone()));
            assert_eq!(json, json!({"id": 7, "type": name}));
            assert_eq!(command.name(), name);
        }
    }

    #[test]
    fn the_handshake_commands() {
        let plain = round_trip(&Request::new(1, Command::Hello { client_nonce: None }));
        assert_eq!(plain, json!({"id": 1, "type": "hello", "params": {}}));
        let challenge = round_trip(&Request::new(
            2,
            Command::Hello {
                client_nonce: Some("n".into()),
            },
        ));
        assert_eq!(
            challenge,
            json!({"id": 2, "type": "hello", "params": {"client_nonce": "n"}})
        );
        let answer = round_trip(&Request::new(
            3,
            Command::Authenticate {
                client_proof: "p".into(),
            },
        ));
        assert_eq!(
            answer,
            json!({"id": 3, "type": "authenticate", "params": {"client_proof": "p"}})
        );
        assert_eq!(
            serde_json::to_value(Request::new(4, Command::Ping)).unwrap(),
            json!({"id": 4, "type": "ping"}),
            "no token field in protocol 2"
        );
    }

    #[test]
    fn execute_code_leaves_defaults_to_the_server() {
        let json = round_trip(&Request::new(
            "a",
            Command::ExecuteCode(ExecuteCode::new("1 + 1")),
        ));
        assert_eq!(
            json,
            json!({"id": "a", "type": "execute_code", "params": {"code": "1 + 1"}})
        );
    }

    #[test]
    fn execute_code_with_every_param() {
        let exec = ExecuteCode {
            code: "eA==".into(),
            code_is_base64: true,
            execution_mode: Some(ExecutionMode::Async),
            timeout: Some(2.5),
            capture_output: Some(false),
            session: Some("shared".into()),
            max_result_bytes: Some(4096),
            undo: Some(false),
            checkpoint: Some(true),
            wait: Some(0.2),
            stdout_offset: Some(0),
        };
        let command = Command::ExecuteCode(exec);
        assert!(!command.replies_with_envelope());
        let json = round_trip(&Request::new(1, command));
        assert_eq!(
            json["params"],
            json!({"code": "eA==", "code_is_base64": true, "execution_mode": "async", "timeout": 2.5,
                   "capture_output": false, "session": "shared", "max_result_bytes": 4096,
                   "undo": false, "checkpoint": true, "wait": 0.2, "stdout_offset": 0})
        );
    }

    #[test]
    fn commands_with_params_round_trip() {
        let cases = [
            (
                Command::GetJob {
                    job_id: "job-1".into(),
                    wait: Some(3.0),
                    stdout_offset: Some(5),
                },
                json!({"job_id": "job-1", "wait": 3.0, "stdout_offset": 5}),
            ),
            (
                Command::CancelJob {
                    job_id: "job-2".into(),
                },
                json!({"job_id": "job-2"}),
            ),
            (Command::ResetSession { session: None }, json!({})),
            (Command::ResetBlender { file: None }, json!({})),
            (
                Command::ResetBlender {
                    file: Some("/srv/baseline.blend".into()),
                },
                json!({"file": "/srv/baseline.blend"}),
            ),
            (
                Command::PutPersistData {
                    key: "k".into(),
                    data: json!([1, null]),
                },
                json!({"key": "k", "data": [1, null]}),
            ),
            (
                Command::GetPersistData {
                    key: "k".into(),
                    default: Some(json!(0)),
                },
                json!({"key": "k", "default": 0}),
            ),
            (
                Command::RemovePersistData { key: "k".into() },
                json!({"key": "k"}),
            ),
            (
                Command::Shutdown { exit_code: Some(3) },
                json!({"exit_code": 3}),
            ),
            (
                Command::GetSceneInfo {
                    limit: Some(10),
                    offset: Some(20),
                },
                json!({"limit": 10, "offset": 20}),
            ),
            (
                Command::GetObjectInfo {
                    object_name: "Cube".into(),
                },
                json!({"object_name": "Cube"}),
            ),
            (
                Command::GetViewportScreenshot {
                    max_size: Some(400),
                    format: Some(ScreenshotFormat::Jpg),
                    filepath: None,
                    view: Some("angle".into()),
                    azimuth: Some(30.0),
                    elevation: Some(-10.0),
                    shading: Some("wireframe".into()),
                },
                json!({"max_size": 400, "format": "jpg", "view": "angle", "azimuth": 30.0,
                       "elevation": -10.0, "shading": "wireframe"}),
            ),
        ];
        for (command, params) in cases {
            let name = command.name();
            let json = round_trip(&Request::new(1, command));
            assert_eq!(json["type"], name);
            assert_eq!(json["params"], params, "{name}");
        }
    }

    /// One of each command. The match has no wildcard, so a command added to the enum does not
    /// compile until it is listed here too (and then it must be in the document's table).
    fn every_command() -> Vec<Command> {
        let all = vec![
            Command::Ping,
            Command::Hello { client_nonce: None },
            Command::Authenticate {
                client_proof: String::new(),
            },
            Command::Status,
            Command::ExecuteCode(ExecuteCode::new("")),
            Command::GetJob {
                job_id: String::new(),
                wait: None,
                stdout_offset: None,
            },
            Command::CancelJob {
                job_id: String::new(),
            },
            Command::ListJobs,
            Command::ResetSession { session: None },
            Command::ResetBlender { file: None },
            Command::PutPersistData {
                key: String::new(),
                data: Value::Null,
            },
            Command::GetPersistData {
                key: String::new(),
                default: None,
            },
            Command::RemovePersistData { key: String::new() },
            Command::Shutdown { exit_code: None },
            Command::ServerShutdown,
            Command::GetPolyhavenStatus,
            Command::GetSceneInfo {
                limit: None,
                offset: None,
            },
            Command::GetObjectInfo {
                object_name: String::new(),
            },
            Command::GetViewportScreenshot {
                max_size: None,
                format: None,
                filepath: None,
                view: None,
                azimuth: None,
                elevation: None,
                shading: None,
            },
        ];
        for command in &all {
            match command {
                Command::Ping
                | Command::Hello { .. }
                | Command::Authenticate { .. }
                | Command::Status
                | Command::ExecuteCode(_)
                | Command::GetJob { .. }
                | Command::CancelJob { .. }
                | Command::ListJobs
                | Command::ResetSession { .. }
                | Command::ResetBlender { .. }
                | Command::PutPersistData { .. }
                | Command::GetPersistData { .. }
                | Command::RemovePersistData { .. }
                | Command::Shutdown { .. }
                | Command::ServerShutdown
                | Command::GetPolyhavenStatus
                | Command::GetSceneInfo { .. }
                | Command::GetObjectInfo { .. }
                | Command::GetViewportScreenshot { .. } => {}
            }
        }
        all
    }

    /// The commands are exactly the table of docs/protocol.md §4, in its order, and each one's
    /// wire name is the one serde writes: a command added on either side without the other
    /// fails here.
    #[test]
    fn the_commands_are_the_table_of_the_protocol_document() {
        let rows = crate::protocol_doc::table(
            crate::protocol_doc::section("## 4."),
            &["command", "thread", "params", "result"],
        );
        let documented: Vec<&str> = rows
            .iter()
            .map(|row| crate::protocol_doc::unquote(row[0]))
            .collect();
        let commands = every_command();
        let names: Vec<&str> = commands.iter().map(Command::name).collect();
        assert_eq!(names, documented);
        for command in &commands {
            let json = serde_json::to_value(Request::new(1, command.clone())).unwrap();
            assert_eq!(json["type"], command.name());
        }
    }

    #[test]
    fn only_sync_execute_code_replies_with_an_envelope() {
        assert!(Command::ExecuteCode(ExecuteCode::new("x")).replies_with_envelope());
        assert!(!Command::Ping.replies_with_envelope());
    }

    #[test]
    fn a_request_for_an_unknown_command_does_not_decode() {
        let err =
            serde_json::from_value::<Request>(json!({"id": 1, "type": "make_coffee"})).unwrap_err();
        assert!(err.to_string().contains("make_coffee"), "{err}");
    }

    #[test]
    fn ids_are_strings_integers_or_absent() {
        let request: Request = serde_json::from_value(json!({"type": "ping"})).unwrap();
        assert_eq!(request.id, None);
        assert!(serde_json::from_value::<Request>(json!({"id": 1.5, "type": "ping"})).is_err());
        assert!(serde_json::from_value::<Request>(json!({"id": true, "type": "ping"})).is_err());
        assert_eq!(RequestId::from("x").to_string(), "\"x\"");
        assert_eq!(RequestId::from(4).to_string(), "4");
    }
}
