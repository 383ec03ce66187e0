//! How a [`crate::Client`] connects and how long it waits.

use bld_remote_protocol::timeline::{CALL_TIMEOUT_SECS, CLIENT_MARGIN_SECS, MAX_TIMEOUT_SECS};
use bld_remote_protocol::{DEFAULT_HOST, DEFAULT_PORT};
use std::time::Duration;

#[derive(Clone)]
pub struct ClientOptions {
    pub host: String,
    pub port: u16,
    /// Limit of one TCP connect attempt.
    pub connect_timeout: Duration,
    /// Refused connections are retried (with backoff) until this much time has passed since the
    /// first attempt; zero means one attempt. Covers a Blender that is still starting.
    pub retry_for: Duration,
    /// Limit of the `hello` handshake; a server that does not answer it in v1 framing in time
    /// is not a bld-remote addon.
    pub handshake_timeout: Duration,
    /// Default limit of a call without a timeout of its own
    /// (`timeline::CALL_TIMEOUT_SECS`).
    pub call_timeout: Duration,
    /// Added to the server-side timeout of `execute_code` and `get_job` waits, so the server's
    /// own timeout reply arrives before the client gives up (`timeline::CLIENT_MARGIN_SECS`; the
    /// sum is [`call_limit`]'s).
    pub timeout_margin: Duration,
    /// Longest reply line accepted.
    pub max_reply_bytes: usize,
    /// The addon's auth token; `None`: found at each connect (see [`crate::token`]).
    pub token: Option<String>,
    /// A token file to read instead of the one the addon writes for the port (needed for a
    /// Blender on another host, whose token is never looked up locally).
    pub token_file: Option<std::path::PathBuf>,
    /// Where to look for token files instead of bld-remote's state dir.
    pub state_dir: Option<std::path::PathBuf>,
    /// Accept a server that says authentication is off (a Blender started with `--no-auth`);
    /// refused by default, since anyone could be answering such a port. Never through a
    /// `server_address` tunnel.
    pub allow_no_auth: bool,
    /// The address Blender listens on, when it is reached through a tunnel or port forward on
    /// another address or port: the handshake proves that address instead of the one dialled.
    /// Set it only for a forward you made yourself.
    pub server_address: Option<std::net::SocketAddr>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            connect_timeout: Duration::from_secs(3),
            retry_for: Duration::from_millis(500),
            handshake_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs_f64(CALL_TIMEOUT_SECS),
            timeout_margin: Duration::from_secs_f64(CLIENT_MARGIN_SECS),
            // Result, stdout and stderr each have a 64 MiB budget on the server, plus JSON escaping.
            max_reply_bytes: 512 * 1024 * 1024,
            token: None,
            token_file: None,
            state_dir: None,
            allow_no_auth: false,
            server_address: None,
        }
    }
}

/// The time limit of a call the server may hold on purpose for up to `held` seconds (an
/// execution's `timeout`, a `wait`; docs/protocol.md, "Timeline of a call"): `held` plus
/// `slack`, the time the rest of the call may take. The one place a client's limit is computed:
/// the client's own calls add [`ClientOptions::timeout_margin`], the MCP server's control calls
/// [`ClientOptions::call_timeout`]. A `held` that is no number of seconds counts as the longest
/// timeout (`timeline::MAX_TIMEOUT_SECS`); the server refuses such a request at once anyway.
pub fn call_limit(held: f64, slack: Duration) -> Duration {
    let held = if held.is_nan() {
        MAX_TIMEOUT_SECS
    } else {
        held.clamp(0.0, MAX_TIMEOUT_SECS)
    };
    Duration::from_secs_f64(held) + slack
}

/// The token is never printed (logs, panics, `{:?}`).
impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry_for", &self.retry_for)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("timeout_margin", &self.timeout_margin)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("state_dir", &self.state_dir)
            .field("allow_no_auth", &self.allow_no_auth)
            .field("server_address", &self.server_address)
            .finish()
    }
}

impl ClientOptions {
    pub fn with_port(port: u16) -> Self {
        ClientOptions {
            port,
            ..Default::default()
        }
    }

    /// For checking on a Blender that may or may not be there (status, stop, a taken port):
    /// one connect attempt and short limits, so a dead or frozen one is reported in seconds.
    pub fn probe(host: impl Into<String>, port: u16) -> Self {
        ClientOptions {
            host: host.into(),
            port,
            retry_for: Duration::ZERO,
            connect_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(5),
            ..Default::default()
        }
    }

    /// The host dialled: `localhost` means 127.0.0.1, as it does for the addon, so the two can
    /// never disagree about the address family (a resolver that puts `::1` first would reach
    /// whoever holds `[::1]:port`).
    pub fn dial_host(&self) -> &str {
        if self.host.trim().eq_ignore_ascii_case("localhost") {
            crate::protocol::DEFAULT_HOST
        } else {
            &self.host
        }
    }

    /// `host:port`, bracketing IPv6 addresses.
    pub fn address(&self) -> String {
        let host = self.dial_host();
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_bracket_ipv6() {
        assert_eq!(ClientOptions::with_port(7).address(), "127.0.0.1:7");
        let v6 = ClientOptions {
            host: "::1".into(),
            ..ClientOptions::with_port(8)
        };
        assert_eq!(v6.address(), "[::1]:8");
        let local = ClientOptions {
            host: "LocalHost".into(),
            ..ClientOptions::with_port(9)
        };
        assert_eq!(
            (local.dial_host(), local.address().as_str()),
            ("127.0.0.1", "127.0.0.1:9")
        );
    }

    #[test]
    fn a_calls_limit_is_what_the_server_may_hold_it_plus_the_slack() {
        let margin = ClientOptions::default().timeout_margin;
        assert_eq!(margin, Duration::from_secs(5));
        assert_eq!(call_limit(30.0, margin), Duration::from_secs(35));
        assert_eq!(
            call_limit(0.2, Duration::from_secs(60)),
            Duration::from_millis(60_200)
        );
        assert_eq!(call_limit(-1.0, margin), margin);
        let longest = Duration::from_secs(86_400) + margin;
        assert_eq!(call_limit(f64::NAN, margin), longest);
        assert_eq!(call_limit(f64::INFINITY, margin), longest);
        assert_eq!(call_limit(1e12, margin), longest);
    }

    #[test]
    fn the_token_is_never_printed() {
        let options = ClientOptions {
            token: Some("very-secret-token-value".into()),
            ..ClientOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("very-secret") && printed.contains("<redacted>"));
    }
}
