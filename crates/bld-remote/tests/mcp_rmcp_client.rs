//! `bld-remote mcp` driven by rmcp's own client (the Rust SDK) over stdio, against real Blender:
//! the core cases (the Python SDK tests in tests/e2e/test_mcp_server.py cover every tool).

mod common;

use common::*;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ErrorCode};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

async fn connect(env: &Env, port: u16) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["mcp", "--port", &port.to_string()])
        .stderr(std::process::Stdio::null());
    command.envs(env.vars.iter().map(|(k, v)| (k, v)));
    let transport = TokioChildProcess::new(command).unwrap();
    ().serve(transport).await.unwrap()
}

fn call(name: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    assert!(text.contains("run `bld-remote start`"), "{text}");
    client.cancel().await.unwrap();
}
