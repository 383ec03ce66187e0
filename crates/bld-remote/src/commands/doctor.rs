use crate::app::App;
use crate::cli::DoctorArgs;
use anyhow::Result;

pub async fn run(_app: &App, _args: DoctorArgs) -> Result<u8> {
    anyhow::bail!("not yet")
}
