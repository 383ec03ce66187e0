//! `bld-remote mcp` driven by rmcp's own client (the Rust SDK) over stdio, against real Blender:
//! the core cases (the Python SDK tests in tests/e2e/test_mcp_server.py cover every tool).

mod common;

use common::*;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ErrorCode};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

/// `bld-remote <args>` as an MCP server over stdio, in the test's environment.
fn mcp_process(env: &Env, args: &[&str]) -> TokioChildProcess {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("BLENDER_PATH")
        .stderr(std::process::Stdio::null());
    command.envs(env.vars.iter().map(|(k, v)| (k, v)));
    TokioChildProcess::new(command).unwrap()
}

async fn connect(env: &Env, port: u16) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let args = ["mcp", "--port", &port.to_string()];
    ().serve(mcp_process(env, &args)).await.unwrap()
}

async fn spawn_session(env: &Env) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let args = ["mcp", "--spawn", "--port", &free_port().to_string()];
    ().serve(mcp_process(env, &args)).await.unwrap()
}

/// One long C call (no Python bytecode to interrupt).
const STUCK_CODE: &str = "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'x', b'y', 100_000_000)";

/// Runs STUCK_CODE with a 1 s timeout: a tool error saying it is stuck (past 1 s plus the
/// 5 s grace); its text.
async fn stuck_call(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>) -> String {
    let stuck = client
        .call_tool(call(
            "execute_code",
            json!({"code": STUCK_CODE, "timeout": 1}),
        ))
        .await
        .unwrap();
    assert_eq!(stuck.is_error, Some(true));
    let text = stuck.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("stuck in a long C call"), "{text}");
    text
}

fn call(name: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_lists_tools_and_runs_code_with_structured_results() {
    let env = Env::new();
    let port = env.start_detached(&[])["port"].as_u64().unwrap() as u16;
    let client = connect(&env, port).await;

    let tools = client.list_all_tools().await.unwrap();
    let exec = tools
        .iter()
        .find(|t| t.name == "execute_code")
        .expect("execute_code listed");
    assert!(exec.output_schema.is_some() && exec.annotations.is_some());

    let result = client
        .call_tool(call("execute_code", json!({"code": "x = 6\nx * 7"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    let structured = result.structured_content.unwrap();
    assert_eq!(
        (structured["status"].as_str(), structured["result"].as_i64()),
        (Some("success"), Some(42))
    );

    let failed = client
        .call_tool(call("execute_code", json!({"code": "x / 0"})))
        .await
        .unwrap();
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(
        failed.structured_content.unwrap()["error"]["type"],
        "ZeroDivisionError"
    );

    let shot = client
        .call_tool(call("get_viewport_screenshot", json!({"max_size": 32})))
        .await
        .unwrap();
    let image = shot
        .content
        .iter()
        .find_map(|c| c.as_image())
        .expect("image content");
    assert_eq!(image.mime_type, "image/png");
    assert!(
        image.data.starts_with("iVBORw0KGgo"),
        "base64 of a PNG signature"
    );

    // A named view and shading (headless: rendered from there); a view that does not exist is
    // refused by the tool's schema, naming it.
    let top = client
        .call_tool(call(
            "get_viewport_screenshot",
            json!({"max_size": 48, "view": "top", "shading": "wireframe"}),
        ))
        .await
        .unwrap();
    let top_image = top.content.iter().find_map(|c| c.as_image()).unwrap();
    assert!(top_image.data.starts_with("iVBORw0KGgo"));
    assert_ne!(
        top_image.data, image.data,
        "a different picture from the top"
    );
    match client
        .call_tool(call("get_viewport_screenshot", json!({"view": "sideways"})))
        .await
    {
        Err(rmcp::ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
            assert!(error.message.contains("view"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }

    let status = client
        .call_tool(call("check_connection_status", json!({})))
        .await
        .unwrap();
    assert_eq!(status.structured_content.unwrap()["connected"], true);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_gets_invalid_params_naming_the_argument() {
    let env = Env::new();
    let client = connect(&env, free_port()).await;
    let err = client
        .call_tool(call("execute_code", json!({"code": 3})))
        .await
        .unwrap_err();
    match err {
        rmcp::ServiceError::McpError(error) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
            assert!(
                error.message.contains("code: invalid type"),
                "{}",
                error.message
            );
        }
        other => panic!("{other}"),
    }
    // No Blender on that port: a tool error with the fix, and the server stays up.
    let result = client
        .call_tool(call("execute_code", json!({"code": "1"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = result.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("Start one with `bld-remote start`"), "{text}");
    // So does every other tool that needs Blender, and a resource read.
    for (name, arguments) in [
        ("get_scene_info", json!({})),
        ("get_job", json!({"job_id": "job-1"})),
        ("reset_session", json!({})),
    ] {
        let result = client.call_tool(call(name, arguments)).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{name}");
        let text = result.content[0].as_text().unwrap().text.clone();
        assert!(
            text.contains("Start one with `bld-remote start`"),
            "{name}: {text}"
        );
    }
    match client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "blender://scene",
        ))
        .await
        .unwrap_err()
    {
        rmcp::ServiceError::McpError(error) => {
            assert_eq!(error.code, ErrorCode::INTERNAL_ERROR);
            assert!(
                error.message.contains("Start one with `bld-remote start`"),
                "{}",
                error.message
            );
        }
        other => panic!("{other}"),
    }
    client.cancel().await.unwrap();
}

async fn structured<H: rmcp::ClientHandler>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, H>,
    name: &'static str,
    arguments: Value,
) -> Value {
    let result = client.call_tool(call(name, arguments)).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{name}: {:?}", result.content);
    result.structured_content.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_follows_jobs_reads_the_scene_and_keeps_data() {
    let env = Env::new();
    let port = env.start_detached(&[])["port"].as_u64().unwrap() as u16;
    let client = connect(&env, port).await;

    // Jobs: submit async, wait for it, cancel a long one, list them.
    let submitted = structured(
        &client,
        "execute_code",
        json!({"code": "import time\ntime.sleep(0.3)\n'late'", "mode": "async"}),
    )
    .await;
    let job_id = submitted["job_id"].as_str().unwrap().to_owned();
    let view = structured(&client, "get_job", json!({"job_id": job_id, "wait": 10})).await;
    // The same shape as execute_code's result, plus the job's fields.
    assert_eq!(
        (
            view["state"].as_str(),
            view["result"].as_str(),
            view["status"].as_str()
        ),
        (Some("finished"), Some("late"), Some("success"))
    );
    let long = structured(
        &client,
        "execute_code",
        json!({"code": "import time\ntime.sleep(60)", "mode": "async"}),
    )
    .await;
    let long_id = long["job_id"].as_str().unwrap().to_owned();
    let cancelled = structured(&client, "cancel_job", json!({"job_id": long_id})).await;
    assert_eq!(cancelled["cancel_accepted"], true);
    // A finished job is reported as execute_code would have: cancelled is an error result.
    let stopped = client
        .call_tool(call("get_job", json!({"job_id": long_id, "wait": 10})))
        .await
        .unwrap();
    assert_eq!(stopped.is_error, Some(true));
    assert_eq!(stopped.structured_content.unwrap()["status"], "cancelled");
    let listed = structured(&client, "list_jobs", json!({})).await;
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["job_id"].as_str())
        .collect();
    assert!(ids.contains(&job_id.as_str()) && ids.contains(&long_id.as_str()));

    // A synchronous call that outlives the first wait (0.2 s) is followed to its end, with
    // its stdout.
    let slow = structured(
        &client,
        "execute_code",
        json!({"code": "import time\nprint('before')\ntime.sleep(0.6)\nprint('after')\n'done'"}),
    )
    .await;
    assert_eq!(slow["result"], "done");
    assert_eq!(slow["stdout"], "before\nafter\n");

    // Scene and objects.
    let page = structured(&client, "get_scene_info", json!({"limit": 2, "offset": 0})).await;
    assert_eq!(page["objects"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let cube = structured(&client, "get_object_info", json!({"object_name": "Cube"})).await;
    assert_eq!(
        (cube["type"].as_str(), cube["mesh"]["vertices"].as_u64()),
        (Some("MESH"), Some(8))
    );
    let missing = client
        .call_tool(call("get_object_info", json!({"object_name": "Nope"})))
        .await
        .unwrap();
    assert_eq!(missing.is_error, Some(true));

    // Persisted data outlives the call; the session's variables go with reset_session.
    let stored = structured(
        &client,
        "put_persist_data",
        json!({"key": "k", "data": {"n": [1, 2]}}),
    )
    .await;
    assert_eq!(stored["result"], "Data stored with key: k");
    let got = structured(&client, "get_persist_data", json!({"key": "k"})).await;
    assert_eq!(got, json!({"data": {"n": [1, 2]}, "found": true}));
    let removed = structured(&client, "remove_persist_data", json!({"key": "k"})).await;
    assert_eq!(removed, json!({"removed": true}));
    let absent = structured(
        &client,
        "get_persist_data",
        json!({"key": "k", "default": 7}),
    )
    .await;
    assert_eq!(absent, json!({"data": 7, "found": false}));
    structured(&client, "execute_code", json!({"code": "kept = 5"})).await;
    structured(&client, "reset_session", json!({})).await;
    let gone = client
        .call_tool(call("execute_code", json!({"code": "kept"})))
        .await
        .unwrap();
    assert_eq!(
        gone.structured_content.unwrap()["error"]["type"],
        "NameError"
    );

    // Resources.
    let resources = client.list_all_resources().await.unwrap();
    let uris: std::collections::BTreeSet<String> =
        resources.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(
        uris,
        ["blender://pool", "blender://scene", "blender://status"]
            .map(String::from)
            .into()
    );
    let status = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "blender://status",
        ))
        .await
        .unwrap();
    let text = match &status.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["port"], port);
    assert!(
        client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(
                "blender://nothing"
            ))
            .await
            .is_err()
    );
    let unknown = client.call_tool(call("no_such_tool", json!({}))).await;
    assert!(unknown.is_err());
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_with_spawn_gets_a_new_blender_after_a_kill() {
    let env = Env::new();
    let client = spawn_session(&env).await;

    let first = structured(&client, "check_connection_status", json!({})).await;
    assert_eq!(first["connected"], true);
    let pid = first["pid"].as_u64().unwrap();
    // SAFETY: kill(2) on the PID of the Blender this test's MCP server started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    assert!(wait_dead(pid, std::time::Duration::from_secs(10)));

    // The next call starts another Blender and runs.
    let result = client
        .call_tool(call("execute_code", json!({"code": "6 * 7"})))
        .await
        .unwrap();
    let result = if result.is_error == Some(true) {
        // The call that found Blender gone may report it; the one after must work.
        client
            .call_tool(call("execute_code", json!({"code": "6 * 7"})))
            .await
            .unwrap()
    } else {
        result
    };
    assert_eq!(result.structured_content.unwrap()["result"], 42);
    let second = structured(&client, "check_connection_status", json!({})).await;
    assert_ne!(second["pid"].as_u64().unwrap(), pid);
    client.cancel().await.unwrap();
    // The session's end stops the Blender it started.
    assert!(wait_dead(
        second["pid"].as_u64().unwrap(),
        std::time::Duration::from_secs(15)
    ));
}

/// A client that keeps the messages of the progress notifications it receives.
#[derive(Clone, Default)]
struct ProgressLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl rmcp::ClientHandler for ProgressLog {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push(params.message.unwrap_or_default());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_gets_prints_as_progress_and_cancelling_the_request_stops_the_code() {
    let env = Env::new();
    let port = env.start_detached(&[])["port"].as_u64().unwrap() as u16;
    let progress = ProgressLog::default();
    let client = progress
        .clone()
        .serve(mcp_process(&env, &["mcp", "--port", &port.to_string()]))
        .await
        .unwrap();

    // rmcp's client sends a progress token with every request.
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::Request::new(call(
        "execute_code",
        json!({"code": "import time\nfor i in range(600):\n    print('tick', i)\n    time.sleep(0.1)"}),
    )));
    let handle = client
        .send_cancellable_request(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !progress.0.lock().unwrap().concat().contains("tick 3\n") {
        assert!(std::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        progress
            .0
            .lock()
            .unwrap()
            .concat()
            .starts_with("tick 0\ntick 1\n"),
        "the prints in order, each once: {:?}",
        progress.0.lock().unwrap()
    );
    handle.cancel(Some("enough".into())).await.unwrap();

    // The loop stopped in Blender: the next call runs, and the job is listed as cancelled
    // (had it run its minute of ticks to the end, it would be listed as a success).
    let next = structured(&client, "execute_code", json!({"code": "6 * 7"})).await;
    assert_eq!(next["result"], 42);
    let listed = structured(&client, "list_jobs", json!({})).await;
    let statuses: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["status"].as_str())
        .collect();
    assert!(statuses.contains(&"cancelled"), "{listed}");
    client.cancel().await.unwrap();
}

/// A Blender this server did not start is never restarted or killed when code is stuck in it:
/// the tool error names the job to follow or cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_is_told_how_to_follow_stuck_code_in_a_blender_it_did_not_start() {
    let env = Env::new();
    let record = env.start_detached(&[]);
    let (port, pid) = (
        record["port"].as_u64().unwrap() as u16,
        record["pid"].as_u64().unwrap(),
    );
    let client = connect(&env, port).await;
    let text = stuck_call(&client).await;
    assert!(
        text.contains("is still running: follow it with get_job or stop it with cancel_job"),
        "{text}"
    );
    assert!(pid_alive(pid), "the Blender it did not start is left alone");
    let status = structured(&client, "check_connection_status", json!({})).await;
    assert_eq!(status["pid"], pid);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn rmcp_client_sees_a_stuck_spawned_blender_replaced() {
    let env = Env::new();
    let client = spawn_session(&env).await;
    let first = structured(&client, "check_connection_status", json!({})).await;
    let pid = first["pid"].as_u64().unwrap();
    let text = stuck_call(&client).await;
    assert!(text.contains("so it was stopped"), "{text}");
    assert!(text.contains("A fresh one runs"), "{text}");
    assert!(wait_dead(pid, std::time::Duration::from_secs(10)));
    let after = structured(&client, "execute_code", json!({"code": "6 * 7"})).await;
    assert_eq!(after["result"], 42);
    let second = structured(&client, "check_connection_status", json!({})).await;
    assert_ne!(second["pid"].as_u64().unwrap(), pid);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_gets_the_reason_when_spawn_cannot_start_blender() {
    let mut env = Env::new();
    let missing = env.path("no-blender-here");
    env.set("BLENDER_PATH", missing.to_str().unwrap());
    let client = spawn_session(&env).await;
    let result = client
        .call_tool(call("execute_code", json!({"code": "1"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = result.content[0].as_text().unwrap().text.clone();
    assert!(text.contains("could not start Blender (--spawn)"), "{text}");
    assert!(text.contains("no-blender-here"), "{text}");
    // The session stays up and says the same on the next call.
    let status = structured(&client, "check_connection_status", json!({})).await;
    assert_eq!(status["connected"], false);
    client.cancel().await.unwrap();
}

/// stdin and stdout that are regular files (not a pipe or socket the event loop can poll) go
/// through tokio's own stdio: the session still runs to the end of its input.
#[test]
fn mcp_over_stdin_and_stdout_that_are_plain_files() {
    let env = Env::new();
    let requests = env.path("requests.jsonl");
    std::fs::write(
        &requests,
        concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"file","version":"1"}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            "\n",
        ),
    )
    .unwrap();
    let replies = env.path("replies.jsonl");
    let port = free_port().to_string();
    // -vv: trace logs, which must all go to stderr; stdout carries only MCP.
    let mut command = env.command(&["mcp", "-vv", "--port", &port]);
    command
        .stdin(std::fs::File::open(&requests).unwrap())
        .stdout(std::fs::File::create(&replies).unwrap())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let output = wait_output(child, std::time::Duration::from_secs(30));
    assert!(output.status.success(), "{:?}", output.status);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("stdin is read through tokio's blocking stdin")
            && logs.contains("stdout is written through tokio's blocking stdout"),
        "{logs}"
    );
    let text = std::fs::read_to_string(&replies).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["result"]["serverInfo"]["name"], "bld-remote");
    let tools = lines[1]["result"]["tools"].as_array().unwrap();
    assert!(tools.iter().any(|tool| tool["name"] == "execute_code"));
}
