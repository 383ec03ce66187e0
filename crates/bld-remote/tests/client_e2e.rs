//! The Rust client (`bld-remote-client`) against real Blender started by the CLI: many calls in
//! flight on one connection, a timed-out call followed by a good one, Blender killed and started
//! again, typed results, and the protocol crate's command list checked against the addon's.

mod common;

use bld_remote_client::protocol::{Command, ErrorCode, ExecStatus, ExecuteCode};
use bld_remote_client::{Client, ClientError, ClientOptions};
use common::*;
use std::collections::BTreeSet;
use std::time::Duration;

fn start(env: &Env, extra: &[&str]) -> (u16, u32) {
    let record = env.start_detached(extra);
    (
        record["port"].as_u64().unwrap() as u16,
        record["pid"].as_u64().unwrap() as u32,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn fifty_calls_in_flight_on_one_connection_each_get_their_own_reply() {
    let env = Env::new();
    let (port, _) = start(&env, &[]);
    let client = Client::connect(env.client_options(port)).await.unwrap();
    let connection = client.server().await.unwrap().connection_id;
    let calls = (0..50).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { (i, client.execute_code(&format!("{i} * 3")).await) })
    });
    let mut seen = BTreeSet::new();
    for call in calls {
        let (i, envelope) = call.await.unwrap();
        let envelope = envelope.unwrap();
        assert_eq!(
            envelope.result,
            serde_json::json!(i * 3),
            "call {i} got another call's reply"
        );
        assert!(seen.insert(envelope.job_id().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(
        client.server().await.unwrap().connection_id,
        connection,
        "all on one connection"
    );
    assert_eq!(client.in_flight().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn a_timed_out_call_is_followed_by_a_good_one() {
    let env = Env::new();
    let (port, _) = start(&env, &[]);
    let client = Client::connect(env.client_options(port)).await.unwrap();
    let slow = Command::ExecuteCode(ExecuteCode::new("import time\ntime.sleep(1.0)\n'slow'"));
    let err = client
        .request(&slow, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                command: "execute_code",
                ..
            }
        ),
        "{err}"
    );
    // The late reply to the first call arrives first on the connection and must be dropped.
    let envelope = client.execute_code("'fast'").await.unwrap();
    assert_eq!(envelope.result, "fast");
    assert_eq!(client.in_flight().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn pending_calls_fail_at_once_when_blender_dies_and_the_next_call_reconnects() {
    let env = Env::new();
    let port = free_port();
    let (_, pid) = start(&env, &["--port", &port.to_string()]);
    let options = ClientOptions {
        retry_for: Duration::from_secs(2),
        ..env.client_options(port)
    };
    let client = Client::connect(options).await.unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.execute_code("import time\ntime.sleep(30)").await }
    });
    // Killed once the call is on the wire; it fails with the connection, not after its 30 s
    // (it would then have succeeded).
    while client.in_flight().await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let err = pending.await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::Disconnected { .. }), "{err}");
    assert!(
        err.to_string().contains("Blender closed the connection"),
        "{err}"
    );
    assert!(wait_dead(pid as u64, Duration::from_secs(5)));

    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, ClientError::NotListening { .. }), "{err}");
    assert!(err.to_string().contains("run `bld-remote start`"), "{err}");

    let (_, new_pid) = start(&env, &["--port", &port.to_string()]);
    let hello = client.server().await.unwrap();
    assert_eq!(hello.pid, new_pid, "reconnected to the new Blender");
    assert_eq!(client.execute_code("6 * 7").await.unwrap().result, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn typed_results_of_status_jobs_and_errors() {
    let env = Env::new();
    let (port, pid) = start(&env, &[]);
    let client = Client::connect(env.client_options(port)).await.unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(
        (status.pid, status.port, status.mode.as_str()),
        (pid, port, "background")
    );

    let mut params = ExecuteCode::new("import time\ntime.sleep(0.3)\n'done'");
    params.timeout = Some(10.0);
    let submitted = client.submit(params).await.unwrap();
    let view = client.get_job(&submitted.job_id, Some(10.0)).await.unwrap();
    assert!(view.is_finished());
    assert_eq!(view.envelope.unwrap().result, "done");

    let submitted = client
        .submit(ExecuteCode::new("import time\ntime.sleep(30)"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancelled = client.cancel_job(&submitted.job_id).await.unwrap();
    assert_eq!(cancelled.cancel_accepted, Some(true));
    let view = client.get_job(&submitted.job_id, Some(5.0)).await.unwrap();
    assert_eq!(view.summary.status, Some(ExecStatus::Cancelled));

    // Submit and wait in one request: a quick job comes back finished with its stdout; a slow
    // one comes back running at the wait limit, with its id to follow.
    let quick = client
        .submit_and_wait(ExecuteCode::new("print('hi')\n6 * 7"), 5.0, Some(0))
        .await
        .unwrap();
    assert!(quick.is_finished());
    assert_eq!(quick.envelope.unwrap().result, 42);
    assert_eq!(quick.stdout.unwrap().text, "hi\n");
    // The slow job waits for a file the test writes only once the reply is in, so it is
    // still running when the wait limit answers, however loaded the machine.
    let release = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&release).unwrap();
    let code = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.01)\n'late'",
        release.to_str().unwrap()
    );
    let slow = client
        .submit_and_wait(ExecuteCode::new(&code), 0.1, None)
        .await
        .unwrap();
    assert!(!slow.is_finished() && slow.envelope.is_none());
    std::fs::write(&release, b"go").unwrap();
    let view = client
        .get_job(&slow.summary.job_id, Some(10.0))
        .await
        .unwrap();
    assert_eq!(view.envelope.unwrap().result, "late");

    let envelope = client.execute_code("undefined_name").await.unwrap();
    assert_eq!(envelope.status, ExecStatus::Error);
    assert_eq!(
        envelope.error.as_ref().unwrap().exception_type(),
        Some("NameError")
    );

    let mut bad = ExecuteCode::new("1");
    bad.timeout = Some(-1.0);
    match client.execute(bad).await.unwrap_err() {
        ClientError::Server(error) => {
            assert_eq!(error.code, ErrorCode::InvalidParams);
            assert_eq!(error.param(), Some("timeout"));
        }
        other => panic!("{other}"),
    }
    let err = client
        .call(&Command::GetJob {
            job_id: "job-99999".into(),
            wait: None,
            stdout_offset: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Server(e) if e.code == ErrorCode::NotFound),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn the_protocol_crate_knows_exactly_the_addons_commands() {
    let env = Env::new();
    let (port, _) = start(&env, &[]);
    let client = Client::connect(env.client_options(port)).await.unwrap();
    // An unknown command's error lists every command the addon knows (once authenticated:
    // before, nothing is looked at as a command).
    let token = common::token_of(&env, port);
    let refused = raw_line(port, "{\"id\":1,\"type\":\"make_coffee\"}\n".to_owned()).await;
    assert_eq!(refused["error"]["code"], "unauthorized");
    let reply = tokio::task::spawn_blocking(move || {
        common::RawConnection::authenticated(port, &token)
            .line("{\"id\":1,\"type\":\"make_coffee\"}\n")
    })
    .await
    .unwrap();
    let known: BTreeSet<String> = reply["error"]["known"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let ours: BTreeSet<String> = all_commands().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(ours, known);
    // And each is accepted as the protocol crate serializes it (`shutdown` is exercised by
    // every `bld-remote stop`; after `server_shutdown` nothing more can be sent).
    for command in all_commands()
        .into_iter()
        .filter(|c| !matches!(c, Command::Shutdown { .. }))
    {
        let reply = client
            .request(&command, Duration::from_secs(30))
            .await
            .unwrap();
        let code = reply
            .body
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        assert!(
            !matches!(
                code.as_deref(),
                Some("invalid_params" | "invalid_request" | "unknown_command" | "parse_error")
            ),
            "{} refused: {:?}",
            command.name(),
            reply.body
        );
    }
}

/// Sends one line on a fresh connection and reads one reply line.
async fn raw_line(port: u16, line: String) -> serde_json::Value {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, line.as_bytes())
        .await
        .unwrap();
    let mut reader = tokio::io::BufReader::new(stream);
    let mut reply = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut reply)
        .await
        .unwrap();
    serde_json::from_str(&reply).unwrap()
}

/// One value of every command, the ones that end the server last.
fn all_commands() -> Vec<Command> {
    use bld_remote_client::protocol::ScreenshotFormat;
    vec![
        Command::Ping,
        Command::Hello { client_nonce: None },
        Command::Authenticate {
            client_proof: "ignored once authenticated".into(),
        },
        Command::Status,
        Command::ExecuteCode(ExecuteCode::new("1")),
        Command::GetJob {
            job_id: "job-1".into(),
            wait: Some(0.0),
            stdout_offset: Some(0),
        },
        Command::CancelJob {
            job_id: "job-1".into(),
        },
        Command::ListJobs,
        Command::ResetSession {
            session: Some("s".into()),
        },
        Command::ResetBlender { file: None },
        Command::PutPersistData {
            key: "k".into(),
            data: serde_json::json!({"a": 1}),
        },
        Command::GetPersistData {
            key: "k".into(),
            default: None,
        },
        Command::RemovePersistData { key: "k".into() },
        Command::GetPolyhavenStatus,
        Command::GetSceneInfo {
            limit: Some(2),
            offset: Some(0),
        },
        Command::GetObjectInfo {
            object_name: "Cube".into(),
        },
        Command::GetViewportScreenshot {
            max_size: Some(64),
            format: Some(ScreenshotFormat::Png),
            filepath: None,
            view: Some("top".into()),
            azimuth: None,
            elevation: None,
            shading: Some("wireframe".into()),
        },
        Command::ServerShutdown,
        Command::Shutdown { exit_code: Some(0) },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn without_the_token_the_client_is_refused_with_what_to_do() {
    let env = Env::new();
    let (port, _) = start(&env, &[]);
    let nowhere = tempfile::tempdir().unwrap();
    let options = ClientOptions {
        state_dir: Some(nowhere.path().to_path_buf()),
        ..env.client_options(port)
    };
    let err = Client::connect(options).await.err().unwrap();
    assert!(matches!(err, ClientError::Token { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("no token was found") && text.contains("BLD_REMOTE_MCP_TOKEN"),
        "{text}"
    );
    // A wrong (or stale) token: the real Blender's proof does not match it, so the client
    // cannot tell it from an impostor and sends nothing more.
    let wrong = ClientOptions {
        token: Some("x".repeat(43)),
        ..env.client_options(port)
    };
    let err = Client::connect(wrong).await.err().unwrap();
    assert!(matches!(err, ClientError::NotProven { .. }), "{err}");
    assert!(err.to_string().contains("token may be stale"), "{err}");
    // The token file is private to its owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.path(&format!("state/tokens/{port}.token")))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
