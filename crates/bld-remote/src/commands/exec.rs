//! `bld-remote exec`: run code, print what it produced for a person (or the envelope as JSON).

use crate::app::App;
use crate::cli::{ExecArgs, ExecMode};
use crate::exit;
use crate::style::{self, Painter};
use anyhow::{Context, Result};
use bld_remote_client::Client;
use bld_remote_protocol::{Envelope, ExecStatus, ExecuteCode};
use std::io::{Read, Write};

pub async fn run(app: &App, args: ExecArgs) -> Result<u8> {
    let code = read_code(&args)?;
    let (host, port) = app.target(args.target.port, args.target.host.clone())?;
    let client = Client::new(app.client_options(host, port));
    let mut params = ExecuteCode::new(code);
    params.timeout = args.timeout.or(app.config.timeout);
    if args.mode == ExecMode::Async {
        let submitted = client.submit(params).await?;
        if args.json {
            println!("{}", serde_json::to_string(&submitted)?);
        } else {
            println!("{}", submitted.job_id);
        }
        return Ok(exit::SUCCESS);
    }
    let envelope = client.execute(params).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&envelope)?);
    } else {
        print_human(&envelope)?;
    }
    Ok(match envelope.status {
        ExecStatus::Success => exit::SUCCESS,
        ExecStatus::Timeout => exit::TIMEOUT,
        ExecStatus::Error | ExecStatus::Cancelled => exit::FAILURE,
    })
}

fn read_code(args: &ExecArgs) -> Result<String> {
    if let Some(file) = &args.file {
        return std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()));
    }
    match args.code.as_deref() {
        Some("-") => {
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .context("reading code from stdin")?;
            Ok(code)
        }
        Some(code) => Ok(code.to_owned()),
        None => unreachable!("clap requires code or --file"),
    }
}

/// The code's own output on the matching streams, the result on stdout, everything about a
/// failure on stderr.
fn print_human(envelope: &Envelope) -> Result<()> {
    let out = Painter::stdout();
    let err = Painter::stderr();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    stdout.write_all(envelope.output.stdout.as_bytes())?;
    stdout.flush()?;
    stderr.write_all(envelope.output.stderr.as_bytes())?;
    for record in &envelope.output.logs {
        writeln!(stderr, "{}", err.dim(&record.to_string()))?;
    }
    if envelope.is_success() {
        if !envelope.result.is_null() {
            writeln!(
                stdout,
                "{}",
                out.ok(&serde_json::to_string_pretty(&envelope.result)?)
            )?;
        }
    } else {
        if let Some(traceback) = &envelope.traceback {
            write!(stderr, "{}", err.dim(traceback))?;
            if !traceback.ends_with('\n') {
                writeln!(stderr)?;
            }
        }
        let message = envelope
            .error
            .as_ref()
            .map_or_else(|| "failed".to_owned(), ToString::to_string);
        writeln!(
            stderr,
            "{} {message}",
            err.error(&format!("{}:", envelope.status.as_str()))
        )?;
    }
    writeln!(
        stderr,
        "{}",
        err.dim(&format!("({})", style::duration(envelope.duration)))
    )?;
    Ok(())
}
