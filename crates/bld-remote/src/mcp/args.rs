//! Arguments of the MCP tools. Their JSON Schemas (schemars) are the tools' `inputSchema`, and
//! decoding goes through `serde_path_to_error`, so a bad argument is refused naming it.

use rmcp::ErrorData;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCode {
    /// Python to run in Blender; the value of the last expression (or `_result`) is returned.
    pub code: String,
    /// Seconds before the code is stopped (default 30).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// `sync` (default) waits for the result; `async` returns a job id for get_job.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Save a copy of the open .blend first (for risky code); the result's metadata names it.
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
    /// A job id such as `job-7`.
    pub job_id: String,
    /// Seconds to wait for the job to finish (default 0).
    #[serde(default)]
    pub wait: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneInfo {
    /// Objects per page (default: all).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Objects to skip.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Object fields to keep, e.g. ["name", "type"] (default: all).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectName {
    pub object_name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Screenshot {
    /// Longest side in pixels, 16–8192 (default 800).
    #[serde(default)]
    pub max_size: Option<u32>,
    /// Where from: the view as it is (`current`, default), the scene `camera`, a named side,
    /// `iso`, or `angle` with `azimuth`/`elevation`. The user's own view is put back afterwards.
    #[serde(default)]
    pub view: Option<View>,
    /// Degrees around the vertical axis for `view: angle` (0 = from the front, 90 = from the right).
    #[serde(default)]
    pub azimuth: Option<f64>,
    /// Degrees above the ground plane for `view: angle`, -90–90.
    #[serde(default)]
    pub elevation: Option<f64>,
    /// How to shade it (default: as it is).
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
