//! Benchmark (not a test): `bld-remote mcp --http` on loopback, driven by rmcp's own Streamable
//! HTTP client, against a running background Blender. Starts the HTTP server itself (so it knows
//! its pid and can read its RSS), then measures:
//! - latency: `tools/call execute_code` `x = 1` with one client, p50/p95/p99;
//! - the server's RSS idle, and per open MCP session (each with its own session handle);
//! - throughput with 5 clients calling `x = 1` (the shape of the stdio figure of bench_mcp);
//! - a mixed soak: N clients (50 by default), each with its own handle holding its own number,
//!   calling for S seconds a mix of code reading that number, code printing it and a control
//!   tool; every reply is checked, so a reply routed to the wrong client or namespace is counted
//!   as misrouted; the server's RSS is sampled once a second.
//!
//! Run by the benchmark suite (`./scripts/bench.sh`, bench/suite/); by hand:
//! `cargo run --release -p bld-remote --example bench_mcp_http -- --bin target/release/bld-remote --port 6688`

mod mcp_bench;

use mcp_bench::{Client, Res, call};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Options {
    bin: String,
    port: u16,
    calls: usize,
    clients: usize,
    seconds: f64,
    out: Option<String>,
}

/// The HTTP server under measurement: our child, its URL and the token it was given.
struct HttpServer {
    child: Child,
    url: String,
    token: String,
}

impl HttpServer {
    fn start(options: &Options) -> Res<HttpServer> {
        let token = random_token()?;
        let mut child = Command::new(&options.bin)
            .args(["mcp", "--http", "127.0.0.1:0", "--port"])
            .arg(options.port.to_string())
            .env("BLD_REMOTE_HTTP_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .ok_or("the HTTP server ended before it listened")??;
            if let Some((_, url)) = line.split_once("listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(HttpServer { child, url, token })
    }

    async fn client(&self) -> Res<Client> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .auth_header(self.token.clone());
        Ok(
            ().serve(StreamableHttpClientTransport::from_config(config))
                .await?,
        )
    }

    fn rss_mib(&self) -> f64 {
        rss_mib(self.child.id())
    }

    /// SIGTERM (the server drains and exits); its exit code.
    fn stop(mut self) -> Res<i32> {
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        Ok(self.child.wait()?.code().unwrap_or(-1))
    }
}

fn random_token() -> Res<String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Resident set size of `pid` from /proc (VmRSS), in MiB; 0 when unreadable.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() -> Res<()> {
    let options = parse_args()?;
    let (current, multi) = mcp_bench::runtimes()?;
    let server = HttpServer::start(&options)?;
    let idle = server.rss_mib();
    let latency = current.block_on(async {
        mcp_bench::measure_latency(server.client().await?, options.calls, "MCP HTTP").await
    })?;
    // 5 clients, as bench_mcp's stdio figure: here 5 sessions of one server.
    let concurrent = multi.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(server.client().await?);
        }
        mcp_bench::measure_concurrent(clients, 3.0, "MCP HTTP").await
    })?;
    let mixed = multi.block_on(measure_mixed(&server, &options, idle))?;
    let exit_code = server.stop()?;
    let report = json!({
        "benchmark": "mcp_http",
        "latency_ms": latency,
        "concurrent": concurrent,
        "mixed": mixed,
        "rss_mib": {"idle": idle},
        "exit_code": exit_code,
    });
    if let Some(out) = &options.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)?;
        println!("written to {out}");
    }
    Ok(())
}

fn parse_args() -> Res<Options> {
    let mut options = Options {
        bin: "target/release/bld-remote".into(),
        port: 6688,
        calls: 1000,
        clients: 50,
        seconds: 60.0,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bin" => options.bin = value()?,
            "--port" => options.port = value()?.parse()?,
            "--calls" => options.calls = value()?.parse()?,
            "--clients" => options.clients = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--out" => options.out = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(options)
}

/// What one client of the mixed soak counted.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    misrouted: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, err: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| err.to_string());
    }
}

/// One client of the mixed soak: its own handle holding `me = number`, then calls until the
/// deadline, each reply checked against `number`.
async fn mixed_client(client: Client, number: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let handle = match call(&client, "new_session", json!({})).await {
        Ok(made) => made["session"].as_str().unwrap_or_default().to_owned(),
        Err(err) => {
            tally.error(err);
            return tally;
        }
    };
    let mut step = 0u64;
    if let Err(err) = call(
        &client,
        "execute_code",
        json!({"code": format!("me = {number}"), "session": handle}),
    )
    .await
    {
        tally.error(err);
    }
    while Instant::now() < deadline {
        step += 1;
        let outcome = match step % 3 {
            0 => call(
                &client,
                "execute_code",
                json!({"code": "me", "session": handle}),
            )
            .await
            .map(|reply| reply["result"] == json!(number)),
            1 => call(
                &client,
                "execute_code",
                json!({"code": "print(me)", "session": handle}),
            )
            .await
            .map(|reply| reply["stdout"] == json!(format!("{number}\n"))),
            // A control tool: not routed to a namespace, so only its success is checked.
            _ => match call(&client, "check_connection_status", json!({})).await {
                Ok(status) if status["connected"] != json!(true) => {
                    Err(format!("not connected: {status}").into())
                }
                other => other.map(|_| true),
            },
        };
        match outcome {
            Ok(true) => tally.ok += 1,
            Ok(false) => tally.misrouted += 1,
            Err(err) => tally.error(err),
        }
    }
    let _ = client.cancel().await;
    tally
}

async fn measure_mixed(server: &HttpServer, options: &Options, idle: f64) -> Res<Value> {
    let mut clients = Vec::new();
    for _ in 0..options.clients {
        clients.push(server.client().await?);
    }
    // Every session open (and initialized), none with a handle yet: the cost of a session.
    let with_sessions = server.rss_mib();
    let per_session_kib = (with_sessions - idle) * 1024.0 / options.clients as f64;
    let pid = server.child.id();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                samples.push(rss_mib(pid));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            samples
        })
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(options.seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(number, client)| tokio::spawn(mixed_client(client, number, deadline)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await?;
        total.ok += tally.ok;
        total.errors += tally.errors;
        total.misrouted += tally.misrouted;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await?;
    let rate = total.ok as f64 / elapsed;
    let peak = samples.iter().copied().fold(0.0, f64::max);
    let (first, last) = (
        samples.first().copied().unwrap_or(0.0),
        samples.last().copied().unwrap_or(0.0),
    );
    println!(
        "{} MCP HTTP clients, own handles, mixed calls for {:.0} s: {rate:.0} calls/s, {} errors, {} misrouted; server RSS {first:.1} → {last:.1} MiB (peak {peak:.1}); idle {idle:.1} MiB, {per_session_kib:.0} KiB per open session",
        options.clients, options.seconds, total.errors, total.misrouted
    );
    if let Some(err) = &total.first_error {
        println!("first error: {err}");
    }
    Ok(json!({
        "clients": options.clients,
        "seconds": elapsed,
        "calls_per_second": rate,
        "calls": total.ok + total.misrouted,
        "errors": total.errors,
        "misrouted": total.misrouted,
        "first_error": total.first_error,
        "rss_mib": {"with_sessions": with_sessions, "start": first, "peak": peak, "end": last, "samples": samples},
        "per_session_kib": per_session_kib,
    }))
}
