//! The pool of headless Blenders (`bld-remote mcp --pool N`), measured through rmcp's client
//! over stdio: the lease of a warm worker (a new session's first call when a started worker is
//! free), a cold start (the first call when none is started), the throughput of a CPU-bound
//! snippet with 1..=N sessions each on its own worker, and the RSS of idle workers and of the
//! server. Prints one JSON object, or writes it to `--out` (bench/suite/rust_clients.py runs it).
//!
//!   cargo run --release --example bench_pool -- --bin target/release/bld-remote --max 4

// Only `call` and the types are used here.
#[allow(dead_code)]
mod mcp_bench;

use mcp_bench::{Client, Res, call};
use rmcp::ServiceExt;
use rmcp::model::ReadResourceRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// CPU-bound Python of about a tenth of a second on these machines.
const CPU_BOUND: &str = "s = 0\nfor i in range(1_500_000): s += i * i\ns";

struct Options {
    bin: String,
    max: usize,
    leases: usize,
    colds: usize,
    calls: usize,
    /// Where to write the JSON report (else stdout).
    out: Option<String>,
}

fn options() -> Res<Options> {
    let mut options = Options {
        bin: "target/release/bld-remote".into(),
        max: 4,
        leases: 10,
        colds: 3,
        calls: 8,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bin" => options.bin = value,
            "--max" => options.max = value.parse()?,
            "--leases" => options.leases = value.parse()?,
            "--colds" => options.colds = value.parse()?,
            "--calls" => options.calls = value.parse()?,
            "--out" => options.out = Some(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(options)
}

async fn server(bin: &str, args: &[&str]) -> Res<(Client, u32)> {
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("mcp")
        .args(args)
        .stderr(std::process::Stdio::null());
    let transport = TokioChildProcess::new(command)?;
    let pid = transport.id().ok_or("no server pid")?;
    Ok((().serve(transport).await?, pid))
}

async fn pool(client: &Client) -> Res<Value> {
    let read = client
        .read_resource(ReadResourceRequestParams::new("blender://pool"))
        .await?;
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        _ => return Err("blender://pool is not text".into()),
    };
    Ok(serde_json::from_str::<Value>(&text)?["pool"].clone())
}

async fn wait_pool(client: &Client, check: impl Fn(&Value) -> bool) -> Res<Value> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status = pool(client).await?;
        if check(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("pool never got there: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn session(client: &Client) -> Res<String> {
    Ok(call(client, "new_session", json!({})).await?["session"]
        .as_str()
        .ok_or("no session")?
        .to_owned())
}

async fn end(client: &Client, session: &str) -> Res<()> {
    call(
        client,
        "reset_session",
        json!({"session": session, "end": true}),
    )
    .await?;
    Ok(())
}

/// Ends a server's session and waits (bounded) for the server to exit, so that it stops its
/// workers itself before this benchmark goes on (or exits).
async fn finish(client: Client, pid: u32) -> Res<()> {
    client.cancel().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if status
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z'))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1e6).round() / 1e3
}

/// Samples in milliseconds: their median, and each as measured.
fn summary(samples: Vec<f64>) -> Value {
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    json!({"median_ms": sorted[sorted.len() / 2], "samples_ms": samples})
}

/// A session's first call (`1`), timed: its lease of a worker, and the call.
async fn first_call_ms(client: &Client, handle: &str) -> Res<f64> {
    let started = Instant::now();
    call(
        client,
        "execute_code",
        json!({"code": "1", "session": handle}),
    )
    .await?;
    Ok(ms(started.elapsed()))
}

fn rss_kib(pid: u64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A new session's first call while a started worker is free (the worker is then reset and
/// freed again before the next sample).
async fn warm_leases(options: &Options) -> Res<Value> {
    let (client, pid) = server(&options.bin, &["--pool", "2", "--pool-warm", "1"]).await?;
    let mut samples = Vec::new();
    for _ in 0..options.leases {
        // Until a started worker is free (not still being reset after the last sample).
        wait_pool(&client, |p| {
            p["leased"] == 0
                && p["workers"].as_array().is_some_and(|workers| {
                    workers
                        .iter()
                        .any(|w| w["state"] == "free" && w["running"] == true)
                })
        })
        .await?;
        let handle = session(&client).await?;
        samples.push(first_call_ms(&client, &handle).await?);
        end(&client, &handle).await?;
    }
    finish(client, pid).await?;
    Ok(summary(samples))
}

/// The first call of a session when no worker is started: a Blender started and ready.
async fn cold_starts(options: &Options) -> Res<Value> {
    let mut samples = Vec::new();
    for _ in 0..options.colds {
        let (client, pid) = server(&options.bin, &["--pool", "1"]).await?;
        let handle = session(&client).await?;
        samples.push(first_call_ms(&client, &handle).await?);
        finish(client, pid).await?;
    }
    Ok(summary(samples))
}

/// `calls` CPU-bound snippets per session, with 1..=max sessions in parallel, each on a worker
/// of its own (started before timing); calls per second and the speed-up over one.
async fn scaling(options: &Options) -> Res<(Value, Value)> {
    let max = options.max.to_string();
    let (client, server_pid) = server(&options.bin, &["--pool", &max, "--pool-warm", &max]).await?;
    let client = std::sync::Arc::new(client);
    wait_pool(&client, |p| {
        p["running"].as_u64() == Some(options.max as u64)
    })
    .await?;
    let mut handles = Vec::new();
    for _ in 0..options.max {
        let handle = session(&client).await?;
        call(
            &client,
            "execute_code",
            json!({"code": "1", "session": handle}),
        )
        .await?;
        handles.push(handle);
    }
    let mut rows = Vec::new();
    let mut one = None;
    for workers in 1..=options.max {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for handle in &handles[..workers] {
            let arguments = json!({"code": CPU_BOUND, "session": handle, "timeout": 120});
            let (client, calls) = (std::sync::Arc::clone(&client), options.calls);
            tasks.spawn(async move {
                for _ in 0..calls {
                    call(&client, "execute_code", arguments.clone()).await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            });
        }
        for done in tasks.join_all().await {
            done?;
        }
        let rate = (workers * options.calls) as f64 / started.elapsed().as_secs_f64();
        let base = *one.get_or_insert(rate);
        rows.push(
            json!({"workers": workers, "calls_per_s": (rate * 100.0).round() / 100.0,
            "speedup": (rate / base * 100.0).round() / 100.0}),
        );
    }
    // Idle now: RSS of each worker and of the server.
    let status = pool(&client).await?;
    let pids: Vec<u64> = status["workers"]
        .as_array()
        .ok_or("no workers")?
        .iter()
        .filter_map(|worker| worker["pid"].as_u64())
        .collect();
    let workers: Vec<u64> = pids.iter().copied().filter_map(rss_kib).collect();
    let memory = json!({
        // For the test suite to check that none is left running once the server ended.
        "worker_pids": pids,
        "worker_rss_mib": workers.iter().map(|kib| (*kib as f64 / 102.4).round() / 10.0).collect::<Vec<_>>(),
        "server_rss_mib": rss_kib(u64::from(server_pid)).map(|kib| (kib as f64 / 102.4).round() / 10.0),
    });
    drop(handles);
    if let Ok(client) = std::sync::Arc::try_unwrap(client) {
        finish(client, server_pid).await?;
    }
    Ok((Value::Array(rows), memory))
}

/// A leased worker SIGKILLed in the middle of a call: the time from the kill to that call's
/// tool error (`samples` times, each on a fresh worker of a one-slot pool).
async fn kill_to_error(options: &Options, samples: usize) -> Res<Value> {
    let (client, pid) = server(&options.bin, &["--pool", "1"]).await?;
    let client = std::sync::Arc::new(client);
    let mut times = Vec::new();
    for _ in 0..samples {
        let handle = session(&client).await?;
        let pid = call(
            &client,
            "execute_code",
            json!({"code": "import os\nos.getpid()", "session": handle}),
        )
        .await?["result"]
            .as_i64()
            .ok_or("no pid")?;
        let marker = std::env::temp_dir().join(format!("bench-pool-loop-{pid}"));
        let _ = std::fs::remove_file(&marker);
        let code = format!(
            "open({:?}, 'w').close()\nwhile True: pass",
            marker.display().to_string()
        );
        let looping = {
            let client = std::sync::Arc::clone(&client);
            let arguments = json!({"code": code, "session": handle, "timeout": 120});
            tokio::spawn(async move {
                let arguments = arguments.as_object().cloned().unwrap_or_default();
                let result = client
                    .call_tool(
                        rmcp::model::CallToolRequestParams::new("execute_code")
                            .with_arguments(arguments),
                    )
                    .await;
                (Instant::now(), result.map(|r| r.is_error == Some(true)))
            })
        };
        // Until the loop runs in that worker (it wrote the marker just before).
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            if Instant::now() > deadline {
                return Err("the loop never ran".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = std::fs::remove_file(&marker);
        // SAFETY: kill(2) on a worker the pool of this benchmark's server started.
        let killed_at = Instant::now();
        if unsafe { libc::kill(pid as i32, libc::SIGKILL) } != 0 {
            return Err("kill failed".into());
        }
        let (answered_at, was_error) = looping.await?;
        if !was_error? {
            return Err("the killed call did not fail".into());
        }
        times.push(ms(answered_at.duration_since(killed_at)));
        end(&client, &handle).await?;
    }
    if let Ok(client) = std::sync::Arc::try_unwrap(client) {
        finish(client, pid).await?;
    }
    Ok(summary(times))
}

fn main() -> Res<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let lease = warm_leases(&options).await?;
        let cold = cold_starts(&options).await?;
        let killed = kill_to_error(&options, options.colds).await?;
        let (throughput, memory) = scaling(&options).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(json!({
            "warm_lease_first_call": lease,
            "cold_start_first_call": cold,
            "kill_to_error": killed,
            "cpu_bound_scaling": throughput,
            "memory": memory,
            "cpu_bound_snippet": CPU_BOUND,
            "calls_per_session": options.calls,
        }))
    })?;
    let text = serde_json::to_string_pretty(&report)?;
    match &options.out {
        Some(path) => std::fs::write(path, text)?,
        None => println!("{text}"),
    }
    Ok(())
}
