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
    let setup = current.block_on(measure_setup(args.port, args.connects))?;
    multi.block_on(report(&args, hello, latency, setup))
}

/// Opening a connection, p50 in milliseconds: the TCP connect alone, one `hello` and one
/// trivial call round trip on an open connection, and a new client's first trivial call (TCP,
/// the listener's owner checked, the handshake of protocol §1a, the call). The setup the
/// handshake replaced cost TCP, a `hello` carrying the token, then the call; what the handshake
/// adds is `first_call - tcp - hello - call`.
struct Setup {
    tcp: f64,
    hello: f64,
    call: f64,
    first_call: f64,
    connects: usize,
}

async fn measure_setup(port: u16, connects: usize) -> Res<Setup> {
    let p50 = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let (mut tcp, mut hello, mut call, mut first_call) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let open = Client::connect(ClientOptions::with_port(port)).await?;
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1000.0;
    for _ in 0..connects {
        let started = Instant::now();
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.push(ms(started));
        drop(stream);
        let started = Instant::now();
        open.hello().await?;
        hello.push(ms(started));
        let started = Instant::now();
        open.execute_code(CODE).await?;
        call.push(ms(started));
        let started = Instant::now();
        let client = Client::new(ClientOptions::with_port(port));
        client.execute_code(CODE).await?;
        first_call.push(ms(started));
    }
    Ok(Setup {
        tcp: p50(tcp),
        hello: p50(hello),
        call: p50(call),
        first_call: p50(first_call),
        connects,
    })
}

struct Args {
    port: u16,
    out: Option<String>,
    seconds: f64,
    calls: usize,
    connects: usize,
    clients: Vec<usize>,
}

fn parse_args() -> Res<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        port: 6688,
        out: None,
        seconds: 3.0,
        calls: 2000,
        connects: 200,
        clients: vec![1, 5, 50],
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => parsed.port = value()?.parse()?,
            "--out" => parsed.out = Some(value()?),
            "--seconds" => parsed.seconds = value()?.parse()?,
            "--calls" => parsed.calls = value()?.parse()?,
            "--connects" => parsed.connects = value()?.parse()?,
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
    setup: Setup,
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
    println!(
        "a new client's first call, p50 of {}: {:.3} ms; TCP {:.3} ms, hello {:.3} ms, call {:.3} ms on an open connection",
        setup.connects, setup.first_call, setup.tcp, setup.hello, setup.call
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
        "connect_ms": {"tcp_p50": setup.tcp, "first_call_p50": setup.first_call,
            "hello_round_trip_p50": setup.hello, "call_round_trip_p50": setup.call,
            "connects": setup.connects,
            "handshake_adds_p50": setup.first_call - setup.tcp - setup.hello - setup.call},
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
