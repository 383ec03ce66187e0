//! Values kept in Blender between calls and sessions (`put_persist_data`, `get_persist_data`,
//! `remove_persist_data`): the addon's persist store (docs/protocol.md §4).

use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, Context, Hints, Outcome, READ, SET, Tool, routed};
use bld_remote_protocol::Command;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub struct PutPersistData;

impl Tool for PutPersistData {
    const NAME: &'static str = "put_persist_data";
    const DESCRIPTION: &'static str = "Store a JSON value under a key in Blender.";
    const HINTS: Hints = SET;
    type Args = PutPersistArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: PutPersistArgs, _: &Context) -> Outcome {
        let command = Command::PutPersistData {
            key: args.key,
            data: args.data,
        };
        routed!(server, None, None)
            .server
            .control(command, 0.0)
            .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPersistArgs {
    pub key: String,
    /// Any JSON value.
    pub data: Value,
}

pub struct GetPersistData;

impl Tool for GetPersistData {
    const NAME: &'static str = "get_persist_data";
    const DESCRIPTION: &'static str = "Read a value stored with put_persist_data.";
    const HINTS: Hints = READ;
    type Args = GetPersistArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: GetPersistArgs, _: &Context) -> Outcome {
        let command = Command::GetPersistData {
            key: args.key,
            default: args.default,
        };
        routed!(server, None, None)
            .server
            .control(command, 0.0)
            .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPersistArgs {
    pub key: String,
    /// Returned when the key is absent.
    #[serde(default)]
    pub default: Option<Value>,
}

pub struct RemovePersistData;

impl Tool for RemovePersistData {
    const NAME: &'static str = "remove_persist_data";
    const DESCRIPTION: &'static str = "Delete a stored value.";
    const HINTS: Hints = SET;
    type Args = KeyArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: KeyArgs, _: &Context) -> Outcome {
        let command = Command::RemovePersistData { key: args.key };
        routed!(server, None, None)
            .server
            .control(command, 0.0)
            .await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyArgs {
    pub key: String,
}
