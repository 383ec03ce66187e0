//! An MCP session for fast tests: this crate's MCP server (the real `BlenderMcp`, its
//! supervisor pointed at a [`ScriptedAddon`]) and rmcp's own client, talking over an in-memory
//! pipe in this process, so a test drives tools as an agent does and paused tokio time applies
//! to both ends.

use super::fleet::Fleet;
use super::scripted_addon::{ScriptedAddon, token};
use super::server::BlenderMcp;
use super::supervisor::{BlenderSupervisor, SupervisorOptions};
use crate::app::App;
use crate::cli::TrustArgs;
use crate::instances::Registry;
use crate::settings::{ConfigFile, Paths};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, ProgressNotificationParam, Request,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestHandle, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::sync::watch;

/// A client that keeps the messages of the progress notifications it receives, in order.
#[derive(Clone)]
pub struct ProgressLog(Arc<watch::Sender<Vec<String>>>);

impl Default for ProgressLog {
    fn default() -> Self {
        ProgressLog(Arc::new(watch::Sender::new(Vec::new())))
    }
}

impl ProgressLog {
    /// Waits until `count` messages have arrived (notifications may be handled after the
    /// reply that followed them); all of them.
    pub async fn wait_for(&self, count: usize) -> Vec<String> {
        let mut seen = self.0.subscribe();
        let messages = seen
            .wait_for(|messages| messages.len() >= count)
            .await
            .expect("the log lives as long as the session");
        messages.clone()
    }
}

impl ClientHandler for ProgressLog {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0
            .send_modify(|messages| messages.push(params.message.unwrap_or_default()));
    }
}

pub struct TestSession {
    pub client: RunningService<RoleClient, ProgressLog>,
    pub progress: ProgressLog,
    _state: tempfile::TempDir,
}

/// The server side of a session: `BlenderMcp` serving `end`, its Blender `addon`. The returned
/// dir holds the state the session keeps (records, the token file) and must outlive it.
fn serve(addon: &ScriptedAddon, restart_stuck: bool, end: DuplexStream) -> tempfile::TempDir {
    let state = tempfile::tempdir().unwrap();
    // The client trusts a token file only in a directory no one else can read.
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let token_file = state.path().join("addon.token");
    bld_remote_client::private_fs::write_private_file(&token_file, token().as_bytes()).unwrap();
    let app = App {
        paths: Paths {
            config_file: None,
            state_dir: state.path().to_path_buf(),
            cache_dir: state.path().join("cache"),
        },
        config: ConfigFile::default(),
        registry: Registry::new(state.path()),
        trust: TrustArgs {
            token_file: Some(token_file),
            ..TrustArgs::default()
        },
    };
    let options = SupervisorOptions {
        port: Some(addon.port),
        host: Some("127.0.0.1".into()),
        spawn: false,
        blender: None,
        restart_stuck,
        worker: None,
    };
    let app = Arc::new(app);
    let supervisor = Arc::new(BlenderSupervisor::new(Arc::clone(&app), options));
    let fleet = Arc::new(Fleet::new(app, supervisor, None));
    tokio::spawn(async move {
        let running = BlenderMcp::new(fleet, Default::default(), Default::default())
            .serve(end)
            .await
            .expect("the MCP session starts");
        let _ = running.waiting().await;
    });
    state
}

impl TestSession {
    /// An MCP session whose Blender is `addon` (on its fixed port: never spawned).
    pub async fn new(addon: &ScriptedAddon) -> TestSession {
        TestSession::with_on_stuck_restart(addon, false).await
    }

    /// The same, as with `--on-stuck restart` when `restart_stuck`.
    pub async fn with_on_stuck_restart(addon: &ScriptedAddon, restart_stuck: bool) -> TestSession {
        let (server_end, client_end) = tokio::io::duplex(1 << 20);
        let state = serve(addon, restart_stuck, server_end);
        let progress = ProgressLog::default();
        let client = progress
            .clone()
            .serve(client_end)
            .await
            .expect("the MCP client connects");
        TestSession {
            client,
            progress,
            _state: state,
        }
    }

    /// Calls a tool; its result (a JSON-RPC error fails the test).
    pub async fn call(&self, name: &'static str, arguments: Value) -> CallToolResult {
        self.client
            .call_tool(tool_call(name, arguments))
            .await
            .unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    /// Sends a tool call the test may cancel (rmcp's client gives it a progress token).
    pub async fn start_call(
        &self,
        name: &'static str,
        arguments: Value,
    ) -> RequestHandle<RoleClient> {
        let request = ClientRequest::CallToolRequest(Request::new(tool_call(name, arguments)));
        self.client
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
            .unwrap()
    }
}

/// An MCP client written by hand, line by line: unlike rmcp's, it sends requests without a
/// progress token (as some agents' clients do).
pub struct PlainClient {
    lines: Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
    write: tokio::io::WriteHalf<DuplexStream>,
    next_id: u64,
    _state: tempfile::TempDir,
}

impl PlainClient {
    pub async fn new(addon: &ScriptedAddon) -> PlainClient {
        let (server_end, client_end) = tokio::io::duplex(1 << 20);
        let state = serve(addon, false, server_end);
        let (read, write) = tokio::io::split(client_end);
        let mut client = PlainClient {
            lines: BufReader::new(read).lines(),
            write,
            next_id: 1,
            _state: state,
        };
        client
            .request(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "plain", "version": "1"}}),
            )
            .await;
        client
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        client
    }

    /// A tool call's `result` (the JSON-RPC one).
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let line = self.lines.next_line().await.unwrap().expect("a reply");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message["result"].clone();
            }
        }
    }

    async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.write.write_all(line.as_bytes()).await.unwrap();
    }
}

fn tool_call(name: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone())
}

/// The text content of a tool result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
