//! The session's link to Blender: is one there (`check_connection_status`), a session handle
//! for a namespace of its own (`new_session`, `mcp/session_handles.rs`), and a fresh Python
//! namespace (`reset_session`).

use crate::mcp::fleet;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, CREATE, Context, Hints, Outcome, READ, SET, Tool, routed};
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
        "Is Blender reachable? Version, mode, port, round-trip latency; the pool, if any.";
    const HINTS: Hints = READ;
    type Args = BlenderArgs;
    type Output = BlenderObject;

    /// Never a tool error: "not connected" is an answer to the question.
    async fn call(server: &BlenderMcp, args: BlenderArgs, _: &Context) -> Outcome {
        let routed = match server.route(None, args.blender.as_deref()).await {
            Ok(routed) => routed,
            Err(refused) => {
                let pool = server.fleet.pool_status();
                return Ok(json_result(
                    json!({"connected": false, "error": text_of(&refused), "pool": pool}),
                ));
            }
        };
        let server = &routed.server;
        // After routing: the pool as it is with this session's lease.
        let pool = server.fleet.pool_status();
        let clients = match server.clients().await {
            Ok(clients) => clients,
            Err(err) => {
                return Ok(json_result(
                    json!({"connected": false, "blender": server.route_name(), "error": err, "pool": pool}),
                ));
            }
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
                "blender": server.route_name(), "pool": pool,
            })),
            Err(err) => {
                let text = text_of(&server.failure(err, None).await);
                json_result(
                    json!({"connected": false, "host": clients.host, "port": clients.port, "error": text,
                        "blender": server.route_name(), "pool": pool}),
                )
            }
        })
    }
}

pub struct NewSession;

impl Tool for NewSession {
    const NAME: &'static str = "new_session";
    const DESCRIPTION: &'static str = "A handle for a namespace kept between calls (stateless HTTP needs one): pass it as `session`. With blender, its calls go there. Expires when idle.";
    const HINTS: Hints = CREATE;
    type Args = NewSessionArgs;
    type Output = BlenderObject;

    /// Nothing in Blender yet: the namespace (and a pool worker) come with the first call that
    /// uses the handle. A `blender` is checked now, so a wrong name mints nothing.
    async fn call(server: &BlenderMcp, args: NewSessionArgs, _: &Context) -> Outcome {
        match args.blender.as_deref() {
            Some(fleet::ANY) => {
                return Ok(tool_error(
                    "a session keeps its Blender: `any` is for one call. Leave blender out for \
                     a pool worker of its own",
                ));
            }
            Some(fleet::POOL) if server.fleet.pool.is_none() => {
                return Ok(tool_error(
                    "there is no pool of Blenders (the server was not started with --pool N)",
                ));
            }
            Some(fleet::POOL) | None => {}
            Some(name) => {
                if let Err(unknown) = server.fleet.find(name).await {
                    return Ok(tool_error(unknown));
                }
            }
        }
        Ok(match server.handles.mint() {
            Ok(handle) => {
                handle.seat.stick_to(args.blender.clone());
                json_result(json!({
                    "session": handle.name,
                    "blender": args.blender,
                    "idle_timeout_s": server.handles.idle_timeout().as_secs_f64(),
                }))
            }
            Err(refused) => tool_error(refused),
        })
    }
}

pub struct ResetSession;

impl Tool for ResetSession {
    const NAME: &'static str = "reset_session";
    const DESCRIPTION: &'static str = "Forget this session's (or `session`'s) variables; end: true ends that handle, freeing its pool worker.";
    const HINTS: Hints = SET;
    type Args = ResetSessionArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: ResetSessionArgs, _: &Context) -> Outcome {
        if args.end == Some(true) {
            let Some(name) = args.session.as_deref() else {
                return Ok(tool_error(
                    "end: true ends a session handle: pass it as `session`",
                ));
            };
            // Its namespaces go with its connections; its worker is reset once released.
            return Ok(match server.handles.end(name) {
                Ok(handle) => {
                    let worker = handle.seat.worker();
                    crate::mcp::session_handles::forget(&handle).await;
                    json_result(json!({"ended": true, "session": name, "released_worker": worker}))
                }
                Err(unknown) => tool_error(unknown),
            });
        }
        let routed = routed!(server, args.session.as_deref(), None);
        let server = &routed.server;
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
    /// From list_blenders, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlenderArgs {
    /// From list_blenders, a session, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetSessionArgs {
    /// From new_session.
    #[serde(default)]
    pub session: Option<String>,
    /// End the handle too.
    #[serde(default)]
    pub end: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionArgs {
    /// Its Blender (list_blenders). Default: the server's, or a pool worker of its own.
    #[serde(default)]
    pub blender: Option<String>,
}
