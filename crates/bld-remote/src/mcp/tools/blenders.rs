//! `list_blenders`: every Blender a call can name with `blender`, and the pool.

use crate::mcp::args::NoArgs;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, Context, Hints, Outcome, READ, Tool};
use crate::mcp::tool_result::json_result;
use serde_json::json;

pub struct ListBlenders;

impl Tool for ListBlenders {
    const NAME: &'static str = "list_blenders";
    const DESCRIPTION: &'static str =
        "Blenders a call can name as `blender` (id, label, .blend, pid) and the pool, if any.";
    const HINTS: Hints = READ;
    type Args = NoArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, _: NoArgs, _: &Context) -> Outcome {
        let blenders = server.fleet.list().await;
        Ok(json_result(json!({
            "blenders": blenders,
            "pool": server.fleet.pool_status(),
            "this_session": {
                "worker": server.seat().worker(),
                "blender": server.seat().sticky(),
            },
        })))
    }
}
