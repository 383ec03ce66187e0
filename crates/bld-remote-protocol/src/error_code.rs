//! Error codes of `docs/protocol.md` §3, kept open-ended: a newer server may send a code this
//! crate does not know, and that must still decode (as [`ErrorCode::Other`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ParseError,
    InvalidRequest,
    UnknownCommand,
    InvalidParams,
    MessageTooLarge,
    IncompleteMessage,
    ExecutionError,
    Timeout,
    Cancelled,
    QueueFull,
    NotFound,
    Busy,
    ShuttingDown,
    InternalError,
    Unauthorized,
    /// Guard mode refused what the code tried (a program, a socket, a write).
    GuardRefused,
    /// `checkpoint: true` and the copy could not be saved: the code did not run.
    CheckpointFailed,
    /// A code this version does not know, kept verbatim.
    Other(String),
}

const KNOWN: &[(ErrorCode, &str)] = &[
    (ErrorCode::ParseError, "parse_error"),
    (ErrorCode::InvalidRequest, "invalid_request"),
    (ErrorCode::UnknownCommand, "unknown_command"),
    (ErrorCode::InvalidParams, "invalid_params"),
    (ErrorCode::MessageTooLarge, "message_too_large"),
    (ErrorCode::IncompleteMessage, "incomplete_message"),
    (ErrorCode::ExecutionError, "execution_error"),
    (ErrorCode::Timeout, "timeout"),
    (ErrorCode::Cancelled, "cancelled"),
    (ErrorCode::QueueFull, "queue_full"),
    (ErrorCode::NotFound, "not_found"),
    (ErrorCode::Busy, "busy"),
    (ErrorCode::ShuttingDown, "shutting_down"),
    (ErrorCode::InternalError, "internal_error"),
    (ErrorCode::Unauthorized, "unauthorized"),
    (ErrorCode::GuardRefused, "guard_refused"),
    (ErrorCode::CheckpointFailed, "checkpoint_failed"),
];

impl ErrorCode {
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(text) => text,
            known => KNOWN
                .iter()
                .find(|(code, _)| code == known)
                .map(|(_, text)| *text)
                .unwrap_or("internal_error"),
        }
    }

    pub fn parse(text: &str) -> ErrorCode {
        KNOWN
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(code, _)| code.clone())
            .unwrap_or_else(|| ErrorCode::Other(text.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_through_its_text() {
        for (code, text) in KNOWN {
            assert_eq!(code.as_str(), *text);
            assert_eq!(ErrorCode::parse(text), *code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
    }

    /// The codes this crate knows are exactly the table of docs/protocol.md §3, in its order: a
    /// code added on either side without the other fails here.
    #[test]
    fn the_known_codes_are_the_table_of_the_protocol_document() {
        let rows =
            crate::protocol_doc::table(crate::protocol_doc::section("## 3."), &["code", "when"]);
        let documented: Vec<&str> = rows
            .iter()
            .map(|row| crate::protocol_doc::unquote(row[0]))
            .collect();
        let known: Vec<&str> = KNOWN.iter().map(|(_, text)| *text).collect();
        assert_eq!(known, documented);
        for code in every_variant() {
            assert!(
                KNOWN.iter().any(|(known, _)| *known == code),
                "{code:?} is not in KNOWN (it would be sent as internal_error)"
            );
        }
    }

    /// One of each variant but `Other`. The match has no wildcard, so a variant added to the
    /// enum does not compile until it is listed here too (and then it must be in KNOWN).
    fn every_variant() -> Vec<ErrorCode> {
        use ErrorCode::*;
        let all = vec![
            ParseError,
            InvalidRequest,
            UnknownCommand,
            InvalidParams,
            MessageTooLarge,
            IncompleteMessage,
            ExecutionError,
            Timeout,
            Cancelled,
            QueueFull,
            NotFound,
            Busy,
            ShuttingDown,
            InternalError,
            Unauthorized,
            GuardRefused,
            CheckpointFailed,
        ];
        for code in &all {
            match code {
                ParseError | InvalidRequest | UnknownCommand | InvalidParams | MessageTooLarge
                | IncompleteMessage | ExecutionError | Timeout | Cancelled | QueueFull
                | NotFound | Busy | ShuttingDown | InternalError | Unauthorized | GuardRefused
                | CheckpointFailed => {}
                Other(_) => unreachable!("Other is not a known code"),
            }
        }
        all
    }

    #[test]
    fn an_unknown_code_is_kept_verbatim() {
        let code: ErrorCode = serde_json::from_str("\"rate_limited\"").unwrap();
        assert_eq!(code, ErrorCode::Other("rate_limited".into()));
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"rate_limited\"");
    }
}
