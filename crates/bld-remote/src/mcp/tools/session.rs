//! The session's link to Blender: is one there (`check_connection_status`), a session handle
//! for a namespace of its own (`new_session`, `mcp/session_handles.rs`), and a fresh Python
//! namespace (`reset_session`).

use crate::mcp::args::NoArgs;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, CREATE, Context, Hints, Outcome, READ, SET, Tool};
use crate::mcp::tool_result::{json_result, text_of, tool_error};
use bld_remote_client::ClientError;
use bld_remote_protocol::Command;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

pub struct CheckConnectionStatus;

impl Tool for CheckConnectionStatus {
    const NAME: &'static str = "check_connection_status";
    const DESCRIPTION: &'static str =
        "Is Blender reachable? Version, mode, port, round-trip latency.";
    const HINTS: Hints = READ;
    type Args = NoArgs;
    type Output = BlenderObject;

    /// Never a tool error: "not connected" is an answer to the question.
    async fn call(server: &BlenderMcp, _: NoArgs, _: &Context) -> Outcome {
        let clients = match server.clients().await {
            Ok(clients) => clients,
            Err(err) => return Ok(json_result(json!({"connected": false, "error": err}))),
        };
        let started = Instant::now();
        let outcome = async {
            clients.control.ping().await?;
            let latency = started.elapsed();
            Ok::<_, ClientError>((clients.control.server().await?, latency))
        }
        .await;
        Ok(match outcome {
            Ok((hello, latency)) => json_result(json!({
                "connected": true, "host": clients.host, "port": hello.port, "pid": hello.pid,
                "blender_version": hello.blender_version, "addon_version": hello.addon_version,
                "mode": hello.mode, "protocol_version": hello.protocol_version,
                "latency_ms": (latency.as_secs_f64() * 1e6).round() / 1e3,
                "session_handles": server.handles.live_count(),
            })),
            Err(err) => {
                let text = text_of(&server.failure(err, None).await);
                json_result(
                    json!({"connected": false, "host": clients.host, "port": clients.port, "error": text}),
                )
            }
        })
    }
}

pub struct NewSession;

impl Tool for NewSession {
    const NAME: &'static str = "new_session";
    const DESCRIPTION: &'static str = "A handle for a Python namespace of its own: pass it as `session` to execute_code to keep variables between calls (stateless HTTP needs it). Expires when idle.";
    const HINTS: Hints = CREATE;
    type Args = NoArgs;
    type Output = BlenderObject;

    /// Nothing in Blender yet: the namespace is made by the first call that uses the handle.
    async fn call(server: &BlenderMcp, _: NoArgs, _: &Context) -> Outcome {
        Ok(match server.handles.mint() {
            Ok(handle) => json_result(json!({
                "session": handle.name,
                "idle_timeout_s": server.handles.idle_timeout().as_secs_f64(),
            })),
            Err(refused) => tool_error(refused),
        })
    }
}

pub struct ResetSession;

impl Tool for ResetSession {
    const NAME: &'static str = "reset_session";
    const DESCRIPTION: &'static str =
        "Forget the Python variables of this session (or of `session`).";
    const HINTS: Hints = SET;
    type Args = SessionArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: SessionArgs, _: &Context) -> Outcome {
        let (server, _in_use) = match server.in_session(args.session.as_deref()) {
            Ok(view) => view,
            Err(refused) => return Ok(refused),
        };
        let session = server.handle().map(|handle| handle.name.clone());
        server.on_exec(Command::ResetSession { session }).await
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// From new_session.
    #[serde(default)]
    pub session: Option<String>,
}
