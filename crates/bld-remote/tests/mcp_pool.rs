//! Many Blenders from one `bld-remote mcp`, driven by rmcp's client against real Blenders: the
//! managed pool (`--pool N`: leases per session handle, isolation, the queue, reset between
//! leases, a killed or stuck worker replaced, nothing left behind) and routing by `blender`
//! between a GUI Blender under Xvfb and a headless one.

mod common;

use common::*;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::time::Duration;

type Client = RunningService<rmcp::RoleClient, ()>;

/// Bound on waiting for a state the test drives (a safety net, not a timing assertion).
const LIMIT: Duration = Duration::from_secs(120);

async fn mcp(env: &Env, args: &[&str]) -> Client {
    mcp_with_pid(env, args).await.0
}

/// [`mcp`], and the server's pid.
async fn mcp_with_pid(env: &Env, args: &[&str]) -> (Client, u32) {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("BLENDER_PATH")
        .env_remove("BLD_REMOTE_PORT")
        .stderr(std::process::Stdio::null());
    command.envs(env.vars.iter().map(|(k, v)| (k, v)));
    let transport = TokioChildProcess::new(command).unwrap();
    let pid = transport.id().unwrap();
    (().serve(transport).await.unwrap(), pid)
}

fn call(name: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone())
}

async fn tool(client: &Client, name: &'static str, arguments: Value) -> CallToolResult {
    client.call_tool(call(name, arguments)).await.unwrap()
}

/// A tool's structured result, which must not be an error.
async fn ok(client: &Client, name: &'static str, arguments: Value) -> Value {
    let result = tool(client, name, arguments).await;
    assert_eq!(result.is_error, Some(false), "{name}: {:?}", result.content);
    result.structured_content.unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code`'s value in `session`.
async fn run(client: &Client, session: &str, code: &str) -> Value {
    ok(
        client,
        "execute_code",
        json!({"code": code, "session": session}),
    )
    .await["result"]
        .clone()
}

async fn new_session(client: &Client, arguments: Value) -> String {
    ok(client, "new_session", arguments).await["session"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pool(client: &Client) -> Value {
    let read = client
        .read_resource(ReadResourceRequestParams::new("blender://pool"))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("not text: {other:?}"),
    };
    serde_json::from_str::<Value>(&text).unwrap()["pool"].clone()
}

/// Polls the pool's status until `check` holds (bounded).
async fn wait_pool(client: &Client, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let status = pool(client).await;
        if check(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pool never {what}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const PID: &str = "import os\nos.getpid()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn pool_sessions_lease_isolated_workers_in_parallel_and_a_third_waits_for_a_reset_one() {
    let env = Env::new();
    let client = mcp(&env, &["mcp", "--pool", "2", "--pool-wait", "300"]).await;
    let (a, b) = (
        new_session(&client, json!({})).await,
        new_session(&client, json!({})).await,
    );
    let pid_a = run(&client, &a, PID).await.as_u64().unwrap();
    let pid_b = run(&client, &b, PID).await.as_u64().unwrap();
    assert_ne!(pid_a, pid_b, "two sessions, two workers");

    // Isolated scenes and namespaces.
    run(
        &client,
        &a,
        "import bpy\nbpy.ops.mesh.primitive_monkey_add()\nbpy.context.object.name = 'Made_by_A'\nmine = 'a'",
    )
    .await;
    let b_sees = run(
        &client,
        &b,
        "import bpy\n[sorted(o.name for o in bpy.data.objects), 'mine' in globals()]",
    )
    .await;
    assert_eq!(b_sees, json!([["Camera", "Cube", "Light"], false]));

    // In parallel: A waits for a file only B's call writes; one worker at a time would never
    // get there (A's call would time out).
    let gate = env.path("gate");
    let wait_code = format!(
        "import os, time\nwhile not os.path.exists({gate:?}): time.sleep(0.01)\n'released'"
    );
    let waiting = {
        let peer = client.peer().clone();
        let arguments = json!({"code": wait_code, "session": a, "timeout": 120});
        tokio::spawn(async move { peer.call_tool(call("execute_code", arguments)).await })
    };
    run(
        &client,
        &b,
        &format!("open({gate:?}, 'w').close()\n'opened'"),
    )
    .await;
    let released = waiting.await.unwrap().unwrap();
    assert_eq!(released.structured_content.unwrap()["result"], "released");

    // A third session waits in the queue...
    let c = new_session(&client, json!({})).await;
    let third = {
        let peer = client.peer().clone();
        let arguments = json!({
            "code": "import bpy, os\n[os.getpid(), sorted(o.name for o in bpy.data.objects), 'mine' in globals()]",
            "session": c,
        });
        tokio::spawn(async move { peer.call_tool(call("execute_code", arguments)).await })
    };
    let status = wait_pool(&client, "had one waiting", |p| p["waiting"] == 1).await;
    assert_eq!(status["leased"], 2, "{status}");
    assert!(status["running"].as_u64().unwrap() <= 2, "{status}");
    // ... and gets A's worker once A ends, reset to factory startup.
    let ended = ok(&client, "reset_session", json!({"session": a, "end": true})).await;
    assert_eq!(ended["ended"], true);
    let third = third.await.unwrap().unwrap();
    assert_eq!(third.is_error, Some(false), "{}", text(&third));
    let seen = third.structured_content.unwrap()["result"].clone();
    assert_eq!(seen[0].as_u64(), Some(pid_a), "the released worker");
    assert_eq!(seen[1], json!(["Camera", "Cube", "Light"]), "reset: {seen}");
    assert_eq!(seen[2], false, "no variable of A's");

    // A's handle is gone, and says so.
    let gone = tool(&client, "execute_code", json!({"code": "1", "session": a})).await;
    assert_eq!(gone.is_error, Some(true));
    assert!(text(&gone).contains("was ended"), "{}", text(&gone));

    let status = pool(&client).await;
    assert!(status["resets"].as_u64().unwrap() >= 1, "{status}");
    assert_eq!(status["workers"].as_array().unwrap().len(), 2);
    client.cancel().await.unwrap();
    for pid in [pid_a, pid_b] {
        assert!(wait_dead(pid, LIMIT), "worker {pid} left behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn a_killed_or_stuck_worker_is_replaced_and_the_other_session_is_untouched() {
    let env = Env::new();
    let client = mcp(&env, &["mcp", "--pool", "2"]).await;
    let (a, b) = (
        new_session(&client, json!({})).await,
        new_session(&client, json!({})).await,
    );
    let pid_a = run(&client, &a, PID).await.as_u64().unwrap();
    let pid_b = run(&client, &b, &format!("kept = 7\n{PID}"))
        .await
        .as_u64()
        .unwrap();

    // SAFETY: kill(2) on a worker this test's MCP server started.
    assert_eq!(unsafe { libc::kill(pid_a as i32, libc::SIGKILL) }, 0);
    let failed = tool(&client, "execute_code", json!({"code": "1", "session": a})).await;
    if failed.is_error == Some(true) {
        let said = text(&failed);
        assert!(
            said.contains("SIGKILL") || said.contains("killed"),
            "{said}"
        );
    }
    let fresh = ok(&client, "execute_code", json!({"code": PID, "session": a})).await;
    let pid_a2 = fresh["result"].as_u64().unwrap();
    assert_ne!(pid_a2, pid_a, "a fresh worker");
    assert_eq!(
        run(&client, &b, "import os\n[kept, os.getpid()]").await,
        json!([7, pid_b]),
        "B's worker and namespace untouched"
    );

    // Stuck in a C call past its timeout: stopped and replaced in the same slot.
    let stuck = tool(
        &client,
        "execute_code",
        json!({"code": "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'x', b'y', 100_000_000)", "timeout": 1, "session": a}),
    )
    .await;
    assert_eq!(stuck.is_error, Some(true));
    assert!(
        text(&stuck).contains("A fresh one runs"),
        "{}",
        text(&stuck)
    );
    assert!(wait_dead(pid_a2, LIMIT));
    let pid_a3 = run(&client, &a, PID).await.as_u64().unwrap();
    assert!(![pid_a, pid_a2, pid_b].contains(&pid_a3));
    let status = pool(&client).await;
    assert!(status["replaced"].as_u64().unwrap() >= 2, "{status}");
    assert!(status["running"].as_u64().unwrap() <= 2, "{status}");
    // Never more than N: the records of live pool workers, checked by their processes.
    let live_workers = std::fs::read_dir(env.path("state/instances"))
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            serde_json::from_slice::<Value>(&std::fs::read(entry.path()).ok()?).ok()
        })
        .filter(|record| !record["pool_of"].is_null())
        .filter(|record| pid_alive(record["pid"].as_u64().unwrap()))
        .count();
    assert!(
        (1..=2).contains(&live_workers),
        "{live_workers} live pool workers"
    );

    // The server's end leaves no Blender behind.
    client.cancel().await.unwrap();
    for pid in [pid_a3, pid_b] {
        assert!(wait_dead(pid, LIMIT), "worker {pid} left behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn any_lends_a_free_worker_for_one_call_and_a_full_queue_is_refused_at_once() {
    let env = Env::new();
    let client = mcp(
        &env,
        &[
            "mcp",
            "--pool",
            "1",
            "--pool-warm",
            "1",
            "--pool-queue",
            "0",
        ],
    )
    .await;
    wait_pool(&client, "started its warm worker", |p| p["running"] == 1).await;
    let one = ok(
        &client,
        "execute_code",
        json!({"code": "import bpy\nbpy.ops.mesh.primitive_monkey_add()\nlen(bpy.data.objects)", "blender": "any"}),
    )
    .await;
    assert_eq!(one["result"], 4);
    // Lent for that call only: reset before the next.
    let status = wait_pool(&client, "reset its worker", |p| {
        p["resets"] == 1 && p["workers"][0]["state"] == "free"
    })
    .await;
    assert_eq!(status["leased"], 0, "{status}");
    let refused = tool(
        &client,
        "execute_code",
        json!({"code": "1", "blender": "any", "mode": "async"}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));

    // A session holds the only worker; another finds the queue full (limit 0) at once.
    let a = new_session(&client, json!({})).await;
    assert_eq!(
        run(&client, &a, "import bpy\nlen(bpy.data.objects)").await,
        3,
        "a reset worker"
    );
    let b = new_session(&client, json!({})).await;
    let full = tool(&client, "execute_code", json!({"code": "1", "session": b})).await;
    assert_eq!(full.is_error, Some(true));
    assert!(text(&full).contains("--pool-queue"), "{}", text(&full));
    client.cancel().await.unwrap();
}

/// A server killed outright (SIGKILL: no shutdown of its own) takes its workers with it: nobody
/// else would ever stop them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn pool_workers_die_with_a_server_that_is_killed() {
    let env = Env::new();
    let (client, server) = mcp_with_pid(&env, &["mcp", "--pool", "2", "--pool-warm", "2"]).await;
    let status = wait_pool(&client, "started both workers", |p| p["running"] == 2).await;
    let workers: Vec<u64> = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_u64().unwrap())
        .collect();
    // SAFETY: kill(2) on the MCP server this test started.
    assert_eq!(unsafe { libc::kill(server as i32, libc::SIGKILL) }, 0);
    for pid in workers {
        assert!(wait_dead(pid, LIMIT), "worker {pid} outlived its server");
    }
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn routing_drives_a_gui_and_a_headless_blender_by_label_file_and_pid() {
    let xvfb = Xvfb::start();
    let mut env = Env::new();
    env.set("DISPLAY", &xvfb.display);
    let shared_cache = repo_root().join("target/test-xdg-cache");
    std::fs::create_dir_all(&shared_cache).unwrap();
    env.set("XDG_CACHE_HOME", shared_cache.to_str().unwrap());
    // A .blend for the GUI to open (saved by a headless run).
    let blend = env.path("robot.blend");
    let maker = env.start_detached(&[]);
    let saved = env.exec(
        maker["port"].as_u64().unwrap(),
        &format!("import bpy\nbpy.ops.wm.save_as_mainfile(filepath={blend:?})\n'saved'"),
    );
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let stop = env.run(&["stop", "--port", &maker["port"].to_string()]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);

    let gui = env.start_detached(&[
        "--gui",
        "--label",
        "gui",
        "--file",
        blend.to_str().unwrap(),
        "--ready-timeout",
        "180",
    ]);
    let headless = env.start_detached(&["--label", "headless"]);
    let twice = env.run(&["start", "--detach", "--port", "0", "--label", "headless"]);
    assert_ne!(twice.code, 0);
    assert!(
        twice.stderr.contains("label headless is taken"),
        "{}",
        twice.stderr
    );
    // `status` shows the labels.
    let status = env.run(&["status", "--json"]);
    let rows: Value = serde_json::from_str(&status.stdout).unwrap();
    let labels: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["label"].as_str())
        .collect();
    assert_eq!(labels.len(), 2, "{rows}");
    assert!(
        labels.contains(&"gui") && labels.contains(&"headless"),
        "{rows}"
    );
    let table = env.run(&["status"]);
    assert!(
        table.stdout.contains("LABEL") && table.stdout.contains("headless"),
        "{}",
        table.stdout
    );
    let client = mcp(&env, &["mcp", "--port", &gui["port"].to_string()]).await;

    let listed = ok(&client, "list_blenders", json!({})).await;
    let blenders = listed["blenders"].as_array().unwrap();
    let labels: Vec<&str> = blenders
        .iter()
        .filter_map(|b| b["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"gui") && labels.contains(&"headless"),
        "{listed}"
    );
    let gui_entry = blenders.iter().find(|b| b["label"] == "gui").unwrap();
    assert_eq!(gui_entry["mode"], "gui");
    assert!(
        gui_entry["file"].as_str().unwrap().ends_with("robot.blend"),
        "{gui_entry}"
    );

    let background =
        |blender: &str| json!({"code": "import bpy\nbpy.app.background", "blender": blender});
    for (name, expected) in [
        ("gui", false),
        ("headless", true),
        ("robot.blend", false),
        (&headless["pid"].to_string()[..], true),
    ] {
        let value = ok(&client, "execute_code", background(name)).await;
        assert_eq!(value["result"], expected, "blender {name}");
    }
    // Namespaces are per Blender: a variable set in one is not in the other.
    ok(
        &client,
        "execute_code",
        json!({"code": "here = 'headless'", "blender": "headless"}),
    )
    .await;
    let in_gui = ok(
        &client,
        "execute_code",
        json!({"code": "'here' in globals()", "blender": "gui"}),
    )
    .await;
    assert_eq!(in_gui["result"], false);

    // A wrong name lists what exists.
    let wrong = tool(&client, "execute_code", background("nosuch")).await;
    assert_eq!(wrong.is_error, Some(true));
    let said = text(&wrong);
    assert!(
        said.contains("label gui") && said.contains("label headless"),
        "{said}"
    );

    // A session sticks to the Blender it was made for.
    let sticky = new_session(&client, json!({"blender": "headless"})).await;
    assert_eq!(
        run(&client, &sticky, "import bpy\nbpy.app.background").await,
        true
    );
    let refused = tool(&client, "new_session", json!({"blender": "nosuch"})).await;
    assert_eq!(refused.is_error, Some(true));

    // Without `blender`: the server's Blender (--port: the GUI), as before.
    let default = ok(&client, "check_connection_status", json!({})).await;
    assert_eq!(default["mode"], "gui");
    client.cancel().await.unwrap();
    drop(xvfb);
}
