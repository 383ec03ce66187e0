//! A scripted addon for fast tests (no Blender): an in-process TCP peer that speaks the
//! protocol like `bld_remote_mcp` (docs/protocol.md: NDJSON framing, the §1a handshake with the
//! protocol crate's proofs, one request at a time per connection, replies in order) and answers
//! every other request as the test's script says. It keeps what it received, in order, so a
//! test asserts on what happened rather than on how long it took.

use bld_remote_client::token::TOKEN_ENV;
use bld_remote_protocol::handshake::{self, NONCE_BYTES, Role};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the script answers a request with: the whole reply, or `None` for no reply at all.
pub type Answer = Pin<Box<dyn Future<Output = Option<Value>> + Send>>;
type Script = Arc<dyn Fn(Value) -> Answer + Send + Sync>;

/// A request the addon received after the handshake, and on which connection (numbered from 1
/// in the order they were accepted).
#[derive(Debug, Clone)]
pub struct Received {
    pub connection: usize,
    pub request: Value,
}

impl Received {
    /// The command (`execute_code`, `get_job`, …).
    pub fn command(&self) -> &str {
        self.request["type"].as_str().unwrap_or("")
    }

    pub fn params(&self) -> &Value {
        &self.request["params"]
    }
}

pub struct ScriptedAddon {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ScriptedAddon {
    /// Listens on a free loopback port; `script` answers every request but the handshake.
    pub async fn start<F, Fut>(script: F) -> ScriptedAddon
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Value>> + Send + 'static,
    {
        let script: Script = Arc::new(move |request| Box::pin(script(request)) as Answer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                let mut connections = 0;
                while let Ok((stream, _)) = listener.accept().await {
                    connections += 1;
                    let (script, received) = (Arc::clone(&script), Arc::clone(&received));
                    tokio::spawn(serve(stream, connections, script, received));
                }
            }
        });
        ScriptedAddon { port, received }
    }

    /// Everything received so far (the handshake left out), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The commands received so far, in arrival order.
    pub fn commands(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|received| received.command().to_owned())
            .collect()
    }
}

/// The token this addon proves: `BLD_REMOTE_MCP_TOKEN` when it is set (the client would use it
/// over any file), else a fixed one.
pub fn token() -> String {
    std::env::var(TOKEN_ENV)
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| "scripted-addon-token-0123456789".to_owned())
}

/// One connection: the handshake as the addon does it, then the script, one request at a time.
async fn serve(
    stream: TcpStream,
    connection: usize,
    script: Script,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let bound = handshake::binding(stream.local_addr().unwrap());
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut challenge: Option<(String, String)> = None;
    let mut authenticated = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let request: Value = serde_json::from_str(&line).unwrap();
        let id = request["id"].clone();
        let reply = match (request["type"].as_str(), authenticated) {
            (Some("hello"), false) => {
                let client_nonce = request["params"]["client_nonce"]
                    .as_str()
                    .expect("the client opens with a nonce")
                    .to_owned();
                let server_nonce = handshake::encode_nonce(&[7; NONCE_BYTES]);
                let proof =
                    handshake::proof(&token(), Role::Server, &server_nonce, &client_nonce, &bound);
                challenge = Some((server_nonce.clone(), client_nonce));
                Some(ok(
                    &request,
                    json!({"protocol_version": 2, "server": "bld-remote", "auth_required": true,
                        "authenticated": false, "auth": {"scheme": "hmac-sha256",
                        "server_nonce": server_nonce, "server_proof": proof}}),
                ))
            }
            (Some("authenticate"), false) => {
                let (server_nonce, client_nonce) = challenge.take().expect("hello came first");
                let offered = request["params"]["client_proof"].as_str().unwrap_or("");
                let valid = handshake::verify(
                    &token(),
                    Role::Client,
                    &server_nonce,
                    &client_nonce,
                    &bound,
                    offered,
                );
                assert!(valid, "the client proves the token");
                authenticated = true;
                Some(ok(&request, hello()))
            }
            (Some("hello"), true) => Some(ok(&request, hello())),
            (_, false) => panic!("{request} before the handshake"),
            (_, true) => {
                received.lock().unwrap().push(Received {
                    connection,
                    request: request.clone(),
                });
                script(request).await
            }
        };
        if let Some(mut reply) = reply {
            reply["id"] = id;
            let line = format!("{reply}\n");
            if write.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// The full `hello` of this addon.
fn hello() -> Value {
    json!({"protocol_version": 2, "server": "bld-remote", "addon_version": "0.1.0",
        "blender_version": "3.4.1", "mode": "background", "pid": std::process::id(),
        "port": 1, "connection_id": 1, "instance_id": "script", "auth_required": true,
        "authenticated": true})
}

/// A success reply to `request` with `result`.
pub fn ok(request: &Value, result: Value) -> Value {
    json!({"id": request["id"], "status": "success", "result": result, "error": null})
}

/// The envelope of a finished run (docs/protocol.md §5).
pub fn envelope(job_id: &str, status: &str, result: Value, stdout: &str) -> Value {
    let error = match status {
        "success" => Value::Null,
        "cancelled" => json!({"code": "cancelled", "type": "ExecutionCancelled",
            "message": "execution was cancelled", "line": 1}),
        other => json!({"code": other, "message": format!("the run ended with {other}")}),
    };
    json!({"status": status, "result": result, "output": {"stdout": stdout, "stderr": "",
        "logs": []}, "duration": 0.01, "error": error, "traceback": null,
        "metadata": {"job_id": job_id}})
}

/// A job view (docs/protocol.md §6): finished with `envelope`, or running without one; with
/// `stdout` (the text since the offset asked for, and where the next poll starts) when asked.
pub fn job_view(job_id: &str, envelope: Option<Value>, stdout: Option<(&str, u64)>) -> Value {
    let (state, status) = match &envelope {
        Some(envelope) => ("finished", envelope["status"].clone()),
        None => ("running", Value::Null),
    };
    let mut view = json!({"job_id": job_id, "state": state, "mode": "sync", "status": status,
        "created": 1.0, "started": 1.0, "finished": null, "timeout": 30.0,
        "code_preview": "code", "envelope": envelope});
    if let Some((text, offset)) = stdout {
        view["stdout"] = json!({"text": text, "offset": offset});
    }
    view
}
