//! One module per subcommand.

mod demo;
mod doctor;
mod exec;
mod install_addon;
mod start;
mod status;
mod stop;

use crate::app::App;
use crate::cli::{Cli, Commands};
use anyhow::Result;

/// Runs the subcommand; the result is the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    let app = App::load(cli.config, cli.trust)?;
    match cli.command {
        Commands::Start(args) => start::run(&app, args).await,
        Commands::Status(args) => status::run(&app, args).await,
        Commands::Stop(args) => stop::run(&app, args).await,
        Commands::Exec(args) => exec::run(&app, args).await,
        Commands::InstallAddon(args) => install_addon::run(&app, args).await,
        Commands::Doctor(args) => doctor::run(&app, args).await,
        Commands::Demo(args) => demo::run(&app, args).await,
        Commands::Mcp(args) => crate::mcp::run(app, args).await,
    }
}
