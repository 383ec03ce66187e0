//! The MCP server of one session: its capabilities, `tools/list` and `tools/call` from the
//! table of tools (`tools/`), and its resources (`resources.rs`).

use super::in_flight::InFlight;
use super::link::Link;
use super::resources;
use super::supervisor::{BlenderSupervisor, Clients};
use super::tools;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

/// The server of one MCP session; cheap to clone (clones are the same session). The supervisor
/// and the count of calls in flight are shared by all sessions of the process; the link (its
/// exec connection, so its Python namespace) is this session's.
#[derive(Clone)]
pub struct BlenderMcp {
    pub(super) supervisor: Arc<BlenderSupervisor>,
    link: Arc<Link>,
    calls: Arc<InFlight>,
}

const INSTRUCTIONS: &str = "Tools to work in a running Blender. execute_code runs Python with bpy; \
variables persist between calls of this session. Use get_scene_info / get_object_info to look, \
get_viewport_screenshot to see.";

impl BlenderMcp {
    /// A new session.
    pub fn new(supervisor: Arc<BlenderSupervisor>, calls: Arc<InFlight>) -> BlenderMcp {
        BlenderMcp {
            supervisor,
            link: Arc::new(Link::new()),
            calls,
        }
    }

    /// This session's clients for the Blender to talk to, resolving (or spawning) it first if
    /// needed.
    pub(super) async fn clients(&self) -> Result<Clients, String> {
        Ok(self.link.clients(self.supervisor.target().await?))
    }

    pub(super) fn link(&self) -> &Link {
        &self.link
    }
}

impl ServerHandler for BlenderMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("bld-remote", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(self, &request.uri).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::catalog()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        tracing::debug!(tool = %request.name, "call");
        let _in_flight = self.calls.enter();
        let Some(tool) = tools::find(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        tool.call(self, request.arguments, &context)
            .await
            .map(Into::into)
    }
}
