use crate::app::App;
use crate::cli::InstallAddonArgs;
use anyhow::Result;

pub async fn run(_app: &App, _args: InstallAddonArgs) -> Result<u8> {
    anyhow::bail!("not yet")
}
