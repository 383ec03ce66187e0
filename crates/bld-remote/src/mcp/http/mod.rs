//! `bld-remote mcp --http ADDR`: the same MCP server over Streamable HTTP at `/mcp`, through
//! rmcp's `StreamableHttpService` (its session manager keeps one handler per `Mcp-Session-Id`)
//! behind an axum router whose middleware ([`guard`]) checks `Host`, `Origin` and the bearer
//! token before rmcp sees anything.
//!
//! Sessions and Blender: one supervisor for the process (one Blender, one `--spawn` child, one
//! shared control connection); each HTTP session gets its own [`BlenderMcp`], so its own exec
//! connection and Python namespace, exactly as one stdio process has (`super::link`).
//!
//! Stopping (SIGTERM, SIGINT): no new connections; the tool calls in flight get up to
//! `--drain-timeout` to finish; then the sessions are closed (their SSE streams end), the
//! token file is removed and a Blender started by `--spawn` is stopped.

mod guard;
pub mod token;

use super::fleet::Fleet;
use super::in_flight::InFlight;
use super::server::BlenderMcp;
use super::session_handles::SessionHandles;
use crate::signals::StopSignals;
use anyhow::{Context, Result, bail};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long the sessions get to close once told to (after the drain).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub struct HttpOptions {
    /// `--http`: IP:PORT or localhost:PORT.
    pub listen: String,
    pub allow_remote: bool,
    pub allow_hosts: Vec<String>,
    pub allow_origins: Vec<String>,
    pub no_auth: bool,
    /// rmcp's session keep-alive: a session with no event for this long is closed.
    pub session_idle_timeout: Duration,
    pub drain_timeout: Duration,
}

/// `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (`localhost` is 127.0.0.1, as for the addon:
/// never whatever the resolver says first).
pub fn parse_listen(text: &str) -> Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = text
        .rsplit_once(':')
        .filter(|(host, _)| host.eq_ignore_ascii_case("localhost"))
        .map(|(_, port)| port)
    {
        let port = port
            .parse::<u16>()
            .with_context(|| format!("--http {text}: {port:?} is not a port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    bail!("--http {text}: give IP:PORT, [IPv6]:PORT or localhost:PORT (e.g. 127.0.0.1:8765)")
}

/// What is refused before anything is bound: a non-loopback address without `--allow-remote`,
/// and a non-loopback address without a token.
pub fn check_bind(addr: SocketAddr, allow_remote: bool, no_auth: bool) -> Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        bail!(
            "--http {addr}: not a loopback address; anyone who reaches it could run code in \
             Blender. Pass --allow-remote to bind it (with the token; plain HTTP, so put a TLS \
             reverse proxy in front), or reach a loopback bind through an SSH tunnel"
        );
    }
    if no_auth {
        bail!("--http {addr}: a non-loopback address is never served without a token (--no-auth)");
    }
    Ok(())
}

/// Serves until SIGTERM or SIGINT, then drains and stops (module doc).
pub async fn serve(
    fleet: Arc<Fleet>,
    handles: Arc<SessionHandles>,
    state_dir: &Path,
    options: HttpOptions,
    mut stop_signals: StopSignals,
) -> Result<()> {
    let addr = parse_listen(&options.listen)?;
    check_bind(addr, options.allow_remote, options.no_auth)?;
    let from_env = if options.no_auth {
        None
    } else {
        token::from_env()?
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;

    let (token, token_file) = match (options.no_auth, from_env) {
        (true, _) => (None, None),
        (false, Some(token)) => (Some(token), None),
        (false, None) => {
            let token = token::generate()?;
            let path = token::write(state_dir, bound.port(), &token)
                .context("writing the HTTP token file")?;
            (Some(token), Some(TokenFile(path)))
        }
    };

    let mut hosts = guard::loopback_hosts(bound.port());
    if !bound.ip().is_loopback() && !bound.ip().is_unspecified() {
        hosts.push(SocketAddr::new(bound.ip(), bound.port()).to_string());
    }
    hosts.extend(options.allow_hosts.iter().cloned());
    let mut origins = guard::loopback_origins(bound.port());
    origins.extend(options.allow_origins.iter().cloned());
    let guard = Arc::new(guard::Guard::new(token, &hosts, &origins)?);

    // rmcp checks Host and Origin too (the same lists): a second line, should the guard be
    // misplaced one day.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts.clone())
        .with_allowed_origins(origins.clone());
    let close_sessions = config.cancellation_token.clone();
    let calls = Arc::new(InFlight::default());
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(options.session_idle_timeout);
    let service = StreamableHttpService::new(
        {
            let (fleet, calls) = (Arc::clone(&fleet), Arc::clone(&calls));
            // Called per session (2025-11-25) and per request (2026-07-28, stateless): the
            // handles are the process's, so a handle works across both.
            move || {
                Ok(BlenderMcp::new(
                    Arc::clone(&fleet),
                    Arc::clone(&calls),
                    Arc::clone(&handles),
                ))
            }
        },
        Arc::new(sessions),
        config,
    );
    let router = axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check));

    announce(
        bound,
        token_file.as_ref().map(|file| file.0.as_path()),
        options.no_auth,
    );
    if !bound.ip().is_loopback() {
        eprintln!(
            "bld-remote mcp: not loopback: plain HTTP; requests must name one of these hosts \
             (add the one clients use with --allow-host): {}",
            hosts.join(", ")
        );
    }

    let (stop_accepting, accepting_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = accepting_stopped.await;
    });
    let mut server = tokio::spawn(server.into_future());
    let signal = tokio::select! {
        signal = stop_signals.recv() => signal,
        ended = &mut server => {
            // The listener failed (it does not end by itself otherwise).
            return ended
                .context("the HTTP server task")?
                .context("serving HTTP");
        }
    };
    let in_flight = calls.count();
    tracing::info!(signal, in_flight, "stopping the MCP HTTP server");
    eprintln!(
        "bld-remote mcp: {signal}: stopping; {in_flight} call(s) in flight get up to {:?} to finish",
        options.drain_timeout
    );
    let _ = stop_accepting.send(());
    if tokio::time::timeout(options.drain_timeout, calls.idle())
        .await
        .is_err()
    {
        tracing::warn!(
            left = calls.count(),
            "calls still running after the drain timeout: closing their sessions"
        );
    }
    tracing::debug!("drained: closing the sessions");
    close_sessions.cancel();
    match tokio::time::timeout(CLOSE_WAIT, &mut server).await {
        Ok(Ok(Err(err))) => tracing::warn!(%err, "the HTTP server ended with an error"),
        Ok(_) => {}
        Err(_) => {
            tracing::warn!("connections still open after closing the sessions: dropping them");
            server.abort();
        }
    }
    tracing::debug!("HTTP server stopped");
    drop(token_file);
    Ok(())
}

/// The token file of this server, removed when it stops.
struct TokenFile(PathBuf);

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Says on stderr where the server is, where its token is and how to configure a client (the
/// token itself is never printed).
fn announce(bound: SocketAddr, token_file: Option<&Path>, no_auth: bool) {
    let url = format!("http://{bound}/mcp");
    eprintln!("bld-remote mcp: listening on {url}");
    let config = if no_auth {
        eprintln!(
            "bld-remote mcp: no token (--no-auth): any local process can run code in Blender"
        );
        serde_json::json!({"mcpServers": {"blender": {"type": "http", "url": url}}})
    } else {
        match token_file {
            Some(path) => {
                eprintln!("bld-remote mcp: token file: {}", path.display());
                eprintln!(
                    "bld-remote mcp: export {}=\"$(cat '{}')\"",
                    token::ENV,
                    path.display()
                );
            }
            None => eprintln!("bld-remote mcp: token from {}", token::ENV),
        }
        serde_json::json!({"mcpServers": {"blender": {
            "type": "http",
            "url": url,
            "headers": {"Authorization": format!("Bearer ${{{}}}", token::ENV)},
        }}})
    };
    eprintln!("bld-remote mcp: client config: {config}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("127.0.0.1:8765").unwrap(),
            "127.0.0.1:8765".parse().unwrap()
        );
        assert_eq!(
            parse_listen("localhost:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_listen("[::1]:8765").unwrap(),
            "[::1]:8765".parse().unwrap()
        );
        for bad in ["8765", "example.com:80", "localhost:x", "127.0.0.1"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_loopback_needs_allow_remote_and_a_token() {
        let any: SocketAddr = "0.0.0.0:8765".parse().unwrap();
        let lan: SocketAddr = "192.168.1.5:8765".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        assert!(check_bind(local, false, false).is_ok());
        assert!(check_bind(local, false, true).is_ok());
        for addr in [any, lan] {
            let refused = check_bind(addr, false, false).unwrap_err().to_string();
            assert!(refused.contains("--allow-remote"), "{refused}");
            assert!(check_bind(addr, true, true).is_err());
            assert!(check_bind(addr, true, false).is_ok());
        }
    }
}
