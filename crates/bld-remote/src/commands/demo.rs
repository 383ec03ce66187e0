use crate::app::App;
use crate::cli::DemoArgs;
use anyhow::Result;

pub async fn run(_app: &App, _args: DemoArgs) -> Result<u8> {
    anyhow::bail!("not yet")
}
