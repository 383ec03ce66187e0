//! `bld-remote stop`.

use crate::app::{App, ports};
use crate::cli::StopArgs;
use crate::exit;
use crate::stopper;
use anyhow::{Result, bail};
use std::time::Duration;

pub async fn run(app: &App, args: StopArgs) -> Result<u8> {
    let grace = Duration::from_secs_f64(
        args.grace
            .or(app.config.stop_grace)
            .unwrap_or(10.0)
            .max(0.0),
    );
    let live = app.registry.user_blenders();
    let targets = if args.all {
        // With the pool workers of servers that are gone (killed before they could stop
        // them): nobody else will.
        let mut all = live;
        all.extend(app.registry.live().into_iter().filter(|record| {
            record
                .pool_of
                .is_some_and(|server| !crate::process::is_alive(server))
        }));
        all
    } else if let Some(port) = args.port.or(app.config.port) {
        match live.into_iter().find(|r| r.port == port) {
            Some(record) => vec![record],
            None => bail!(
                "no Blender started by bld-remote is running on port {port} \
                 (a Blender you started yourself is stopped from Blender: File > Quit)"
            ),
        }
    } else {
        match live.len() {
            0 => bail!("no Blender started by bld-remote is running"),
            1 => live,
            _ => bail!(
                "several Blenders are running (ports {}); choose with --port or use --all",
                ports(&live)
            ),
        }
    };
    if targets.is_empty() {
        println!("no Blender started by bld-remote is running");
        return Ok(exit::SUCCESS);
    }
    let mut code = exit::SUCCESS;
    for record in targets {
        let outcome = stopper::stop(&record, grace).await;
        if outcome.stopped() {
            app.registry.remove(record.port, record.pid);
        } else {
            code = exit::FAILURE;
        }
        println!(
            "Blender on port {} (pid {}) {}",
            record.port,
            record.pid,
            outcome.describe()
        );
    }
    Ok(code)
}
