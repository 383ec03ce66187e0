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
        "the addon on {addr} speaks protocol version {server}, this client speaks {client}{}; \
         install the matching addon with `bld-remote install-addon`",
        if *.server < 2 { " (version 1 sent the token itself to whoever answered the port)" } else { "" }
    )]
    IncompatibleProtocol {
        addr: String,
        server: u32,
        client: u32,
    },

    #[error("the Blender on {addr} refused this client: {reason}")]
    Unauthorized { addr: String, reason: String },

    /// The peer did not prove it knows the token: it is not the Blender that wrote it.
    #[error(
        "the process answering on {addr} is not the Blender whose token this client holds: \
         {detail}. Nothing derived from the token was sent to it. Another program may hold the \
         port, the token may be stale (that Blender restarted?), or you reach Blender through a \
         tunnel or port forward to another address (then pass --server-address with the address \
         Blender listens on)"
    )]
    NotProven { addr: String, detail: String },

    #[error(
        "the server on {addr} says authentication is off, so anyone could be answering there: \
         nothing was sent. If it is a Blender you started without a token (`bld-remote start \
         --no-auth`, BLD_REMOTE_MCP_AUTH=off, or 'Require token' unticked in the addon), pass \
         --allow-no-auth (BLD_REMOTE_ALLOW_NO_AUTH=1, or allow_no_auth = true in the config)"
    )]
    AuthOff { addr: String },

    #[error(
        "the socket listening on {addr} belongs to another user (uid {uid}), not to you: nothing \
         was sent. That is not your Blender; choose another port (see who holds it with `ss -ltnp`)"
    )]
    ForeignListener { addr: String, uid: u32 },

    /// No usable token: none found, or a token file that is not private.
    #[error("cannot authenticate to {addr}: {reason}")]
    Token { addr: String, reason: String },

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
    /// True when what answered is not a Blender this user may trust: it could not prove the
    /// token, said authentication is off, or its socket is another user's. Nothing was run.
    pub fn is_untrusted_peer(&self) -> bool {
        matches!(
            self,
            ClientError::NotProven { .. }
                | ClientError::AuthOff { .. }
                | ClientError::ForeignListener { .. }
        )
    }

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
