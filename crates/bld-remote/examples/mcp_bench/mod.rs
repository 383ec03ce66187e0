//! What the MCP benchmarks (bench_mcp over stdio, bench_mcp_http over Streamable HTTP) measure
//! the same way, whatever the transport: a tool call, the trivial-call latency of one client and
//! the throughput of several. Each example connects its clients its own way and hands them here.
//! (A folder without main.rs: cargo does not build it as an example of its own.)

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
pub type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// Latency on a single-threaded runtime (no cross-thread wake-ups in the measuring client, the
/// same for every server measured); the concurrent phases on two workers.
pub fn runtimes() -> Res<(tokio::runtime::Runtime, tokio::runtime::Runtime)> {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok((current, multi))
}

/// A tool call's structured result (null when it has none); a tool error is an error.
pub async fn call(client: &Client, tool: &'static str, arguments: Value) -> Res<Value> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await?;
    if result.is_error == Some(true) {
        return Err(format!("tool error: {:?}", result.content).into());
    }
    Ok(result.structured_content.unwrap_or(Value::Null))
}

async fn trivial(client: &Client) -> Res<Value> {
    call(client, "execute_code", json!({"code": "x = 1"})).await
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `execute_code` `x = 1` on one client, after a warm-up: {p50, p95, p99, calls} in ms. Ends
/// the client.
pub async fn measure_latency(client: Client, calls: usize, path: &str) -> Res<Value> {
    for _ in 0..calls.min(100) {
        trivial(&client).await?;
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        trivial(&client).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let (p50, p95, p99) = (
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
    );
    println!(
        "{path}, execute_code `x = 1`, 1 client, {calls} calls: p50 {p50:.3} ms  p95 {p95:.3} ms  p99 {p99:.3} ms"
    );
    client.cancel().await?;
    Ok(json!({"p50": p50, "p95": p95, "p99": p99, "calls": calls}))
}

/// The clients calling `x = 1` in a loop for `seconds`: {clients, calls_per_second, errors}.
/// Ends the clients.
pub async fn measure_concurrent(clients: Vec<Client>, seconds: f64, path: &str) -> Res<Value> {
    let count = clients.len();
    let length = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (0u64, 0u64);
            while started.elapsed() < length {
                match trivial(&client).await {
                    Ok(_) => ok += 1,
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
    println!("{count} concurrent {path} clients, `x = 1`: {rate:.0} calls/s, {errors} errors");
    Ok(json!({"clients": count, "calls_per_second": rate, "errors": errors}))
}
