//! Peers that answer the port but cannot prove the token (protocol §1a): a squatter that says
//! authentication is off, one with a made-up or replayed proof, relays to a real server on
//! another port or on `[::1]`. Each is refused with an error naming the address, and receives
//! nothing derived from the token: only a `hello` with the client's nonce.
//! (Real Blender and real other users: `crates/bld-remote/tests/impostors_e2e.rs` and
//! `tests/e2e/test_local_users.py`.)

mod support;

use bld_remote_client::protocol::handshake;
use bld_remote_client::{Client, ClientError, ClientOptions};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Seen, TOKEN, answer_all, handshake_reply};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Nothing the peer received is the token or a proof made with it: one `hello`, whose only
/// param is a well-formed nonce.
fn assert_only_a_hello(seen: &Seen) {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["type"], "hello");
    let params = seen[0]["params"].as_object().unwrap();
    assert_eq!(params.keys().collect::<Vec<_>>(), ["client_nonce"]);
    assert!(handshake::is_nonce(
        params["client_nonce"].as_str().unwrap()
    ));
    assert!(!seen[0].to_string().contains(TOKEN));
}

fn challenge_reply(request: &Value, server_nonce: &str, server_proof: &str) -> Value {
    json!({"id": request["id"], "status": "success", "error": null, "result": {
        "protocol_version": 2, "server": "bld-remote", "auth_required": true,
        "authenticated": false, "auth": {"scheme": "hmac-sha256", "server_nonce": server_nonce,
        "server_proof": server_proof}}})
}

#[tokio::test]
async fn a_squatter_that_says_authentication_is_off_is_refused_unless_allowed() {
    let (options, seen) = answer_all(|request| {
        let mut open = support::hello(2);
        open["auth_required"] = json!(false);
        open["pid"] = json!(4242); // a pid of its choosing
        json!({"id": request["id"], "status": "success", "result": open, "error": null})
    })
    .await;
    let err = Client::connect(options.clone()).await.err().unwrap();
    assert!(matches!(err, ClientError::AuthOff { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&options.address()) && text.contains("--allow-no-auth"),
        "{text}"
    );
    assert_only_a_hello(&seen);
    // Explicitly allowed (a Blender started with --no-auth): accepted.
    let allowed = ClientOptions {
        allow_no_auth: true,
        ..options
    };
    let client = Client::connect(allowed).await.unwrap();
    assert_eq!(client.server().await.unwrap().pid, 4242);
}

#[tokio::test]
async fn a_made_up_proof_is_refused_before_the_client_proves_anything() {
    let (options, seen) = answer_all(|request| {
        challenge_reply(
            request,
            &handshake::encode_nonce(&[9; 32]),
            "x3g0nQSu9m7VKphB_gkxCRoX6Rr1IMGhOSbc0P4S9qg",
        )
    })
    .await;
    let err = Client::connect(options.clone()).await.err().unwrap();
    assert!(matches!(err, ClientError::NotProven { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&options.address()) && text.contains("proof does not match"),
        "{text}"
    );
    assert!(
        text.contains("Nothing derived from the token was sent"),
        "{text}"
    );
    assert_only_a_hello(&seen);
}

#[tokio::test]
async fn a_peer_asking_for_a_token_without_a_challenge_is_not_trusted() {
    for auth in [
        json!(null),
        json!({"scheme": "hmac-sha256"}),
        json!({"scheme": "plain"}),
    ] {
        let (options, seen) = answer_all(move |request| {
            json!({"id": request["id"], "status": "success", "error": null, "result": {
                "protocol_version": 2, "server": "bld-remote", "auth_required": true,
                "authenticated": false, "auth": auth}})
        })
        .await;
        let err = Client::connect(options).await.err().unwrap();
        assert!(matches!(err, ClientError::NotProven { .. }), "{err}");
        assert_only_a_hello(&seen);
    }
}

#[tokio::test]
async fn a_replayed_challenge_of_the_real_server_does_not_pass() {
    // What a real server answered to one client's nonce, recorded...
    let recorded_nonce = handshake::encode_nonce(&[5; 32]);
    let server_nonce = handshake::encode_nonce(&[6; 32]);
    let (options, seen) = answer_all(|_| json!(null)).await;
    let bound = format!("127.0.0.1:{}", options.port);
    let proof = handshake::proof(
        TOKEN,
        handshake::Role::Server,
        &server_nonce,
        &recorded_nonce,
        &bound,
    );
    // ... and replayed by an impostor on that very address to a new client, whose nonce differs.
    let (impostor, impostor_seen) =
        answer_all(move |request| challenge_reply(request, &server_nonce, &proof)).await;
    drop((options, seen));
    let err = Client::connect(impostor).await.err().unwrap();
    assert!(matches!(err, ClientError::NotProven { .. }), "{err}");
    assert_only_a_hello(&impostor_seen);
}

/// A real (scripted) server: authenticates like the addon, then answers `ping`.
async fn proper_server(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let bound = handshake::binding(stream.local_addr().unwrap());
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut challenge = None;
            let mut authenticated = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let request: Value = serde_json::from_str(&line).unwrap();
                let reply = if authenticated {
                    json!({"id": request["id"], "status": "success", "result": {"pong": true}, "error": null})
                } else {
                    let reply = handshake_reply(&request, &bound, &mut challenge).unwrap();
                    authenticated =
                        request["type"] == "authenticate" && reply["status"] == "success";
                    reply
                };
                if write
                    .write_all(format!("{reply}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// Forwards every byte between its clients and `target`, keeping what clients sent.
async fn relay(listener: TcpListener, target: SocketAddr, from_clients: Arc<Mutex<Vec<u8>>>) {
    while let Ok((inbound, _)) = listener.accept().await {
        let from_clients = from_clients.clone();
        tokio::spawn(async move {
            let outbound = TcpStream::connect(target).await.unwrap();
            let (mut in_read, mut in_write) = inbound.into_split();
            let (mut out_read, mut out_write) = outbound.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
            });
            let mut buf = [0u8; 4096];
            while let Ok(n) = in_read.read(&mut buf).await {
                if n == 0 || out_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                from_clients.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
}

fn client_options(addr: SocketAddr) -> ClientOptions {
    ClientOptions {
        host: addr.ip().to_string(),
        port: addr.port(),
        token: Some(TOKEN.into()),
        retry_for: Duration::ZERO,
        handshake_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

async fn assert_relay_fails(relay_listener: TcpListener, server: SocketAddr) {
    let relay_addr = relay_listener.local_addr().unwrap();
    let from_clients = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(relay(relay_listener, server, from_clients.clone()));
    let err = Client::connect(client_options(relay_addr))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ClientError::NotProven { .. }), "{err}");
    let sent = String::from_utf8(from_clients.lock().unwrap().clone()).unwrap();
    assert_eq!(
        sent.lines().count(),
        1,
        "only the hello went through: {sent}"
    );
    assert!(
        sent.contains("\"client_nonce\"") && !sent.contains("client_proof"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_relay_on_another_port_cannot_authenticate_through_unless_declared_a_tunnel() {
    let server_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = server_listener.local_addr().unwrap();
    tokio::spawn(proper_server(server_listener));
    // The real server itself is reached.
    let direct = Client::connect(client_options(server)).await.unwrap();
    assert_eq!(direct.ping().await.unwrap()["pong"], true);

    assert_relay_fails(TcpListener::bind("127.0.0.1:0").await.unwrap(), server).await;

    // A forward the user set up on purpose: told where Blender listens, it works.
    let tunnel_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tunnel = tunnel_listener.local_addr().unwrap();
    tokio::spawn(relay(tunnel_listener, server, Arc::default()));
    let through = Client::connect(ClientOptions {
        server_address: Some(server),
        ..client_options(tunnel)
    })
    .await
    .unwrap();
    assert_eq!(through.ping().await.unwrap()["pong"], true);
}

#[tokio::test]
async fn a_relay_on_ipv6_loopback_with_the_same_port_cannot_authenticate_through() {
    // The finding: Blender on 127.0.0.1:P, someone else on [::1]:P forwarding to it.
    let server_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = server_listener.local_addr().unwrap();
    tokio::spawn(proper_server(server_listener));
    let relay_listener = TcpListener::bind(("::1", server.port()))
        .await
        .expect("IPv6 loopback with the same port free");
    assert_relay_fails(relay_listener, server).await;
    // `localhost` dials 127.0.0.1: the real server, never the relay.
    let by_name = Client::connect(ClientOptions {
        host: "localhost".into(),
        ..client_options(server)
    })
    .await
    .unwrap();
    assert_eq!(by_name.ping().await.unwrap()["pong"], true);
}

#[tokio::test]
async fn a_server_that_proves_the_token_but_refuses_the_client_is_reported_as_such() {
    // Proves for its real address, then refuses whatever the client answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let bound = handshake::binding(stream.local_addr().unwrap());
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut challenge = None;
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap();
            let mut reply = handshake_reply(&request, &bound, &mut challenge).unwrap();
            if request["type"] == "authenticate" {
                reply = json!({"id": request["id"], "status": "error", "result": null,
                    "error": {"code": "unauthorized", "message": "refused for the test"}});
            }
            write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .unwrap();
        }
    });
    let err = Client::connect(client_options(addr)).await.err().unwrap();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("it proved the token (given by the caller) but refused this client's proof: refused for the test"),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_token_nothing_but_the_hello_is_sent() {
    if std::env::var_os(bld_remote_client::token::TOKEN_ENV).is_some() {
        return; // the environment would provide one
    }
    let server_nonce = handshake::encode_nonce(&[3; 32]);
    let (options, seen) =
        answer_all(move |request| challenge_reply(request, &server_nonce, "whatever")).await;
    let state = tempfile::tempdir().unwrap();
    let options = ClientOptions {
        token: None,
        state_dir: Some(state.path().to_owned()),
        ..options
    };
    let err = Client::connect(options.clone()).await.err().unwrap();
    assert!(matches!(err, ClientError::Token { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("no token was found"), "{text}");
    assert!(
        text.contains(&format!("tokens/{}.token", options.port)),
        "names the file looked for: {text}"
    );
    assert_only_a_hello(&seen);
}

#[cfg(unix)]
#[tokio::test]
async fn a_token_file_others_can_read_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var_os(bld_remote_client::token::TOKEN_ENV).is_some() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proper_server(listener));
    let state = tempfile::tempdir().unwrap();
    let tokens = state.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = tokens.join(format!("{}.token", addr.port()));
    std::fs::write(&file, TOKEN).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let options = ClientOptions {
        token: None,
        state_dir: Some(state.path().to_owned()),
        ..client_options(addr)
    };
    let err = Client::connect(options.clone()).await.err().unwrap();
    assert!(
        matches!(err, ClientError::Token { .. }) && err.to_string().contains("mode 0644"),
        "{err}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let client = Client::connect(options).await.unwrap();
    assert_eq!(
        client.ping().await.unwrap()["pong"],
        true,
        "a private token file is used"
    );
}
