//! `bld-remote demo`: the whole loop in one command. Starts a headless Blender (through
//! `bld-remote start`, on a free port, so it never touches a Blender already running), runs
//! code that builds a scene and returns a real result, shows an error and a stopped runaway
//! loop, times round trips, and stops Blender.

use crate::app::App;
use crate::cli::DemoArgs;
use crate::instances::Record;
use crate::style::Painter;
use crate::{exit, stopper};
use anyhow::{Context, Result, bail};
use bld_remote_client::Client;
use bld_remote_protocol::{Envelope, ExecuteCode};
use std::time::{Duration, Instant};

const BUILD_SCENE: &str = r#"import bpy
bpy.ops.mesh.primitive_monkey_add(location=(0, 0, 1))
monkey = bpy.context.active_object
monkey.name = "Suzanne"
print(f"added {monkey.name} with {len(monkey.data.vertices)} vertices")
{"objects": sorted(o.name for o in bpy.data.objects), "suzanne_location": monkey.location, "blender": bpy.app.version_string}"#;

const READ_SCENE: &str = r#"import bpy
{"objects": sorted(o.name for o in bpy.data.objects), "file": bpy.data.filepath or None, "blender": bpy.app.version_string}"#;

pub async fn run(app: &App, args: DemoArgs) -> Result<u8> {
    let paint = Painter::stdout();
    println!(
        "{}",
        paint.bold("bld-remote demo: Blender, driven from the command line")
    );
    if let Some((host, port)) = running_blender(app).await {
        println!("using the Blender already running on {host}:{port} (it is left running)");
        drive(&host, port, false, paint).await?;
        println!("{}", paint.ok("done: exec through bld-remote"));
        return Ok(exit::SUCCESS);
    }
    let record = start_blender(app, &args).await?;
    let result = drive(&record.host, record.port, true, paint).await;
    print!("stopping Blender… ");
    let outcome = stopper::stop(&record, Duration::from_secs(10)).await;
    app.registry.remove(record.port, record.pid);
    println!("{}", outcome.describe());
    result?;
    println!(
        "{}",
        paint.ok("done: start → exec → stop, all through bld-remote")
    );
    Ok(exit::SUCCESS)
}

/// A Blender that already answers (a recorded instance, or the addon on the default port).
async fn running_blender(app: &App) -> Option<(String, u16)> {
    let (host, port) = app.target(None, None).ok()?;
    let client = Client::connect(app.client_options(host.clone(), port))
        .await
        .ok()?;
    client.server().await.ok().map(|_| (host, port))
}

/// Runs `bld-remote start --background --detach --port 0 --json` (this same binary).
async fn start_blender(app: &App, args: &DemoArgs) -> Result<Record> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.args(["start", "--background", "--detach", "--port", "0", "--json"]);
    command.arg("--config").arg(&app.paths.config_file);
    if let Some(blender) = &args.blender {
        command.arg("--blender").arg(blender);
    }
    println!("$ bld-remote start --background --detach --port 0");
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .context("running bld-remote start")?;
    if !output.status.success() {
        bail!("bld-remote start failed ({})", output.status);
    }
    let record: Record =
        serde_json::from_slice(&output.stdout).context("reading the started instance")?;
    println!(
        "  Blender {} ready on {}:{} (pid {}) in {:.1} s",
        record.blender_version,
        record.host,
        record.port,
        record.pid,
        started.elapsed().as_secs_f64()
    );
    Ok(record)
}

async fn drive(host: &str, port: u16, modify_scene: bool, paint: Painter) -> Result<()> {
    let options = bld_remote_client::ClientOptions {
        host: host.to_owned(),
        ..bld_remote_client::ClientOptions::with_port(port)
    };
    let client = Client::connect(options).await?;

    // Someone else's Blender is only read from, never changed.
    let (title, code) = if modify_scene {
        ("add a monkey, return the scene", BUILD_SCENE)
    } else {
        ("return the scene", READ_SCENE)
    };
    println!("\n$ bld-remote exec '<{title}>'");
    let envelope = client.execute_code(code).await?;
    show(&envelope, paint)?;
    if !envelope.is_success() {
        bail!("the demo code failed: {:?}", envelope.error);
    }

    println!("\n$ bld-remote exec '1 / 0'");
    let envelope = client.execute_code("1 / 0").await?;
    show(&envelope, paint)?;

    println!("\n$ bld-remote exec --timeout 1 'while True: pass'");
    let mut runaway = ExecuteCode::new("while True:\n    pass");
    runaway.timeout = Some(1.0);
    let started = Instant::now();
    let envelope = client.execute(runaway).await?;
    show(&envelope, paint)?;
    println!(
        "  (stopped after {:.2} s; Blender still answers:",
        started.elapsed().as_secs_f64()
    );
    let pong = client.ping().await?;
    println!("   ping → {pong})");

    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        client.execute_code("x = 1").await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "\n200 round trips of `x = 1`: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        pick(0.50),
        pick(0.95),
        pick(0.99)
    );
    Ok(())
}

fn show(envelope: &Envelope, paint: Painter) -> Result<()> {
    for line in envelope.output.stdout.lines() {
        println!("  stdout: {line}");
    }
    if envelope.is_success() {
        let result = serde_json::to_string_pretty(&envelope.result)?;
        println!(
            "  result: {}",
            paint.ok(&result.replace('\n', "\n          "))
        );
    } else if let Some(error) = &envelope.error {
        let line = error
            .line()
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        println!("  {}: {error}{line}", paint.error(envelope.status.as_str()));
    }
    println!(
        "  {}",
        paint.dim(&format!("{:.2} ms in Blender", envelope.duration * 1000.0))
    );
    Ok(())
}
