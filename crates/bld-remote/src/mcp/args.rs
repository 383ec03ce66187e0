//! Arguments of the MCP tools. Their JSON Schemas (schemars) are the tools' `inputSchema`, and
//! decoding goes through `serde_path_to_error`, so a bad argument is refused naming it.

use rmcp::ErrorData;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest `timeout` the addon takes (docs/protocol.md §5).
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
/// The longest `wait` of `get_job` (docs/protocol.md §4).
pub const MAX_WAIT_SECS: f64 = 3_600.0;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCode {
    /// Python; the last expression's value (or `_result`) is returned.
    pub code: String,
    /// Seconds before it is stopped (default 30).
    #[serde(default)]
    #[schemars(range(min = 0.001, max = 86400))]
    pub timeout: Option<f64>,
    /// `async`: return a job id for get_job at once.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Save a copy of the .blend first (risky code).
    #[serde(default)]
    pub checkpoint: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sync,
    Async,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobId {
    /// A job id such as `job-7`.
    pub job_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetJob {
    pub job_id: String,
    /// Seconds to wait for it to finish.
    #[serde(default)]
    #[schemars(range(min = 0, max = 3600))]
    pub wait: Option<f64>,
    /// Its stdout from this character on (a cut result says where).
    #[serde(default)]
    pub stdout_offset: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneInfo {
    /// Objects per page (default 100).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The previous page's next_offset.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Columns (default: all).
    #[serde(default)]
    pub fields: Option<Vec<SceneField>>,
}

/// The fields of an object in `get_scene_info` (docs/protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SceneField {
    Name,
    Type,
    Location,
    Visible,
    Parent,
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectName {
    pub object_name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Screenshot {
    /// Longest side in pixels (default 800).
    #[serde(default)]
    #[schemars(range(min = 16, max = 8192))]
    pub max_size: Option<u32>,
    /// Where from (default current; angle: with azimuth/elevation).
    #[serde(default)]
    pub view: Option<View>,
    /// Degrees around Z (0 front, 90 right).
    #[serde(default)]
    pub azimuth: Option<f64>,
    /// Degrees above the ground, -90–90.
    #[serde(default)]
    pub elevation: Option<f64>,
    /// Default: as it is.
    #[serde(default)]
    pub shading: Option<Shading>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Current,
    Camera,
    Front,
    Back,
    Left,
    Right,
    Top,
    Bottom,
    Iso,
    Angle,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shading {
    Current,
    Wireframe,
    Solid,
    Material,
    Rendered,
}

/// The wire spelling (docs/protocol.md, get_viewport_screenshot) of an enum argument: its
/// serde name, read back from a serde_json round trip so the two cannot drift apart.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPersist {
    pub key: String,
    /// Any JSON value.
    pub data: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPersist {
    pub key: String,
    /// Returned when the key is absent.
    #[serde(default)]
    pub default: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub key: String,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Option<Map<String, Value>> {
        value.as_object().cloned()
    }

    #[test]
    fn good_arguments_decode() {
        let exec: ExecuteCode =
            decode(args(json!({"code": "1", "timeout": 2, "mode": "async"}))).unwrap();
        assert_eq!(
            (exec.code.as_str(), exec.timeout, exec.mode),
            ("1", Some(2.0), Some(Mode::Async))
        );
        let none: NoArgs = decode(None).unwrap();
        let _ = none;
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

    #[test]
    fn scene_fields_are_an_enum_naming_the_valid_ones() {
        let err =
            decode::<SceneInfo>(args(json!({"fields": ["name", "nosuchfield"]}))).unwrap_err();
        assert!(
            err.message.contains("unknown variant `nosuchfield`")
                && err
                    .message
                    .contains("`name`, `type`, `location`, `visible`, `parent`"),
            "{}",
            err.message
        );
        let schema = serde_json::to_value(schemars::schema_for!(SceneInfo)).unwrap();
        assert!(schema.to_string().contains("\"visible\""), "{schema}");
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_argument() {
        for (value, expected) in [
            (json!({}), "missing field `code`"),
            (json!({"code": 5}), "code: invalid type"),
            (
                json!({"code": "x", "timeout": "soon"}),
                "timeout: invalid type",
            ),
            (
                json!({"code": "x", "mode": "later"}),
                "mode: unknown variant `later`",
            ),
            (json!({"code": "x", "colour": 1}), "unknown field `colour`"),
        ] {
            let err = decode::<ExecuteCode>(args(value.clone())).unwrap_err();
            assert!(err.message.contains(expected), "{value}: {}", err.message);
            assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
    }
}
