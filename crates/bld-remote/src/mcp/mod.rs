//! `bld-remote mcp`: an MCP server over stdio (rmcp). stdout carries only MCP messages; logs go
//! to stderr.

mod args;
mod catalog;
mod link;
mod render;
mod server;

use crate::app::App;
use crate::cli::McpArgs;
use crate::exit;
use anyhow::{Context, Result};
use rmcp::ServiceExt;
use std::sync::Arc;

pub async fn run(app: App, args: McpArgs) -> Result<u8> {
    let link = link::Link::new(Arc::new(app), args.port, args.host);
    let service = server::BlenderMcp::new(link)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP session on stdio")?;
    let reason = service.waiting().await.context("MCP session")?;
    tracing::debug!(?reason, "MCP session ended");
    Ok(exit::SUCCESS)
}
