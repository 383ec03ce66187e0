//! How the MCP tools' arguments are read. Each tool's argument type is in its module under
//! `tools/`; its JSON Schema (schemars) is the tool's `inputSchema`, and decoding goes through
//! `serde_path_to_error`, so a bad argument is refused naming it.

use rmcp::ErrorData;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// The arguments of a tool that takes none. (A `//` comment: a doc comment would become the
// schema's description, and cost every tools/list that many characters.)
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Decodes tool arguments; errors are JSON-RPC invalid-params naming the argument.
pub fn decode<T: DeserializeOwned>(arguments: Option<Map<String, Value>>) -> Result<T, ErrorData> {
    let value = Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = if path == "." {
            err.inner().to_string()
        } else {
            format!("{path}: {}", err.inner())
        };
        ErrorData::invalid_params(format!("invalid arguments: {message}"), None)
    })
}

/// Checks a number argument against its range; the error names the argument and what was sent.
pub fn check_range(name: &str, value: Option<f64>, low: f64, high: f64) -> Result<(), ErrorData> {
    match value {
        Some(v) if !(low..=high).contains(&v) => Err(ErrorData::invalid_params(
            format!("invalid arguments: {name} must be between {low} and {high} seconds, got {v}"),
            None,
        )),
        _ => Ok(()),
    }
}

/// The wire spelling (docs/protocol.md, get_viewport_screenshot) of an enum argument: its
/// serde name, read back from a serde_json round trip so the two cannot drift apart.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bld_remote_protocol::timeline::{MAX_TIMEOUT_SECS, MAX_WAIT_SECS};

    #[test]
    fn no_arguments_decode_from_none_or_an_empty_object() {
        let _: NoArgs = decode(None).unwrap();
        let _: NoArgs = decode(Some(Map::new())).unwrap();
        let err = decode::<NoArgs>(serde_json::json!({"x": 1}).as_object().cloned()).unwrap_err();
        assert!(err.message.contains("unknown field `x`"), "{}", err.message);
    }

    #[test]
    fn numbers_out_of_range_are_refused_naming_what_was_sent() {
        let err = check_range("timeout", Some(-5.0), 0.001, MAX_TIMEOUT_SECS).unwrap_err();
        assert_eq!(
            err.message,
            "invalid arguments: timeout must be between 0.001 and 86400 seconds, got -5"
        );
        assert!(check_range("wait", Some(-1.0), 0.0, MAX_WAIT_SECS).is_err());
        assert!(check_range("wait", Some(3601.0), 0.0, MAX_WAIT_SECS).is_err());
        assert!(check_range("wait", Some(0.0), 0.0, MAX_WAIT_SECS).is_ok());
        assert!(check_range("wait", None, 0.0, MAX_WAIT_SECS).is_ok());
    }
}
