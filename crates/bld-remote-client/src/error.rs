//! Errors of the client, worded so that a person can act on them.

use bld_remote_protocol::{ErrorObject, MalformedReply};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no Blender listening on {addr} — run `bld-remote start` or enable the addon in Blender"
    )]
    NotListening { addr: String },

    #[error("could not connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },

    #[error(
        "the server on {addr} is not a bld-remote addon ({detail}); an older blender-remote addon? \
         Run `bld-remote install-addon` or `bld-remote start`"
    )]
    NotBldRemote { addr: String, detail: String },

    #[error(
        "the addon on {addr} speaks protocol version {server}, this client speaks {client}; \
         install the matching addon with `bld-remote install-addon`"
    )]
    IncompatibleProtocol {
        addr: String,
        server: u32,
        client: u32,
    },

    #[error("the Blender on {addr} refused this client: {reason}")]
    Unauthorized { addr: String, reason: String },

    #[error("lost the connection to Blender on {addr}: {reason}")]
    Disconnected { addr: String, reason: String },

    #[error("`{command}` got no reply within {}", seconds(*.after))]
    Timeout {
        command: &'static str,
        after: Duration,
    },

    /// The server answered with an error reply.
    #[error("{0}")]
    Server(ErrorObject),

    #[error(transparent)]
    Malformed(#[from] MalformedReply),
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

impl ClientError {
    /// True when no Blender could be reached (nothing listening, refused, lost).
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            ClientError::NotListening { .. }
                | ClientError::Connect { .. }
                | ClientError::Disconnected { .. }
        )
    }
}
