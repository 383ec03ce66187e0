//! `execute_code`: Python in Blender, followed to its end (`mcp/execution` runs the call).

use crate::mcp::args;
use crate::mcp::execution::{self, ExecuteCodeOutput};
use crate::mcp::fleet;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{Context, Hints, Outcome, RUN_CODE, Tool, routed};
use crate::mcp::tool_result::tool_error;
use bld_remote_protocol::timeline::MAX_TIMEOUT_SECS;
use schemars::JsonSchema;
use serde::Deserialize;

pub struct ExecuteCode;

impl Tool for ExecuteCode {
    const NAME: &'static str = "execute_code";
    const DESCRIPTION: &'static str = "Run Python in Blender (bpy, mathutils, bmesh imported; variables persist per session): value, stdout, stderr, logs, error with traceback. May be headless. Long work: raise timeout or mode async.";
    const HINTS: Hints = RUN_CODE;
    type Args = ExecuteCodeArgs;
    type Output = ExecuteCodeOutput;

    async fn call(server: &BlenderMcp, args: ExecuteCodeArgs, context: &Context) -> Outcome {
        args::check_range("timeout", args.timeout, 0.001, MAX_TIMEOUT_SECS)?;
        if args.blender.as_deref() == Some(fleet::ANY) && args.mode == Some(Mode::Async) {
            return Ok(tool_error(
                "blender \"any\" lends a pool worker for one call, so it cannot run a job: \
                 use mode sync, or a session (new_session) for a worker of its own",
            ));
        }
        let routed = routed!(server, args.session.as_deref(), args.blender.as_deref());
        execution::execute(&routed.server, args, context).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteCodeArgs {
    /// Python; the last expression's value (or `_result`) is returned.
    pub code: String,
    /// Seconds before it is stopped (default 30).
    #[serde(default)]
    // Whole seconds, so the schema says 86400 (not 86400.0).
    #[schemars(range(min = 0.001, max = MAX_TIMEOUT_SECS as u32))]
    pub timeout: Option<f64>,
    /// `async`: return a job id for get_job at once.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Save a copy of the .blend first (risky code).
    #[serde(default)]
    pub checkpoint: Option<bool>,
    /// From new_session.
    #[serde(default)]
    pub session: Option<String>,
    /// From list_blenders, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sync,
    Async,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::args::decode;
    use serde_json::{Map, Value, json};

    fn args(value: Value) -> Option<Map<String, Value>> {
        value.as_object().cloned()
    }

    #[test]
    fn good_arguments_decode() {
        let exec: ExecuteCodeArgs =
            decode(args(json!({"code": "1", "timeout": 2, "mode": "async"}))).unwrap();
        assert_eq!(
            (exec.code.as_str(), exec.timeout, exec.mode),
            ("1", Some(2.0), Some(Mode::Async))
        );
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
            (json!({"code": "x", "session": 7}), "session: invalid type"),
        ] {
            let err = decode::<ExecuteCodeArgs>(args(value.clone())).unwrap_err();
            assert!(err.message.contains(expected), "{value}: {}", err.message);
            assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
    }
}
