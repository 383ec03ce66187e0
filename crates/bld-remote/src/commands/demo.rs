//! `bld-remote demo`: a real MCP session, the way an agent uses bld-remote. Runs
//! `bld-remote mcp --spawn --port 0` (this binary) under rmcp's MCP client: the server starts a
//! headless Blender on a free port (never touching a Blender already running), the demo builds
//! a small scene, shows structured results, an error and a runaway loop stopped by its
//! timeout, saves a preview PNG, times round trips, and ends the session, which stops Blender.

use crate::app::App;
use crate::cli::DemoArgs;
use crate::exit;
use crate::style::Painter;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::time::Instant;

const BUILD_SCENE: &str = r#"import bpy
for i, x in enumerate((-2.5, 0.0, 2.5)):
    bpy.ops.mesh.primitive_monkey_add(location=(x, 0, 1))
    bpy.context.active_object.name = f"Suzanne {i}"
bpy.data.objects["Cube"].scale = (3, 1, 0.2)
print(f"added 3 monkeys; {len(bpy.data.objects)} objects now")
{"objects": sorted(o.name for o in bpy.data.objects), "blender": bpy.app.version_string}"#;

type McpClient = rmcp::service::RunningService<rmcp::RoleClient, ()>;

pub async fn run(app: &App, args: DemoArgs) -> Result<u8> {
    let paint = Painter::stdout();
    println!(
        "{}",
        paint.bold("bld-remote demo: an MCP session driving a headless Blender")
    );
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.args(["mcp", "--spawn", "--port", "0"]);
    if let Some(config) = &app.paths.config_file {
        command.arg("--config").arg(config);
    }
    if let Some(blender) = &args.blender {
        command.env("BLENDER_PATH", blender);
    }
    command.stderr(std::process::Stdio::inherit());
    println!("$ bld-remote mcp --spawn   (MCP over stdio, rmcp client)");
    let client: McpClient =
        ().serve(TokioChildProcess::new(command)?)
            .await
            .context("starting the MCP session")?;
    let outcome = session(&client, &args, paint).await;
    client.cancel().await.ok(); // ends the session: the server stops the Blender it spawned
    outcome?;
    println!(
        "{}",
        paint.ok("done: the session ended and the Blender it started was stopped")
    );
    Ok(exit::SUCCESS)
}

async fn session(client: &McpClient, args: &DemoArgs, paint: Painter) -> Result<()> {
    let tools = client.list_all_tools().await?;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    println!("tools: {}", names.join(", "));

    let started = Instant::now();
    let status = call(client, "check_connection_status", json!({})).await?;
    let s = structured(&status);
    if s["connected"] != true {
        bail!("no Blender: {}", s["error"]);
    }
    println!(
        "\n→ check_connection_status: Blender {} ({}) on port {}, pid {} — started in {:.1} s",
        s["blender_version"].as_str().unwrap_or("?"),
        s["mode"].as_str().unwrap_or("?"),
        s["port"],
        s["pid"],
        started.elapsed().as_secs_f64()
    );

    println!("\n→ execute_code: add three monkeys, return the scene");
    show(
        &call(client, "execute_code", json!({"code": BUILD_SCENE})).await?,
        paint,
    )?;

    println!("\n→ execute_code: 1 / 0");
    show(
        &call(client, "execute_code", json!({"code": "1 / 0"})).await?,
        paint,
    )?;

    println!("\n→ execute_code: while True: pass   (timeout 1 s)");
    show(
        &call(
            client,
            "execute_code",
            json!({"code": "while True:\n    pass", "timeout": 1}),
        )
        .await?,
        paint,
    )?;

    let scene = call(
        client,
        "get_scene_info",
        json!({"fields": ["name", "type"]}),
    )
    .await?;
    let objects = structured(&scene)["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!(
        "\n→ get_scene_info: {} objects: {}",
        objects.len(),
        json!(objects)
    );

    let shot = call(client, "get_viewport_screenshot", json!({"max_size": 640})).await?;
    let image = shot
        .content
        .iter()
        .find_map(|c| c.as_image())
        .context("no image in the screenshot reply")?;
    let png = base64::engine::general_purpose::STANDARD.decode(&image.data)?;
    std::fs::write(&args.preview, &png)
        .with_context(|| format!("writing {}", args.preview.display()))?;
    println!(
        "\n→ get_viewport_screenshot: {} bytes of PNG written to {}",
        png.len(),
        args.preview.display()
    );

    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        call(client, "execute_code", json!({"code": "x = 1"})).await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "\n200 MCP tools/call execute_code round trips: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        pick(0.5),
        pick(0.95),
        pick(0.99)
    );
    Ok(())
}

async fn call(client: &McpClient, name: &'static str, arguments: Value) -> Result<CallToolResult> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    Ok(client
        .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
        .await?)
}

fn structured(result: &CallToolResult) -> Value {
    result.structured_content.clone().unwrap_or(Value::Null)
}

fn show(result: &CallToolResult, paint: Painter) -> Result<()> {
    let s = structured(result);
    let flag = if result.is_error == Some(true) {
        paint.error("isError")
    } else {
        paint.ok("ok")
    };
    println!(
        "  {flag} status={} duration={:.2} ms",
        s["status"].as_str().unwrap_or("?"),
        s["duration"].as_f64().unwrap_or(0.0) * 1000.0
    );
    for line in s["stdout"].as_str().unwrap_or("").lines() {
        println!("  stdout: {line}");
    }
    if !s["result"].is_null() {
        println!("  result: {}", s["result"]);
    }
    if let Some(error) = s["error"].as_object() {
        println!(
            "  error: {} {}",
            error.get("type").and_then(Value::as_str).unwrap_or(""),
            error.get("message").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(())
}
