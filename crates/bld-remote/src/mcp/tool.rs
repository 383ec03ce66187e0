//! What an MCP tool is: one definition (name, description, annotations, argument type, output,
//! handler) from which both its `tools/list` entry and its `tools/call` dispatch are derived, so
//! a tool cannot be listed with one argument type and decoded with another, or listed without
//! being callable. The tools themselves are in `tools/`, one module per family.
//!
//! Not rmcp's `#[tool_router]`: its router sorts `tools/list` by name, answers an unknown tool
//! and undecodable arguments in its own words (the latter as a tool error, not invalid params),
//! and derives schemas its own way; here the order, the errors (`args::decode` naming the
//! argument) and the compact schemas (`schema.rs`) are ours to keep.

use super::args;
use super::schema;
use super::server::BlenderMcp;
use rmcp::model::{self, CallToolResult, JsonObject, ToolAnnotations};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A tool call's outcome: a tool result (`isError` for failures the agent can act on), or a
/// JSON-RPC error for a call that was wrong in itself (bad arguments).
pub type Outcome = Result<CallToolResult, ErrorData>;

/// The request a tool handles (its progress token, its cancellation, the peer to notify).
pub type Context = RequestContext<RoleServer>;

/// One MCP tool. Implemented by a unit struct per tool; listed in `tools::ALL`.
pub trait Tool {
    /// The name agents call it by (kept from blender-remote where it had one).
    const NAME: &'static str;
    /// What `tools/list` says it does (a test holds it to 200 characters).
    const DESCRIPTION: &'static str;
    const HINTS: Hints;
    /// Its arguments: decoded by `args::decode` (an error names the argument), and their
    /// schema is its `inputSchema`.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// What its structured content is: its `outputSchema`.
    type Output: ToolOutput;

    fn call(
        server: &BlenderMcp,
        args: Self::Args,
        context: &Context,
    ) -> impl Future<Output = Outcome> + Send;
}

/// A tool's structured content, as far as its `outputSchema` declares it.
pub trait ToolOutput {
    fn schema() -> Option<Arc<JsonObject>>;
}

/// No structured content: the result is an image and its caption.
pub enum ImageOnly {}

impl ToolOutput for ImageOnly {
    fn schema() -> Option<Arc<JsonObject>> {
        None
    }
}

/// A JSON object passed on from Blender's reply: its fields are the addon's
/// (docs/protocol.md §4). No `outputSchema`: all one could say is "an object", which tells a
/// model nothing and costs every agent context at every start (it is still sent as
/// `structuredContent`, beside the text).
pub enum BlenderObject {}

impl ToolOutput for BlenderObject {
    fn schema() -> Option<Arc<JsonObject>> {
        None
    }
}

/// What a tool does to the world: MCP's tool annotations.
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Reaches outside Blender's scene (files, network, processes).
    pub open_world: bool,
}

/// Looks, changes nothing.
pub const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};
/// Arbitrary Python: it changes the scene and may read and write files or use the network.
pub const RUN_CODE: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: true,
};
/// Sets or deletes something; doing it twice is doing it once.
pub const SET: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: false,
};
/// Makes something new inside bld-remote, touching nothing that exists (a session handle).
pub const CREATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};
/// Changes something without destroying anything (stopping a job).
pub const SAFE_SET: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: true,
    open_world: false,
};

/// The view of the server a tool's call acts on (`BlenderMcp::route`: the seat of its
/// `session`, the Blender of its `blender`), or, returned at once, the tool error saying why
/// there is none.
macro_rules! routed {
    ($server:expr, $session:expr, $blender:expr) => {
        match $server.route($session, $blender).await {
            Ok(routed) => routed,
            Err(refused) => return Ok(refused),
        }
    };
}
pub(crate) use routed;

/// A tool with its types erased: what the table of tools holds.
pub struct Entry {
    pub name: &'static str,
    listing: fn() -> model::Tool,
    call: for<'a> fn(&'a BlenderMcp, Option<JsonObject>, &'a Context) -> CallFuture<'a>,
}

type CallFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

impl Entry {
    pub const fn of<T: Tool>() -> Entry {
        Entry {
            name: T::NAME,
            listing: listing::<T>,
            call: call::<T>,
        }
    }

    /// Its `tools/list` entry.
    pub fn listing(&self) -> model::Tool {
        (self.listing)()
    }

    /// Decodes the arguments (JSON-RPC invalid params naming a bad one) and runs the tool.
    pub fn call<'a>(
        &self,
        server: &'a BlenderMcp,
        arguments: Option<JsonObject>,
        context: &'a Context,
    ) -> CallFuture<'a> {
        (self.call)(server, arguments, context)
    }
}

fn listing<T: Tool>() -> model::Tool {
    let hints = T::HINTS;
    // Only what MCP's defaults (not read-only, destructive, not idempotent, open world) do not
    // already say: tools/list lands in the agent's context. Destructive and idempotent mean
    // nothing for a read-only tool.
    let mut annotations = ToolAnnotations::new().read_only(hints.read_only);
    if !hints.read_only && !hints.destructive {
        annotations = annotations.destructive(false);
    }
    if !hints.read_only && hints.idempotent {
        annotations = annotations.idempotent(true);
    }
    if !hints.open_world {
        annotations = annotations.open_world(false);
    }
    let tool = model::Tool::new(T::NAME, T::DESCRIPTION, schema::input::<T::Args>())
        .with_annotations(annotations);
    match T::Output::schema() {
        Some(output) => tool.with_raw_output_schema(output),
        None => tool,
    }
}

fn call<'a, T: Tool>(
    server: &'a BlenderMcp,
    arguments: Option<JsonObject>,
    context: &'a Context,
) -> CallFuture<'a> {
    Box::pin(async move {
        let args = args::decode::<T::Args>(arguments)?;
        T::call(server, args, context).await
    })
}
