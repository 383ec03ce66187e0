//! Benchmark (not a test) of the Rust client against a running background Blender:
//! trivial `execute_code` round-trip latency (p50/p95/p99) on one connection, and throughput
//! with 1, 5 and 50 concurrent clients (one connection each). Prints a table and writes JSON.
//!
//! `bench/bench_rust_client.sh` starts the Blender and runs this; by hand:
//! `cargo run --release -p bld-remote-client --example bench -- --port 6688 [--out FILE]`

use bld_remote_client::{Client, ClientOptions};
use std::time::{Duration, Instant};

const CODE: &str = "x = 1";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    // Latency on a single-threaded runtime (what the CLI uses: no cross-thread wake-ups);
    // throughput on a 2-worker runtime, so concurrent clients can use both cores.
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (port, out, seconds) = parse_args()?;
    let (hello, latency) = current.block_on(measure_latency(port))?;
    multi.block_on(report(port, out, seconds, hello, latency))
}

fn parse_args() -> Res<(u16, Option<String>, f64)> {
    let mut args = std::env::args().skip(1);
    let mut port = 6688u16;
    let mut out = None;
    let mut seconds = 3.0f64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--out" => out = args.next(),
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok((port, out, seconds))
}

async fn measure_latency(port: u16) -> Res<(bld_remote_client::protocol::Hello, Latency)> {
    let client = Client::connect(ClientOptions::with_port(port)).await?;
    let hello = client.server().await?;
    for _ in 0..200 {
        client.execute_code(CODE).await?; // warm-up
    }
    Ok((hello, latency(&client, 2000).await?))
}

async fn report(
    port: u16,
    out: Option<String>,
    seconds: f64,
    hello: bld_remote_client::protocol::Hello,
    latency: Latency,
) -> Res<()> {
    println!(
        "bld-remote Rust client → Blender {} ({}), `{CODE}`",
        hello.blender_version, hello.mode
    );
    println!(
        "latency, 1 connection, 2000 calls: p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        latency.p50, latency.p95, latency.p99, latency.max
    );
    let mut throughput = Vec::new();
    for clients in [1usize, 5, 50] {
        let (rate, errors, p50) =
            run_concurrent(port, clients, Duration::from_secs_f64(seconds)).await?;
        println!(
            "throughput, {clients:>2} clients: {rate:>8.0} req/s  p50 {p50:.3} ms  errors {errors}"
        );
        throughput.push(serde_json::json!({"clients": clients, "requests_per_second": rate, "errors": errors, "p50_ms": p50}));
    }
    let report = serde_json::json!({
        "benchmark": "rust_client",
        "blender_version": hello.blender_version,
        "mode": hello.mode,
        "code": CODE,
        "latency_ms": {"p50": latency.p50, "p95": latency.p95, "p99": latency.p99, "max": latency.max, "calls": 2000},
        "throughput": throughput,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
    });
    if let Some(out) = out {
        std::fs::write(&out, serde_json::to_vec_pretty(&report)?)?;
        println!("written to {out}");
    }
    Ok(())
}

struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

async fn latency(client: &Client, calls: usize) -> Result<Latency, Box<dyn std::error::Error>> {
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let envelope = client.execute_code(CODE).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(envelope.is_success());
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok(Latency {
        p50: pick(0.50),
        p95: pick(0.95),
        p99: pick(0.99),
        max: *samples.last().unwrap(),
    })
}

/// `clients` connections each calling in a loop for `length`; requests per second overall.
async fn run_concurrent(
    port: u16,
    clients: usize,
    length: Duration,
) -> Result<(f64, u64, f64), Box<dyn std::error::Error>> {
    let mut connected = Vec::new();
    for _ in 0..clients {
        connected.push(Client::connect(ClientOptions::with_port(port)).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = connected
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                let (mut ok, mut errors, mut samples) = (0u64, 0u64, Vec::new());
                while started.elapsed() < length {
                    let t = Instant::now();
                    match client.execute_code(CODE).await {
                        Ok(envelope) if envelope.is_success() => ok += 1,
                        _ => errors += 1,
                    }
                    samples.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (ok, errors, samples)
            })
        })
        .collect();
    let (mut ok, mut errors, mut samples) = (0, 0, Vec::new());
    for task in tasks {
        let (o, e, s) = task.await?;
        ok += o;
        errors += e;
        samples.extend(s);
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    let p50 = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    Ok((ok as f64 / elapsed, errors, p50))
}
