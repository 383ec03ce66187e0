//! `bld-remote`: runs Blender for LLM agents. See `bld-remote --help`.

mod app;
mod blender;
mod cli;
mod commands;
mod discovery;
mod embedded_addon;
mod exit;
mod exit_report;
mod instances;
mod launcher;
mod mcp;
mod port_holder;
mod process;
mod settings;
mod signals;
mod stopper;
mod style;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    // One thread: the CLI waits on one Blender at a time, and a single-threaded runtime saves
    // the cross-thread wake-ups of every reply (measured: p50 0.31 → 0.2x ms per round trip).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("{} {err:#}", style::Painter::stderr().error("error:"));
            ExitCode::from(exit::code_for(&err))
        }
    }
}

/// Logs go to stderr, always: stdout belongs to command output (and to the MCP protocol).
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
