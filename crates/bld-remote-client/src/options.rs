//! How a [`crate::Client`] connects and how long it waits.

use bld_remote_protocol::{DEFAULT_HOST, DEFAULT_PORT};
use std::time::Duration;

#[derive(Debug, Clone)]
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
    /// Default limit of a call without a timeout of its own.
    pub call_timeout: Duration,
    /// Added to the server-side timeout of `execute_code` and `get_job` waits, so the server's
    /// own timeout reply arrives before the client gives up.
    pub timeout_margin: Duration,
    /// Longest reply line accepted.
    pub max_reply_bytes: usize,
    /// The addon's auth token; `None`: found at each connect (see [`crate::token`]).
    pub token: Option<String>,
    /// Where to look for token files instead of bld-remote's state dir.
    pub state_dir: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            connect_timeout: Duration::from_secs(3),
            retry_for: Duration::from_millis(500),
            handshake_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(60),
            timeout_margin: Duration::from_secs(5),
            // Result, stdout and stderr each have a 64 MiB budget on the server, plus JSON escaping.
            max_reply_bytes: 512 * 1024 * 1024,
            token: None,
            state_dir: None,
        }
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

    /// `host:port`, bracketing IPv6 addresses.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
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
    }
}
