//! Benchmark (not a test) of the Rust client against a running background Blender:
//! trivial `execute_code` round-trip latency (p50/p95/p99) on one connection, and throughput
//! with 1, 5 and 50 concurrent clients (one connection each). Prints a table and writes JSON.
//!
//! The benchmark suite (`./scripts/bench.sh`, bench/suite/) starts the Blender and runs this; by hand:
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
    let args = parse_args()?;
    let (hello, latency) = current.block_on(measure_latency(args.port, args.calls))?;
    multi.block_on(report(&args, hello, latency))
}

struct Args {
    port: u16,
    out: Option<String>,
    seconds: f64,
    calls: usize,
    clients: Vec<usize>,
}

fn parse_args() -> Res<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        port: 6688,
        out: None,
        seconds: 3.0,
        calls: 2000,
        clients: vec![1, 5, 50],
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => parsed.port = value()?.parse()?,
            "--out" => parsed.out = Some(value()?),
            "--seconds" => parsed.seconds = value()?.parse()?,
            "--calls" => parsed.calls = value()?.parse()?,
            // Comma-separated client counts for the throughput runs; empty for none.
            "--clients" => {
                parsed.clients = value()?
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(parsed)
}

async fn measure_latency(
    port: u16,
    calls: usize,
) -> Res<(bld_remote_client::protocol::Hello, Latency)> {
    let client = Client::connect(ClientOptions::with_port(port)).await?;
    let hello = client.server().await?;
    for _ in 0..200 {
        client.execute_code(CODE).await?; // warm-up
    }
    Ok((hello, latency(&client, calls).await?))
}

async fn report(
    args: &Args,
    hello: bld_remote_client::protocol::Hello,
    latency: Latency,
) -> Res<()> {
    let calls = args.calls;
    println!(
        "bld-remote Rust client → Blender {} ({}), `{CODE}`",
        hello.blender_version, hello.mode
    );
    println!(
        "latency, 1 connection, {calls} calls: p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        latency.p50, latency.p95, latency.p99, latency.max
    );
    let mut throughput = Vec::new();
    for &clients in &args.clients {
        let (rate, errors, p50, p99) =
            run_concurrent(args.port, clients, Duration::from_secs_f64(args.seconds)).await?;
        println!(
            "throughput, {clients:>2} clients: {rate:>8.0} req/s  p50 {p50:.3} ms  p99 {p99:.3} ms  errors {errors}"
        );
        throughput.push(serde_json::json!({"clients": clients, "requests_per_second": rate, "errors": errors, "p50_ms": p50, "p99_ms": p99}));
    }
    let report = serde_json::json!({
        "benchmark": "rust_client",
        "blender_version": hello.blender_version,
        "mode": hello.mode,
        "code": CODE,
        "latency_ms": {"p50": latency.p50, "p95": latency.p95, "p99": latency.p99, "max": latency.max, "calls": calls},
        "throughput": throughput,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
    });
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)?;
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

/// `clients` connections each calling in a loop for `length`: requests per second overall,
/// errors, p50 and p99 in milliseconds.
async fn run_concurrent(
    port: u16,
    clients: usize,
    length: Duration,
) -> Result<(f64, u64, f64, f64), Box<dyn std::error::Error>> {
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
    let pick = |q: f64| {
        samples
            .get(((samples.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok((ok as f64 / elapsed, errors, pick(0.5), pick(0.99)))
}
