//! Benchmark (not a test): MCP `tools/call execute_code` round trips through `bld-remote mcp`
//! over stdio (rmcp's client), against a running background Blender: p50/p95/p99 with one MCP
//! client, then throughput with 5 concurrent MCP clients (5 `bld-remote mcp` processes).
//!
//! Run by the benchmark suite (`./scripts/bench.sh`, bench/suite/); by hand:
//! `cargo run --release -p bld-remote --example bench_mcp -- --bin target/release/bld-remote --port 6688`
//! or, for another stdio MCP server with an `execute_code` tool taking `code`:
//! `… --example bench_mcp -- --calls 100 -- python -m blender_remote.mcp_server --blender-port 6688`

mod mcp_bench;

use mcp_bench::{Client, Res};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;

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

fn main() -> Res<()> {
    let (current, multi) = mcp_bench::runtimes()?;
    let (server, calls, out) = parse_args()?;
    let latency = current.block_on(async {
        mcp_bench::measure_latency(connect(&server).await?, calls, "MCP stdio").await
    })?;
    // 5 clients: 5 `bld-remote mcp` processes.
    let concurrent = multi.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(connect(&server).await?);
        }
        mcp_bench::measure_concurrent(clients, 3.0, "MCP stdio").await
    })?;
    if let Some(out) = out {
        let report = serde_json::json!({"benchmark": "mcp_execute_code", "latency_ms": latency,
            "concurrent": concurrent});
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
