//! What an agent is told, through rmcp's own client against real Blender 3.4: how a Blender it
//! used ended (killed, crashed, `sys.exit`), the first reply of the new one, jobs of a Blender
//! that is gone, bounded replies and where the rest is, paged scenes, captions of headless
//! captures. (The same cases through the official Python SDK, on 3.4 and 4.5:
//! tests/e2e/test_agent_view.py.)

mod common;

use common::*;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

type Session = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn mcp_process(env: &Env, args: &[&str]) -> TokioChildProcess {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("BLENDER_PATH")
        .stderr(std::process::Stdio::null());
    command.envs(env.vars.iter().map(|(k, v)| (k, v)));
    TokioChildProcess::new(command).unwrap()
}

async fn spawned(env: &Env) -> Session {
    ().serve(mcp_process(env, &["mcp", "--spawn", "--port", "0"]))
        .await
        .unwrap()
}

async fn call(client: &Session, name: &'static str, arguments: Value) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn structured(result: &CallToolResult) -> Value {
    result.structured_content.clone().unwrap_or(Value::Null)
}

async fn pid(client: &Session) -> u32 {
    let result = call(
        client,
        "execute_code",
        json!({"code": "import os\nos.getpid()"}),
    )
    .await;
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    structured(&result)["result"].as_u64().unwrap() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn a_blender_killed_in_a_call_and_between_calls_is_said_so_and_its_jobs_are_lost() {
    let env = Env::new();
    let client = spawned(&env).await;
    let first = pid(&client).await;
    let job = structured(
        &call(
            &client,
            "execute_code",
            json!({"code": "import time\ntime.sleep(60)", "mode": "async"}),
        )
        .await,
    )["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Killed while a call waits on it: that call says how it ended.
    let in_flight = tokio::spawn({
        let peer = client.peer().clone();
        async move {
            peer.call_tool(
                CallToolRequestParams::new("execute_code")
                    .with_arguments(json!({"code": "'never'"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap()
        }
    });
    loop {
        let jobs = structured(&call(&client, "list_jobs", json!({})).await);
        let running = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["code_preview"] == "import time" && j["state"] == "running");
        if running {
            break;
        }
    }
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let failed = in_flight.await.unwrap();
    assert_eq!(failed.is_error, Some(true));
    let said = text(&failed);
    assert!(
        said.contains(&format!("Blender (pid {first}) was killed (SIGKILL)"))
            && said.contains("The next call starts a new Blender (--spawn)"),
        "{said}"
    );
    let second = pid(&client).await;
    assert_ne!(first, second);
    let lost = call(&client, "get_job", json!({"job_id": job})).await;
    assert_eq!(lost.is_error, Some(true));
    assert!(
        text(&lost).contains(&format!("job {job} is lost")),
        "{}",
        text(&lost)
    );
    // Killed between calls: the next one runs on a new Blender and says so first.
    unsafe { libc::kill(second as i32, libc::SIGKILL) };
    // Between calls: the next call comes once it is dead (a call that reaches it while it dies
    // fails, saying so: the case above).
    assert!(wait_dead(second as u64, std::time::Duration::from_secs(10)));
    let fresh = call(&client, "execute_code", json!({"code": "1 + 1"})).await;
    assert_eq!(fresh.is_error, Some(false), "{}", text(&fresh));
    let note = structured(&fresh)["metadata"]["new_blender"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.contains(&format!("Blender (pid {second}) was killed (SIGKILL)"))
            && note.contains("variables from before are gone"),
        "{note}"
    );
    let status = structured(&call(&client, "check_connection_status", json!({})).await);
    assert_eq!(status["connected"], true);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn a_crash_and_a_sys_exit_are_said_with_their_cause() {
    let env = Env::new();
    let client = spawned(&env).await;
    pid(&client).await;
    let crashed = call(
        &client,
        "execute_code",
        json!({"code": "import ctypes\n\nctypes.string_at(0)"}),
    )
    .await;
    assert_eq!(crashed.is_error, Some(true));
    let said = text(&crashed);
    assert!(
        said.contains("crashed (SIGSEGV) in your code, line 3") && said.contains("crash.txt"),
        "{said}"
    );
    let before = pid(&client).await;
    let exited = call(
        &client,
        "execute_code",
        json!({"code": "import sys\nsys.exit(3)"}),
    )
    .await;
    assert_eq!(structured(&exited)["metadata"]["system_exit"], 3);
    let after = call(
        &client,
        "execute_code",
        json!({"code": "import os\nos.getpid()"}),
    )
    .await;
    assert_ne!(structured(&after)["result"], json!(before));
    assert!(
        structured(&after)["metadata"]["new_blender"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{}",
        text(&after)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn replies_are_bounded_and_say_where_the_rest_is() {
    let env = Env::new();
    let client = spawned(&env).await;
    let loud = call(
        &client,
        "execute_code",
        json!({"code": "print('x' * 1_000_000)\nlist(range(100_000))"}),
    )
    .await;
    let s = structured(&loud);
    assert!(s.to_string().len() < 20_000, "{}", s.to_string().len());
    assert_eq!(s["truncated"]["stdout"]["total_chars"], 1_000_001);
    assert_eq!(s["result"]["__truncated__"], true);
    assert!(text(&loud).contains("full: resource blender://jobs/"));
    let job = s["metadata"]["job_id"].as_str().unwrap().to_owned();
    let page = structured(
        &call(
            &client,
            "get_job",
            json!({"job_id": job, "stdout_offset": 999_000}),
        )
        .await,
    );
    assert_eq!(page["stdout_page"]["from"], 999_000);
    assert_eq!(page["stdout_page"]["more"], false);
    let whole = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "blender://jobs/{job}/result"
        )))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text: body, .. } = &whole.contents[0]
    else {
        panic!("text contents expected");
    };
    assert_eq!(
        serde_json::from_str::<Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        100_000
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "blender://jobs/{job_id}/result");
    // A job that has not finished has no result resource yet; an unknown job is not found.
    let long = structured(
        &call(
            &client,
            "execute_code",
            json!({"code": "import time\ntime.sleep(30)", "mode": "async"}),
        )
        .await,
    )["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [long.as_str(), "job-nope-1"] {
        assert!(
            client
                .read_resource(ReadResourceRequestParams::new(format!(
                    "blender://jobs/{id}/result"
                )))
                .await
                .is_err()
        );
    }
    let waiting = call(&client, "get_job", json!({"job_id": long})).await;
    assert!(text(&waiting).contains("is running"), "{}", text(&waiting));
    call(&client, "cancel_job", json!({"job_id": long})).await;

    // Scenes come in pages; many objects created are counted, not all listed.
    let many = call(
        &client,
        "execute_code",
        json!({"code": "import bpy\nfor i in range(300):\n    bpy.context.scene.collection.objects.link(bpy.data.objects.new(f'e{i:03}', None))"}),
    )
    .await;
    let metadata = &structured(&many)["metadata"];
    assert_eq!(metadata["objects_created"].as_array().unwrap().len(), 50);
    assert_eq!(metadata["objects_created_count"], 300);
    let page = call(&client, "get_scene_info", json!({"fields": ["name"]})).await;
    assert_eq!(structured(&page)["next_offset"], 100);
    assert!(
        text(&page).contains("call get_scene_info with offset 100"),
        "{}",
        text(&page)
    );
    // A render's progress lines are collapsed in the logs, and the denoiser Debian's
    // Blender lacks is turned off for the render (said in the logs).
    let render = call(
        &client,
        "execute_code",
        json!({"code": "import bpy\ns = bpy.context.scene\ns.render.engine = 'CYCLES'\ns.cycles.samples = 16\ns.render.resolution_x = s.render.resolution_y = 16\ns.render.filepath = bpy.app.tempdir + 'r.png'\nbpy.ops.render.render(write_still=True)"}),
    )
    .await;
    assert_eq!(render.is_error, Some(false), "{}", text(&render));
    let s = structured(&render);
    assert!(
        s["truncated"]["logs"]["what"]
            .as_str()
            .unwrap()
            .contains("render progress lines collapsed"),
        "{s}"
    );
    assert!(
        text(&render).contains("denoising turned off"),
        "{}",
        text(&render)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Blender: scripts/test.sh runs it"]
async fn headless_captions_say_from_where() {
    let env = Env::new();
    let client = spawned(&env).await;
    for (arguments, expected) in [
        (json!({"max_size": 32}), "through the scene camera"),
        (
            json!({"max_size": 32, "view": "iso", "shading": "solid"}),
            "from the iso view, solid shading",
        ),
        (
            json!({"max_size": 32, "view": "angle", "azimuth": 30, "elevation": 10}),
            "from azimuth 30°, elevation 10°",
        ),
        (
            json!({"max_size": 32, "shading": "wireframe"}),
            "wireframe shading",
        ),
    ] {
        let shot = call(&client, "get_viewport_screenshot", arguments).await;
        assert!(text(&shot).contains(expected), "{}", text(&shot));
    }
    call(
        &client,
        "execute_code",
        json!({"code": "import bpy\nbpy.data.objects.remove(bpy.data.objects['Camera'])"}),
    )
    .await;
    let shot = call(&client, "get_viewport_screenshot", json!({"max_size": 32})).await;
    assert!(
        text(&shot).contains("(the scene has no camera)"),
        "{}",
        text(&shot)
    );
    client.cancel().await.unwrap();
}
