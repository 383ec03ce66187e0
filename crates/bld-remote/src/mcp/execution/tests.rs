//! `execute_code` run through the real MCP server against a scripted addon: what is asked of
//! Blender, in which order and on which connection, and what the agent receives. No Blender.
//! The clock is real (tokio's paused clock jumps ahead while a real socket has not yet been
//! read, so a reply from the scripted addon would race the server's deadlines); the tests
//! synchronise on what the addon received, never on how long anything took.

use crate::mcp::scripted_addon::{Received, ScriptedAddon, envelope, job_view, ok};
use crate::mcp::test_session::{PlainClient, TestSession, text};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

const JOB: &str = "job-script-1";

/// Holds a `get_job` reply for its `wait`, as the addon does for a job that does not finish.
async fn held(request: &Value) {
    let wait = request["params"]["wait"].as_f64().unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
}

fn finished(result: Value, stdout: &str) -> Value {
    envelope(JOB, "success", result, stdout)
}

#[tokio::test]
async fn a_quick_call_is_answered_by_its_first_reply() {
    let addon = ScriptedAddon::start(|request| async move {
        Some(ok(
            &request,
            job_view(JOB, Some(finished(json!(42), "hi\n")), Some(("hi\n", 3))),
        ))
    })
    .await;
    let session = TestSession::new(&addon).await;

    let result = session
        .call("execute_code", json!({"code": "print('hi')\n6 * 7"}))
        .await;

    assert_eq!(result.is_error, Some(false), "{result:?}");
    let structured = result.structured_content.unwrap();
    assert_eq!(
        (structured["status"].as_str(), structured["result"].as_i64()),
        (Some("success"), Some(42))
    );
    // One request: submitted as an async job that is waited for, its stdout asked for from the
    // start (rmcp's client sends a progress token).
    let received = addon.received();
    assert_eq!(addon.commands(), ["execute_code"]);
    let params = received[0].params();
    assert_eq!(params["execution_mode"], "async");
    assert_eq!(params["wait"], 0.2);
    assert_eq!(params["stdout_offset"], 0);
    assert_eq!(session.progress.wait_for(1).await, ["hi\n"]);
}

#[tokio::test]
async fn a_longer_call_is_followed_and_its_prints_arrive_as_progress_once_each_in_order() {
    let polls = Arc::new(AtomicUsize::new(0));
    let addon = ScriptedAddon::start({
        let polls = Arc::clone(&polls);
        move |request| {
            let poll = match request["type"].as_str() {
                Some("execute_code") => 0,
                _ => polls.fetch_add(1, Ordering::SeqCst) + 1,
            };
            async move {
                let view = match poll {
                    0 => job_view(JOB, None, Some(("tick 0\n", 7))),
                    1 => job_view(JOB, None, Some(("tick 1\n", 14))),
                    _ => job_view(
                        JOB,
                        Some(finished(json!("done"), "tick 0\ntick 1\ntick 2\n")),
                        Some(("tick 2\n", 21)),
                    ),
                };
                Some(ok(&request, view))
            }
        }
    })
    .await;
    let session = TestSession::new(&addon).await;

    let result = session
        .call("execute_code", json!({"code": "ticks()"}))
        .await;

    let structured = result.structured_content.unwrap();
    assert_eq!(structured["result"], "done");
    assert_eq!(structured["stdout"], "tick 0\ntick 1\ntick 2\n");
    assert_eq!(
        session.progress.wait_for(3).await,
        ["tick 0\n", "tick 1\n", "tick 2\n"]
    );
    // Followed on the connection that submitted it (this session's namespace), each poll
    // asking for the stdout past what was already sent.
    let received = addon.received();
    assert_eq!(addon.commands(), ["execute_code", "get_job", "get_job"]);
    assert!(
        received
            .iter()
            .all(|r| r.connection == received[0].connection)
    );
    let offsets: Vec<&Value> = received[1..]
        .iter()
        .map(|r| &r.params()["stdout_offset"])
        .collect();
    assert_eq!(offsets, [&json!(7), &json!(14)]);
    assert!(received[1..].iter().all(|r| r.params()["job_id"] == JOB));
}

#[tokio::test]
async fn without_a_progress_token_the_job_is_waited_for_in_one_long_poll() {
    let addon = ScriptedAddon::start(|request| async move {
        let view = match request["type"].as_str() {
            Some("execute_code") => job_view(JOB, None, None),
            _ => job_view(JOB, Some(finished(json!(1), "")), None),
        };
        Some(ok(&request, view))
    })
    .await;
    let mut client = PlainClient::new(&addon).await;

    let result = client
        .call("execute_code", json!({"code": "slow()", "timeout": 10}))
        .await;

    assert_eq!(result["structuredContent"]["result"], 1);
    let received = addon.received();
    assert_eq!(addon.commands(), ["execute_code", "get_job"]);
    assert!(received[0].params().get("stdout_offset").is_none());
    assert!(received[1].params().get("stdout_offset").is_none());
    // The rest of its timeout plus the grace, in one request.
    let wait = received[1].params()["wait"].as_f64().unwrap();
    assert!((14.0..=15.0).contains(&wait), "{wait}");
}

#[tokio::test]
async fn cancelling_the_request_cancels_the_job_in_blender() {
    let followed = Arc::new(Notify::new());
    let stopped = Arc::new(Notify::new());
    let addon = ScriptedAddon::start({
        let (followed, stopped) = (Arc::clone(&followed), Arc::clone(&stopped));
        move |request| {
            let (followed, stopped) = (Arc::clone(&followed), Arc::clone(&stopped));
            async move {
                let view = match request["type"].as_str() {
                    Some("execute_code") => job_view(JOB, None, Some(("", 0))),
                    Some("get_job") if request["params"]["wait"] == 5.0 => {
                        stopped.notify_one();
                        job_view(JOB, Some(envelope(JOB, "cancelled", Value::Null, "")), None)
                    }
                    Some("get_job") => {
                        followed.notify_one();
                        held(&request).await;
                        job_view(JOB, None, Some(("", 0)))
                    }
                    Some("cancel_job") => job_view(JOB, None, None),
                    other => panic!("unexpected {other:?}"),
                };
                Some(ok(&request, view))
            }
        }
    })
    .await;
    let session = TestSession::new(&addon).await;

    let call = session
        .start_call("execute_code", json!({"code": "while True: pass"}))
        .await;
    followed.notified().await;
    call.cancel(Some("enough".into())).await.unwrap();
    stopped.notified().await;

    // The job is cancelled by its id on the other connection (the exec one is busy following
    // it), then waited for until it has stopped.
    let received = addon.received();
    let exec = received[0].connection;
    let after: Vec<&Received> = received
        .iter()
        .filter(|r| r.command() != "get_job" || r.connection != exec)
        .collect();
    let steps: Vec<(&str, bool)> = after
        .iter()
        .map(|r| (r.command(), r.connection == exec))
        .collect();
    assert_eq!(
        steps,
        [
            ("execute_code", true),
            ("cancel_job", false),
            ("get_job", false)
        ]
    );
    assert_eq!(after[1].params()["job_id"], JOB);
    assert_eq!(after[2].params()["job_id"], JOB);
}

/// A job that never finishes: every poll is held for its `wait` and finds it running.
async fn never_finishing() -> ScriptedAddon {
    ScriptedAddon::start(|request| async move {
        if request["type"] == "get_job" {
            held(&request).await;
        }
        Some(ok(&request, job_view(JOB, None, Some(("", 0)))))
    })
    .await
}

#[tokio::test]
async fn a_job_past_its_timeout_and_the_grace_is_stuck_and_a_blender_not_started_here_is_left_alone()
 {
    for restart_stuck in [false, true] {
        let addon = never_finishing().await;
        let session = TestSession::with_on_stuck_restart(&addon, restart_stuck).await;

        let result = session
            .call("execute_code", json!({"code": "render()", "timeout": 1}))
            .await;

        assert_eq!(result.is_error, Some(true));
        let text = text(&result);
        assert!(
            text.contains("did not stop within 1 s plus 5 s: it is stuck in a long C call"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "job {JOB} is still running: follow it with get_job or stop it with cancel_job"
            )),
            "{text}"
        );
        // Neither cancelled nor restarted: this session did not start that Blender
        // (`--on-stuck restart` applies only to one it started).
        assert!(
            addon
                .commands()
                .iter()
                .all(|c| c == "execute_code" || c == "get_job"),
            "{:?}",
            addon.commands()
        );
    }
}

#[tokio::test]
async fn async_mode_returns_the_job_at_once() {
    let addon = ScriptedAddon::start(|request| async move {
        Some(ok(&request, json!({"job_id": JOB, "state": "queued"})))
    })
    .await;
    let session = TestSession::new(&addon).await;

    let result = session
        .call("execute_code", json!({"code": "long()", "mode": "async"}))
        .await;

    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        result.structured_content.unwrap(),
        json!({"status": "queued", "job_id": JOB})
    );
    let received = addon.received();
    assert_eq!(addon.commands(), ["execute_code"]);
    assert_eq!(received[0].params()["execution_mode"], "async");
    assert!(received[0].params().get("wait").is_none());
}
