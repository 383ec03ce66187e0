//! The client against scripted TCP peers, for the misbehaviours a real addon never shows:
//! broken replies, silence, a wrong protocol version, an old 1.3.3-style server. The scripted
//! peers authenticate like the addon (protocol §1a, with the protocol crate's proofs); peers that
//! fail the handshake are in `impostors.rs`. The client's behaviour against real Blender is
//! tested in `crates/bld-remote/tests`.

mod support;

use bld_remote_client::{Client, ClientError, ClientOptions};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{TOKEN, handshake_reply, hello};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A peer that completes the handshake properly, then lets `script` handle every later request.
async fn serve<F>(script: F) -> ClientOptions
where
    F: Fn(Value) -> Option<String> + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = std::sync::Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let bound =
                    bld_remote_client::protocol::handshake::binding(stream.local_addr().unwrap());
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut challenge = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    let request: Value = serde_json::from_str(&line).unwrap();
                    let answer = match handshake_reply(&request, &bound, &mut challenge) {
                        Some(reply) => Some(reply.to_string() + "\n"),
                        None => script(request),
                    };
                    if answer.as_deref() == Some(HANG_UP) {
                        return;
                    }
                    if let Some(answer) = answer {
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    ClientOptions {
        handshake_timeout: Duration::from_millis(500),
        token: Some(TOKEN.into()),
        ..ClientOptions::with_port(port)
    }
}

/// What a script returns to make the peer close the connection.
const HANG_UP: &str = "hang up";

/// Waits until `count` calls are in flight on the client's connection (sent, no reply yet).
async fn wait_in_flight(client: &Client, count: usize) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while client.in_flight().await < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the calls were sent");
}

fn ok(request: &Value, result: Value) -> Option<String> {
    Some(
        json!({"id": request["id"], "status": "success", "result": result, "error": null})
            .to_string()
            + "\n",
    )
}

#[tokio::test]
async fn a_reply_that_is_not_json_fails_every_pending_call_at_once() {
    let options = serve(|request| {
        if request["params"]["code"] == "break" {
            Some("this is not json\n".into())
        } else {
            None
        }
    })
    .await;
    let client = Client::connect(options).await.unwrap();
    let silent = tokio::spawn({
        let client = client.clone();
        async move { client.execute_code("hang").await }
    });
    wait_in_flight(&client, 1).await;
    let broken = client.execute_code("break").await.unwrap_err();
    let other = silent.await.unwrap().unwrap_err();
    // Both fail with the broken reply, not their timeout (which would be a Timeout error).
    for err in [broken, other] {
        assert!(matches!(err, ClientError::Disconnected { .. }), "{err}");
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}

#[tokio::test]
async fn a_late_reply_after_a_timeout_does_not_reach_the_next_call() {
    // The peer answers each request only when the next one arrives: the first call's reply is
    // late and must be dropped, not handed to the second call.
    let held = std::sync::Arc::new(std::sync::Mutex::new(None::<Value>));
    let options = serve({
        let held = held.clone();
        move |request| {
            let previous = held.lock().unwrap().replace(request.clone());
            let mut out = String::new();
            if let Some(previous) = previous {
                out += &ok(&previous, json!({"for": previous["params"]["job_id"]})).unwrap();
            }
            if request["params"]["job_id"] == "second" {
                out += &ok(&request, json!({"for": "second"})).unwrap();
            }
            Some(out)
        }
    })
    .await;
    let client = Client::connect(options).await.unwrap();
    let first = bld_remote_client::protocol::Command::CancelJob {
        job_id: "first".into(),
    };
    let err = client
        .call_with_timeout(&first, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                command: "cancel_job",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0.2 s"), "{err}");
    let second = bld_remote_client::protocol::Command::CancelJob {
        job_id: "second".into(),
    };
    let value = client
        .call_with_timeout(&second, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(value, json!({"for": "second"}));
    assert_eq!(client.in_flight().await, 0);
}

#[tokio::test]
async fn a_wrong_protocol_version_is_refused_with_a_clear_message() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let line = lines.next_line().await.unwrap().unwrap();
        let request: Value = serde_json::from_str(&line).unwrap();
        let reply =
            json!({"id": request["id"], "status": "success", "result": hello(3), "error": null});
        write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let err = Client::connect(ClientOptions::with_port(port))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ClientError::IncompatibleProtocol {
                server: 3,
                client: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("install-addon"), "{err}");
}

#[tokio::test]
async fn a_legacy_server_that_never_sends_newlines_is_named_as_such() {
    // blender-remote 1.3.3's addon answers raw JSON with no delimiter.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
        let _ = stream
            .write_all(br#"{"status": "error", "message": "Unknown command type: hello"}"#)
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let options = ClientOptions {
        handshake_timeout: Duration::from_millis(300),
        ..ClientOptions::with_port(port)
    };
    let err = Client::connect(options).await.err().unwrap();
    assert!(matches!(err, ClientError::NotBldRemote { .. }), "{err}");
    assert!(err.to_string().contains("not a bld-remote addon"), "{err}");
}

#[tokio::test]
async fn nothing_listening_is_reported_after_the_bounded_retry() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let options = ClientOptions {
        retry_for: Duration::from_millis(300),
        ..ClientOptions::with_port(port)
    };
    let started = Instant::now();
    let err = Client::connect(options).await.err().unwrap();
    // It kept trying for its retry time before giving up (a lower bound it holds by
    // construction; how much longer a loaded machine took is not asserted).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "no Blender listening on 127.0.0.1:{port} — run `bld-remote start` or enable the addon in Blender"
        )
    );
    assert!(err.is_connection_problem());
}

#[tokio::test]
async fn a_server_that_retries_in_time_is_reached() {
    // Blender still starting: the port opens while the client is retrying.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap();
            let reply = json!({"id": request["id"], "status": "success", "result": support::open_hello(), "error": null});
            write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .unwrap();
        }
    });
    let options = ClientOptions {
        retry_for: Duration::from_secs(3),
        allow_no_auth: true,
        ..ClientOptions::with_port(port)
    };
    let client = Client::connect(options).await.unwrap();
    assert_eq!(client.server().await.unwrap().blender_version, "3.4.1");
}

#[tokio::test]
async fn an_oversized_reply_closes_the_connection_with_the_reason() {
    let mut options = serve(|request| ok(&request, json!("x".repeat(10_000)))).await;
    options.max_reply_bytes = 1_000;
    let client = Client::connect(options).await.unwrap();
    let err = client.ping().await.unwrap_err();
    assert!(err.to_string().contains("more than 1000 bytes"), "{err}");
}

#[tokio::test]
async fn a_peer_that_hangs_up_fails_the_pending_calls_and_the_next_call_reconnects() {
    let options = serve(|request| match request["params"]["job_id"].as_str() {
        Some("quit") => Some(HANG_UP.to_owned()),
        Some("slow") => None,
        _ => ok(&request, json!("fine")),
    })
    .await;
    let client = Client::connect(options).await.unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.get_job("slow", None).await }
    });
    wait_in_flight(&client, 1).await;
    let quit = client.get_job("quit", None).await.unwrap_err();
    let slow = slow.await.unwrap().unwrap_err();
    // Both fail with the hang-up, not their timeout (which would be a Timeout error).
    for err in [quit, slow] {
        assert!(matches!(err, ClientError::Disconnected { .. }), "{err}");
        assert!(
            err.to_string().contains("Blender closed the connection"),
            "{err}"
        );
    }
    let again = client
        .call(&bld_remote_client::protocol::Command::ListJobs)
        .await
        .unwrap();
    assert_eq!(again, json!("fine"));
}

#[tokio::test]
async fn a_peer_whose_hello_is_not_bld_remotes_is_named_as_such() {
    // Another JSON-lines service, one that knows no `hello`, and one with a broken reply.
    let cases = [
        (
            json!({"status": "success", "result": {"server": "other-tool", "protocol_version": 1}}),
            "unexpected `hello` reply",
        ),
        (
            json!({"status": "error", "error": {"code": "unknown_command", "message": "no such command: hello"}}),
            "`hello` failed: ",
        ),
        (json!({"status": "maybe"}), "unexpected status"),
    ];
    for (body, expected) in cases {
        let (options, _) = support::answer_all(move |request| {
            let mut reply = body.clone();
            reply["id"] = request["id"].clone();
            reply
        })
        .await;
        let err = Client::connect(options).await.err().unwrap();
        assert!(matches!(err, ClientError::NotBldRemote { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert!(err.to_string().contains("install-addon"), "{err}");
        assert!(!err.is_connection_problem());
    }
}

#[tokio::test]
async fn a_result_of_the_wrong_shape_names_the_command() {
    // An addon of another version whose `status` lacks what this client reads.
    let options = serve(|request| ok(&request, json!({"running": "yes"}))).await;
    let client = Client::connect(options).await.unwrap();
    let err = client.status().await.unwrap_err();
    assert!(matches!(err, ClientError::Malformed(_)), "{err}");
    assert!(
        err.to_string().contains("unexpected `status` result"),
        "{err}"
    );
    // The connection is still good: `hello` on it answers.
    let hello = client.hello().await.unwrap();
    assert_eq!(
        (hello.server.as_str(), hello.protocol_version),
        ("bld-remote", 2)
    );
}

#[tokio::test]
async fn replies_with_ids_this_client_never_used_are_dropped() {
    // A reply with id null (the server could not parse something), one with a string id and one
    // with an integer nobody waits for come before the real one: only the real one is taken.
    let options = serve(|request| {
        let stray = [
            json!({"id": null, "status": "error", "error": {"code": "parse_error", "message": "?"}}),
            json!({"id": "not-ours", "status": "success", "result": "wrong"}),
            json!({"id": 987_654_321, "status": "success", "result": "wrong"}),
        ];
        let mut out: String = stray.iter().map(|v| format!("{v}\n")).collect();
        out += &ok(&request, json!({"job": request["params"]["job_id"]})).unwrap();
        Some(out)
    })
    .await;
    let client = Client::connect(options).await.unwrap();
    for job in ["a", "b"] {
        let view = client
            .call(&bld_remote_client::protocol::Command::CancelJob { job_id: job.into() })
            .await
            .unwrap();
        assert_eq!(view, json!({"job": job}));
    }
    assert_eq!(client.in_flight().await, 0);
}

#[tokio::test]
async fn a_listener_that_accepts_no_more_connections_is_a_connect_timeout() {
    // A frozen server whose accept queue is full: the kernel drops new SYNs, so a connect
    // neither succeeds nor is refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(300), connect).await {
            fillers.push(stream);
        }
    }
    let options = ClientOptions {
        connect_timeout: Duration::from_millis(300),
        // Retrying would last ten minutes: the guard below would then fail the test.
        retry_for: Duration::from_secs(600),
        ..ClientOptions::with_port(port)
    };
    let err = tokio::time::timeout(Duration::from_secs(120), Client::connect(options))
        .await
        .expect("a connect timeout is not retried")
        .err()
        .unwrap();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("no answer within 0.3 s"), "{err}");
    assert!(err.is_connection_problem());
    drop((fillers, listener));
}
