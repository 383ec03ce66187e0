//! Replies (`docs/protocol.md` §3). Every v1 reply is one JSON object with an `id`; what else it
//! holds depends on the command, so a [`Reply`] keeps the body as JSON and is decoded by the
//! caller, who knows what it asked: [`Reply::into_result`] for plain replies, and
//! [`Reply::into_envelope`] for synchronous `execute_code`.

use crate::envelope::Envelope;
use crate::error_code::ErrorCode;
use crate::request::RequestId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// One reply line: its id (to match it with its request) and the rest of the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: Option<RequestId>,
    pub body: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Success,
    Error,
}

/// A plain reply: `{"id", "status", "result", "error"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainReply {
    pub id: Option<RequestId>,
    pub status: ReplyStatus,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub error: Option<ErrorObject>,
}

/// `{"code", "message", …details}`. Details are `param`, `known`, `job_id`, `object_name` for
/// command errors and `type`, `line`, `column`, `text`, `stuck` inside an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: ErrorCode,
    #[serde(default)]
    pub message: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl ErrorObject {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// The Python exception class, for execution errors.
    pub fn exception_type(&self) -> Option<&str> {
        self.details.get("type").and_then(Value::as_str)
    }

    /// The line of the user's code where it failed.
    pub fn line(&self) -> Option<i64> {
        self.details.get("line").and_then(Value::as_i64)
    }

    /// The offending param, for `invalid_params`.
    pub fn param(&self) -> Option<&str> {
        self.details.get("param").and_then(Value::as_str)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exception_type() {
            Some(kind) => write!(f, "{kind}: {}", self.message),
            None => write!(f, "{} ({})", self.message, self.code),
        }
    }
}

impl std::error::Error for ErrorObject {}

/// Why a reply could not be decoded as the caller expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from the server: {0}")]
pub struct MalformedReply(pub String);

impl Reply {
    /// Decodes one reply line (without its `\n`).
    pub fn from_slice(line: &[u8]) -> Result<Reply, MalformedReply> {
        let value: Value = serde_json::from_slice(line)
            .map_err(|err| MalformedReply(format!("not JSON ({err})")))?;
        let Value::Object(mut body) = value else {
            return Err(MalformedReply("a reply must be a JSON object".into()));
        };
        let id = match body.remove("id") {
            None | Some(Value::Null) => None,
            Some(id) => Some(
                serde_json::from_value(id)
                    .map_err(|_| MalformedReply("reply id is not a string or integer".into()))?,
            ),
        };
        Ok(Reply { id, body })
    }

    pub fn status(&self) -> Option<&str> {
        self.body.get("status").and_then(Value::as_str)
    }

    /// The error object of an error reply, if this is one (outside an envelope).
    fn plain_error(&self) -> Option<Result<ErrorObject, MalformedReply>> {
        if self.status() != Some("error") || self.body.contains_key("output") {
            return None;
        }
        let error = self.body.get("error").cloned().unwrap_or(Value::Null);
        Some(
            serde_json::from_value(error)
                .map_err(|err| MalformedReply(format!("bad error object ({err})"))),
        )
    }

    /// A plain reply's `result`, or its error.
    pub fn into_result(self) -> Result<Result<Value, ErrorObject>, MalformedReply> {
        if let Some(error) = self.plain_error() {
            return Ok(Err(error?));
        }
        match self.status() {
            Some("success") => Ok(Ok(self.body.get("result").cloned().unwrap_or(Value::Null))),
            other => Err(MalformedReply(format!("unexpected status {other:?}"))),
        }
    }

    /// A synchronous `execute_code` reply: the envelope, or the plain error of a request that
    /// was refused before it ran (`invalid_params`, `queue_full`, …).
    pub fn into_envelope(self) -> Result<Result<Envelope, ErrorObject>, MalformedReply> {
        if let Some(error) = self.plain_error() {
            return Ok(Err(error?));
        }
        serde_json::from_value(Value::Object(self.body))
            .map(Ok)
            .map_err(|err| MalformedReply(format!("bad execution envelope ({err})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ExecStatus;
    use serde_json::json;

    fn reply(value: Value) -> Reply {
        Reply::from_slice(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_success_reply_gives_its_result() {
        let r =
            reply(json!({"id": 3, "status": "success", "result": {"pong": true}, "error": null}));
        assert_eq!(r.id, Some(RequestId::Int(3)));
        assert_eq!(r.into_result().unwrap().unwrap(), json!({"pong": true}));
    }

    #[test]
    fn an_error_reply_gives_its_error_with_details() {
        let r = reply(json!({"id": "x", "status": "error", "result": null,
            "error": {"code": "unknown_command", "message": "unknown command 'x'", "known": ["ping"]}}));
        let err = r.into_result().unwrap().unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownCommand);
        assert_eq!(err.details["known"], json!(["ping"]));
        assert_eq!(err.to_string(), "unknown command 'x' (unknown_command)");
    }

    #[test]
    fn plain_reply_type_round_trips() {
        let plain = PlainReply {
            id: Some(RequestId::Int(1)),
            status: ReplyStatus::Error,
            result: Value::Null,
            error: Some(ErrorObject::new(ErrorCode::QueueFull, "too many jobs")),
        };
        let text = serde_json::to_string(&plain).unwrap();
        assert_eq!(serde_json::from_str::<PlainReply>(&text).unwrap(), plain);
        let err = Reply::from_slice(text.as_bytes())
            .unwrap()
            .into_envelope()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::QueueFull);
    }

    #[test]
    fn an_envelope_with_status_error_is_an_envelope_not_a_refusal() {
        let r = reply(json!({"id": 2, "status": "error", "result": null,
            "output": {"stdout": "", "stderr": "", "logs": []}, "duration": 0.001,
            "error": {"code": "execution_error", "type": "ZeroDivisionError", "message": "division by zero", "line": 1},
            "traceback": "Traceback…", "metadata": {"job_id": "job-2"}}));
        let envelope = r.into_envelope().unwrap().unwrap();
        assert_eq!(envelope.status, ExecStatus::Error);
        let error = envelope.error.unwrap();
        assert_eq!(error.exception_type(), Some("ZeroDivisionError"));
        assert_eq!(error.line(), Some(1));
        assert_eq!(error.to_string(), "ZeroDivisionError: division by zero");
    }

    #[test]
    fn malformed_replies_are_refused_with_a_reason() {
        for (line, why) in [
            (&b"not json"[..], "not JSON"),
            (b"[1, 2]", "JSON object"),
            (b"{\"id\": 1.5, \"status\": \"success\"}", "reply id"),
        ] {
            let err = Reply::from_slice(line).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        let odd = reply(json!({"id": 1, "status": "maybe"}));
        assert!(odd.into_result().unwrap_err().to_string().contains("maybe"));
        let bad_envelope = reply(json!({"id": 1, "status": "success", "output": 3}));
        assert!(bad_envelope.into_envelope().is_err());
    }

    #[test]
    fn floats_are_read_exactly() {
        // Found by fuzzing (fuzz/, frame target): serde_json's default float parser read these,
        // as Python's repr writes them, as the next double up or down.
        for text in [
            "0.019369921936579094",
            "4000.4260171376986",
            "126666.66666666267",
        ] {
            let line = format!(r#"{{"id":1,"status":"success","result":{text}}}"#);
            let result = Reply::from_slice(line.as_bytes())
                .unwrap()
                .into_result()
                .unwrap()
                .unwrap();
            assert_eq!(
                result.as_f64(),
                Some(text.parse::<f64>().unwrap()),
                "{text}"
            );
            assert_eq!(result.to_string(), text);
        }
    }

    #[test]
    fn an_id_of_null_is_no_id() {
        let r = reply(json!({"id": null, "status": "error", "result": null,
            "error": {"code": "parse_error", "message": "bad"}}));
        assert_eq!(r.id, None);
        assert_eq!(
            r.into_result().unwrap().unwrap_err().code,
            ErrorCode::ParseError
        );
    }
}
