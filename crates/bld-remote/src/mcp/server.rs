//! The MCP server of one session: its capabilities, `tools/list` and `tools/call` from the
//! table of tools (`tools/`), and its resources (`resources.rs`).

use super::in_flight::InFlight;
use super::link::Link;
use super::resources;
use super::session_handles::{Handle, InUse, SessionHandles};
use super::supervisor::{BlenderSupervisor, Clients};
use super::tool_result::tool_error;
use super::tools;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

/// The server of one MCP session; cheap to clone (clones are the same session). The supervisor,
/// the count of calls in flight and the session handles are shared by all sessions of the
/// process; the link (its exec connection, so its Python namespace) is this session's, or a
/// session handle's for a call that names one ([`BlenderMcp::in_session`]).
#[derive(Clone)]
pub struct BlenderMcp {
    pub(super) supervisor: Arc<BlenderSupervisor>,
    link: Arc<Link>,
    calls: Arc<InFlight>,
    pub(super) handles: Arc<SessionHandles>,
    /// The session handle this view of the server calls with, if any.
    handle: Option<Arc<Handle>>,
}

const INSTRUCTIONS: &str = "Tools to work in a running Blender. execute_code runs Python with bpy; \
variables persist between calls of this connection, or of a `session` from new_session (needed \
to keep them over stateless HTTP). Use get_scene_info / get_object_info to look, \
get_viewport_screenshot to see.";

impl BlenderMcp {
    /// A new session.
    pub fn new(
        supervisor: Arc<BlenderSupervisor>,
        calls: Arc<InFlight>,
        handles: Arc<SessionHandles>,
    ) -> BlenderMcp {
        BlenderMcp {
            supervisor,
            link: Arc::new(Link::new()),
            calls,
            handles,
            handle: None,
        }
    }

    /// This server as a call with `session` sees it: without one, itself (this MCP session's
    /// namespace); with a handle, a view whose link and namespace are the handle's, and the
    /// guard that keeps the handle from expiring during the call. An unknown or expired handle
    /// is a tool error saying which.
    pub(super) fn in_session(
        &self,
        session: Option<&str>,
    ) -> Result<(BlenderMcp, Option<InUse>), CallToolResult> {
        let Some(name) = session else {
            return Ok((self.clone(), None));
        };
        let in_use = self.handles.enter(name).map_err(tool_error)?;
        let mut view = self.clone();
        view.link = Arc::clone(&in_use.handle().link);
        view.handle = Some(Arc::clone(in_use.handle()));
        Ok((view, Some(in_use)))
    }

    /// The session handle this view calls with.
    pub(super) fn handle(&self) -> Option<&Arc<Handle>> {
        self.handle.as_ref()
    }

    /// Notes a job started through this view: a handle remembers its jobs (`list_jobs`,
    /// `get_job` with `session`).
    pub(super) fn started_job(&self, job_id: &str) {
        if let Some(handle) = &self.handle {
            handle.started_job(job_id);
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
