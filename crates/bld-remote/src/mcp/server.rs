//! The MCP server of one session: its capabilities, `tools/list` and `tools/call` from the
//! table of tools (`tools/`), its resources (`resources.rs`), and which Blender a call acts on
//! (`route`).

use super::fleet::{self, Fleet};
use super::in_flight::InFlight;
use super::link::Link;
use super::pool::Lease;
use super::resources;
use super::seat::{Route, Seat};
use super::session_handles::{Handle, InUse, SessionHandles, looks_like_a_handle};
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
use std::sync::atomic::{AtomicU64, Ordering};

/// The server of one MCP session; cheap to clone (clones are the same session). The fleet
/// (every Blender the process reaches, its pool), the count of calls in flight and the session
/// handles are shared by all sessions of the process; the seat (links, namespaces, pool lease)
/// is this session's, or a session handle's for a call that names one.
///
/// A tool first asks [`BlenderMcp::route`] for the view of the server its call acts on: the
/// seat of its `session` and the supervisor and link of its `blender`; the rest of a call is
/// the same whichever Blender that is.
#[derive(Clone)]
pub struct BlenderMcp {
    pub(super) fleet: Arc<Fleet>,
    calls: Arc<InFlight>,
    pub(super) handles: Arc<SessionHandles>,
    /// The seat this view calls from: this MCP session's, or its session handle's.
    seat: Arc<Seat>,
    /// The session handle this view calls with, if any.
    handle: Option<Arc<Handle>>,
    /// The Blender this view calls, its supervisor and the seat's link to it.
    pub(super) supervisor: Arc<BlenderSupervisor>,
    link: Arc<Link>,
    route: Route,
    /// The pool worker this view calls, if it is one (`pool-<n>`).
    worker: Option<String>,
}

/// A view routed for one call, and what must live as long as the call: the session handle in
/// use (so it does not expire), the worker leased for this call only (`blender: "any"`).
pub(super) struct Routed {
    pub server: BlenderMcp,
    _in_use: Option<InUse>,
    _one_call: Option<Lease>,
}

const INSTRUCTIONS: &str = "Tools to work in a running Blender. execute_code runs Python with bpy; \
variables persist between calls of this connection, or of a `session` from new_session (needed \
to keep them over stateless HTTP). Use get_scene_info / get_object_info to look, \
get_viewport_screenshot to see. Several Blenders: list_blenders, then `blender` on a call \
(or on new_session, to stick to one).";

/// MCP sessions made so far (to name their seats).
static SESSIONS: AtomicU64 = AtomicU64::new(0);

impl BlenderMcp {
    /// A new session.
    pub fn new(
        fleet: Arc<Fleet>,
        calls: Arc<InFlight>,
        handles: Arc<SessionHandles>,
    ) -> BlenderMcp {
        let number = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let seat = Arc::new(Seat::new(format!("mcp-{number}")));
        BlenderMcp {
            supervisor: Arc::clone(&fleet.default),
            link: Arc::clone(seat.default_link()),
            fleet,
            calls,
            handles,
            seat,
            handle: None,
            route: Route::Default,
            worker: None,
        }
    }

    /// This server as a call with `session` and `blender` sees it: the seat of the handle (or
    /// of this MCP session), calling the Blender `blender` names, else the one the seat sticks
    /// to, else the default: the seat's pool worker with a pool, else the server's Blender.
    /// A session handle as `blender` means the Blender that session calls (the tools that
    /// take no `session` reach a session's pool worker so). An unknown handle or name, or no
    /// pool worker free in time, is a tool error saying why.
    pub(super) async fn route(
        &self,
        session: Option<&str>,
        blender: Option<&str>,
    ) -> Result<Routed, CallToolResult> {
        let (session, blender) = match blender {
            Some(handle) if session.is_none() && looks_like_a_handle(handle) => {
                (Some(handle), None)
            }
            _ => (session, blender),
        };
        let (view, in_use) = self.in_session(session)?;
        let choice = blender.map(str::to_owned).or_else(|| view.seat.sticky());
        let (server, one_call) = match choice.as_deref() {
            None => (view.on_default().await?, None),
            Some(fleet::POOL) => (view.on(Route::Pool).await?, None),
            Some(fleet::ANY) => {
                let pool = view.pool()?;
                let lease = pool
                    .lease(&format!("{} (one call)", view.seat.name))
                    .await
                    .map_err(tool_error)?;
                let server = view.calling(
                    Arc::clone(lease.supervisor()),
                    Arc::clone(&lease.link),
                    Some(lease.worker()),
                    Route::Any,
                );
                (server, Some(lease))
            }
            Some(name) => {
                let (host, port) = self.fleet.find(name).await.map_err(tool_error)?;
                let route = if self.fleet.is_default(&host, port) {
                    Route::Default
                } else {
                    Route::At(host, port)
                };
                (view.on(route).await?, None)
            }
        };
        Ok(Routed {
            server,
            _in_use: in_use,
            _one_call: one_call,
        })
    }

    /// [`Self::route`] for a job: to the Blender it was started on by this seat, if it was.
    pub(super) async fn route_job(
        &self,
        session: Option<&str>,
        job_id: &str,
    ) -> Result<Routed, CallToolResult> {
        let (view, in_use) = self.in_session(session)?;
        match view.seat.job_route(job_id) {
            Some(route) => Ok(Routed {
                server: view.on(route).await?,
                _in_use: in_use,
                _one_call: None,
            }),
            None => {
                drop(in_use);
                self.route(session, None).await
            }
        }
    }

    /// The view of the handle `session` names (or this session's own), before routing.
    fn in_session(
        &self,
        session: Option<&str>,
    ) -> Result<(BlenderMcp, Option<InUse>), CallToolResult> {
        let Some(name) = session else {
            return Ok((self.clone(), None));
        };
        let in_use = self.handles.enter(name).map_err(tool_error)?;
        let mut view = self.clone();
        view.seat = Arc::clone(&in_use.handle().seat);
        view.handle = Some(Arc::clone(in_use.handle()));
        Ok((view, Some(in_use)))
    }

    async fn on_default(self) -> Result<BlenderMcp, CallToolResult> {
        let route = if self.fleet.pool.is_some() {
            Route::Pool
        } else {
            Route::Default
        };
        self.on(route).await
    }

    /// This view calling the Blender of `route`.
    async fn on(self, route: Route) -> Result<BlenderMcp, CallToolResult> {
        Ok(match &route {
            Route::Default => {
                let (supervisor, link) = (
                    Arc::clone(&self.fleet.default),
                    Arc::clone(self.seat.default_link()),
                );
                self.calling(supervisor, link, None, route)
            }
            Route::Pool => {
                let pool = Arc::clone(self.pool()?);
                let (supervisor, link, worker) =
                    self.seat.leased(&pool).await.map_err(tool_error)?;
                self.calling(supervisor, link, Some(worker), route)
            }
            Route::At(host, port) => {
                let supervisor = self.fleet.supervisor_at(host, *port);
                let link = self.seat.link_at(host, *port);
                self.calling(supervisor, link, None, route)
            }
            // Only `route` lends one, for its call; no job remembers it (`started_job`).
            Route::Any => {
                return Err(tool_error(
                    "a worker lent for one call (blender \"any\") is not kept after it",
                ));
            }
        })
    }

    /// This view calling `supervisor`'s Blender through `link`.
    fn calling(
        mut self,
        supervisor: Arc<BlenderSupervisor>,
        link: Arc<Link>,
        worker: Option<String>,
        route: Route,
    ) -> BlenderMcp {
        self.supervisor = supervisor;
        self.link = link;
        self.worker = worker;
        self.route = route;
        self
    }

    fn pool(&self) -> Result<&Arc<super::pool::Pool>, CallToolResult> {
        self.fleet.pool.as_ref().ok_or_else(|| {
            tool_error(
                "there is no pool of Blenders: `pool` and `any` need a server started with \
                 --pool N",
            )
        })
    }

    /// The session handle this view calls with.
    pub(super) fn handle(&self) -> Option<&Arc<Handle>> {
        self.handle.as_ref()
    }

    pub(super) fn seat(&self) -> &Arc<Seat> {
        &self.seat
    }

    /// Where this view's calls go, in words (`check_connection_status`).
    pub(super) fn route_name(&self) -> String {
        match (&self.route, &self.worker) {
            (_, Some(worker)) => worker.clone(),
            (Route::At(host, port), None) => format!("{host}:{port}"),
            _ => "default".to_owned(),
        }
    }

    /// Notes a job started through this view in its seat, and where it runs: `get_job` goes
    /// there, and a handle's `list_jobs` / `get_job` with `session` know it as the handle's.
    /// Not a job of a worker lent for one call: that worker is reset after it, its jobs too.
    pub(super) fn started_job(&self, job_id: &str) {
        if self.route != Route::Any {
            self.seat.remember_job(job_id, self.route.clone());
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
