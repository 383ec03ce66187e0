//! Benchmark (not a test): MCP `tools/call execute_code` round trips through `bld-remote mcp`
//! over stdio (rmcp's client), against a running background Blender: p50/p95/p99 with one MCP
//! client, then throughput with 5 concurrent MCP clients (5 `bld-remote mcp` processes).
//!
//! Run by the benchmark suite (`./scripts/bench.sh`, bench/suite/); by hand:
//! `cargo run --release -p bld-remote --example bench_mcp -- --bin target/release/bld-remote --port 6688`
//! or, for another stdio MCP server with an `execute_code` tool taking `code`:
//! `… --example bench_mcp -- --calls 100 -- python -m blender_remote.mcp_server --blender-port 6688`

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;
type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// The MCP server to measure: `bld-remote mcp --port P` by default, or any stdio MCP server
/// given after `--` (so another bridge's server is measured by this same client).
#[derive(Clone)]
struct Server {
    program: String,
    args: Vec<String>,
}

async fn connect(server: &Server) -> Res<Client> {
    let mut command = tokio::process::Command::new(&server.program);
    command
        .args(&server.args)
        .stderr(std::process::Stdio::null());
    Ok(().serve(TokioChildProcess::new(command)?).await?)
}

async fn call(client: &Client) -> Res<()> {
    let args = serde_json::json!({"code": "x = 1"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let result = client
        .call_tool(CallToolRequestParams::new("execute_code").with_arguments(args))
        .await?;
    if result.is_error == Some(true) {
        return Err(format!("tool error: {:?}", result.content).into());
    }
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Res<()> {
    // Latency on a single-threaded runtime (no cross-thread wake-ups in the client, the same
    // for every server measured); the concurrent phase on two workers.
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (server, calls, out) = parse_args()?;
    let (p50, p95, p99) = current.block_on(measure_latency(&server, calls))?;
    let (rate, errors) = multi.block_on(measure_concurrent(&server))?;
    if let Some(out) = out {
        let report = serde_json::json!({"benchmark": "mcp_execute_code", "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "calls": calls},
            "concurrent": {"clients": 5, "calls_per_second": rate, "errors": errors}});
        std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
        println!("written to {out}");
    }
    Ok(())
}

fn parse_args() -> Res<(Server, usize, Option<String>)> {
    let mut args = std::env::args().skip(1);
    let (mut bin, mut port, mut out) = ("target/release/bld-remote".to_owned(), 6688u16, None);
    let mut calls = 1000usize;
    let mut other_server = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin" => bin = args.next().ok_or("--bin needs a value")?,
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--out" => out = args.next(),
            "--calls" => calls = args.next().ok_or("--calls needs a value")?.parse()?,
            "--" => {
                let rest: Vec<String> = args.by_ref().collect();
                let (program, server_args) = rest.split_first().ok_or("-- needs a command")?;
                other_server = Some(Server {
                    program: program.clone(),
                    args: server_args.to_vec(),
                });
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let server = other_server.unwrap_or(Server {
        program: bin,
        args: vec!["mcp".into(), "--port".into(), port.to_string()],
    });
    Ok((server, calls, out))
}

async fn measure_latency(server: &Server, calls: usize) -> Res<(f64, f64, f64)> {
    let client = connect(server).await?;
    for _ in 0..calls.min(100) {
        call(&client).await?;
    }
    let mut samples = Vec::new();
    for _ in 0..calls {
        let started = Instant::now();
        call(&client).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let (p50, p95, p99) = (
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
    );
    println!(
        "MCP tools/call execute_code `x = 1`, 1 client, {calls} calls: p50 {p50:.3} ms  p95 {p95:.3} ms  p99 {p99:.3} ms"
    );
    client.cancel().await?;
    Ok((p50, p95, p99))
}

async fn measure_concurrent(server: &Server) -> Res<(f64, u64)> {
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect(server).await?);
    }
    let length = Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            while started.elapsed() < length {
                match call(&client).await {
                    Ok(()) => ok += 1,
                    Err(_) => errors += 1,
                }
            }
            let _ = client.cancel().await;
            (ok, errors)
        }));
    }
    let (mut ok, mut errors) = (0, 0);
    for task in tasks {
        let (o, e) = task.await?;
        ok += o;
        errors += e;
    }
    let rate = ok as f64 / started.elapsed().as_secs_f64();
    println!("5 concurrent MCP clients: {rate:.0} calls/s, {errors} errors");
    Ok((rate, errors))
}
