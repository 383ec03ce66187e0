//! The session's link to Blender: is one there (`check_connection_status`), and a fresh Python
//! namespace (`reset_session`).

use crate::mcp::args::NoArgs;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, Context, Hints, Outcome, READ, SET, Tool};
use crate::mcp::tool_result::{json_result, text_of};
use bld_remote_client::ClientError;
use bld_remote_protocol::Command;
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

pub struct ResetSession;

impl Tool for ResetSession {
    const NAME: &'static str = "reset_session";
    const DESCRIPTION: &'static str = "Forget this session's Python variables.";
    const HINTS: Hints = SET;
    type Args = NoArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, _: NoArgs, _: &Context) -> Outcome {
        server
            .on_exec(Command::ResetSession { session: None })
            .await
    }
}
