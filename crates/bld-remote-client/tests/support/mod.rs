//! Scripted peers shared by the client's integration tests.
#![allow(dead_code)] // each test binary uses part of it

use bld_remote_client::ClientOptions;
use bld_remote_client::protocol::handshake::{self, Role};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The token scripted servers prove.
pub const TOKEN: &str = "scripted-peer-token-0123456789";

/// A full `hello` (what the addon answers once authenticated, or with auth off).
pub fn hello(version: u64) -> Value {
    json!({"protocol_version": version, "server": "bld-remote", "addon_version": "0.1.0",
           "blender_version": "3.4.1", "mode": "background", "pid": 1, "port": 1, "connection_id": 1,
           "auth_required": true, "authenticated": true})
}

/// The `hello` of a server with authentication off.
pub fn open_hello() -> Value {
    let mut open = hello(2);
    open["auth_required"] = json!(false);
    open
}

fn nonce(seed: u8) -> String {
    handshake::encode_nonce(&[seed; handshake::NONCE_BYTES])
}

/// What the addon answers to the two handshake requests, for a server listening on `bound`
/// with [`TOKEN`]; `None` for any other request. `challenge` holds the connection's nonces.
pub fn handshake_reply(
    request: &Value,
    bound: &str,
    challenge: &mut Option<(String, String)>,
) -> Option<Value> {
    let id = request["id"].clone();
    match request["type"].as_str()? {
        "hello" => {
            let Some(client_nonce) = request["params"]["client_nonce"].as_str() else {
                // A plain hello (after authenticating): who this server is.
                return Some(
                    json!({"id": id, "status": "success", "error": null, "result": hello(2)}),
                );
            };
            let client_nonce = client_nonce.to_owned();
            let server_nonce = nonce(challenge.as_ref().map_or(1, |_| 2));
            let proof = handshake::proof(TOKEN, Role::Server, &server_nonce, &client_nonce, bound);
            *challenge = Some((server_nonce.clone(), client_nonce));
            Some(
                json!({"id": id, "status": "success", "error": null, "result": {
                "protocol_version": 2, "server": "bld-remote", "auth_required": true,
                "authenticated": false, "auth": {"scheme": "hmac-sha256",
                "server_nonce": server_nonce, "server_proof": proof}}}),
            )
        }
        "authenticate" => {
            let (server_nonce, client_nonce) = challenge.take()?;
            let offered = request["params"]["client_proof"].as_str().unwrap_or("");
            if handshake::verify(
                TOKEN,
                Role::Client,
                &server_nonce,
                &client_nonce,
                bound,
                offered,
            ) {
                Some(json!({"id": id, "status": "success", "error": null, "result": hello(2)}))
            } else {
                Some(json!({"id": id, "status": "error", "result": null,
                    "error": {"code": "unauthorized", "message": "the client's proof does not match"}}))
            }
        }
        _ => None,
    }
}

/// The requests a peer received, in order.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// A peer that answers every request line (`hello` included) with `reply(request)`, and keeps
/// the requests it saw.
pub async fn answer_all<F>(reply: F) -> (ClientOptions, Seen)
where
    F: Fn(&Value) -> Value + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let reply = Arc::new(reply);
    tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (reply, seen) = (reply.clone(), seen.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let request: Value = serde_json::from_str(&line).unwrap();
                        let answer = format!("{}\n", reply(&request));
                        seen.lock().unwrap().push(request);
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    let options = ClientOptions {
        handshake_timeout: Duration::from_millis(500),
        retry_for: Duration::ZERO,
        token: Some(TOKEN.into()),
        ..ClientOptions::with_port(port)
    };
    (options, seen)
}
