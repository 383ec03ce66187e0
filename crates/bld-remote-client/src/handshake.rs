//! The client's side of authentication (`docs/protocol.md` §1a), in the order it happens:
//! check who owns the socket reached (Linux, loopback), read the server's `hello`, check the
//! server's proof, and only then make the client's. [`crate::Client`] sends the two requests.

use crate::error::ClientError;
use crate::options::ClientOptions;
use crate::token::{self, Lookup, TokenSource};
use bld_remote_protocol::handshake::{self as proofs, AUTH_SCHEME, Challenge, NONCE_BYTES, Role};
use bld_remote_protocol::{Hello, PROTOCOL_VERSION};
use serde_json::Value;
use std::net::SocketAddr;

/// 32 bytes from the operating system's generator, encoded for the wire.
pub(crate) fn fresh_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random generator is available");
    proofs::encode_nonce(&bytes)
}

/// Before anything is sent to a loopback peer: the socket listening there must be this user's
/// (or, behind a declared tunnel or port forward, this user's or root's: `ssh -L` runs as the
/// user, Docker's proxy as root). Off Linux there is no table to read.
pub(crate) fn check_listener_owner(
    options: &ClientOptions,
    peer: SocketAddr,
) -> Result<(), ClientError> {
    if !peer.ip().is_loopback() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let tunnel = options.server_address.is_some();
        let listeners = crate::proc_net::listening_sockets();
        if let Some(other) = crate::proc_net::serving(&listeners, peer)
            .iter()
            .find(|listener| listener.uid != me && !(tunnel && listener.uid == 0))
        {
            return Err(ClientError::ForeignListener {
                addr: options.address(),
                uid: other.uid,
            });
        }
    }
    Ok(())
}

/// What the first `hello` said.
pub(crate) enum FirstReply {
    /// Authentication is off on that server: its full `hello`.
    Open(Hello),
    /// The server's nonce and proof.
    Challenge {
        server_nonce: String,
        server_proof: String,
    },
}

pub(crate) fn read_first_hello(result: Value, addr: &str) -> Result<FirstReply, ClientError> {
    let not_ours = |detail: String| ClientError::NotBldRemote {
        addr: addr.to_owned(),
        detail,
    };
    let version = result.get("protocol_version").and_then(Value::as_u64);
    if result.get("server").and_then(Value::as_str) != Some("bld-remote") || version.is_none() {
        return Err(not_ours(format!("unexpected `hello` reply {result}")));
    }
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        return Err(ClientError::IncompatibleProtocol {
            addr: addr.to_owned(),
            server: version.unwrap_or_default() as u32,
            client: PROTOCOL_VERSION,
        });
    }
    if result.get("auth_required").and_then(Value::as_bool) == Some(false) {
        let hello = serde_json::from_value(result)
            .map_err(|err| not_ours(format!("malformed `hello` ({err})")))?;
        return Ok(FirstReply::Open(hello));
    }
    let not_proven = |detail: &str| ClientError::NotProven {
        addr: addr.to_owned(),
        detail: detail.to_owned(),
    };
    let challenge: Challenge = result
        .get("auth")
        .cloned()
        .and_then(|auth| serde_json::from_value(auth).ok())
        .ok_or_else(|| not_proven("its `hello` carries no challenge"))?;
    if challenge.scheme != AUTH_SCHEME {
        return Err(not_proven(&format!(
            "it asks for the unknown scheme {:?}",
            challenge.scheme
        )));
    }
    match (challenge.server_nonce, challenge.server_proof) {
        (Some(server_nonce), Some(server_proof)) if proofs::is_nonce(&server_nonce) => {
            Ok(FirstReply::Challenge {
                server_nonce,
                server_proof,
            })
        }
        _ => Err(not_proven("its `hello` carries no nonce and proof")),
    }
}

/// The token to prove for this server, and where it came from.
pub(crate) fn find_token(
    options: &ClientOptions,
    peer: SocketAddr,
) -> Result<(String, TokenSource), ClientError> {
    // The addon's own file is for a Blender on this machine: a token of local port N is never
    // offered (even as a proof) to another host that happens to use port N.
    let local = options.server_address.is_none() && peer.ip().is_loopback();
    let lookup = Lookup {
        given: options.token.as_deref(),
        file: options.token_file.as_deref(),
        local_port: local.then_some(options.port),
        state_dir: options.state_dir.as_deref(),
    };
    let addr = options.address();
    match token::find(&lookup) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(ClientError::Token {
            addr,
            reason: format!(
                "it requires authentication and no token was found (looked in: {}; \
                 BLD_REMOTE_MCP_AUTH=off in Blender's environment turns authentication off)",
                token::where_looked(&lookup)
            ),
        }),
        Err(err) => Err(ClientError::Token {
            addr,
            reason: err.to_string(),
        }),
    }
}

/// Checks the server's proof; returns the client's. Nothing derived from the token leaves this
/// function unless the server proved it knows the token for the address dialled.
pub(crate) fn answer(
    options: &ClientOptions,
    peer: SocketAddr,
    token: &(String, TokenSource),
    client_nonce: &str,
    server_nonce: &str,
    server_proof: &str,
) -> Result<String, ClientError> {
    let bound = proofs::binding(options.server_address.unwrap_or(peer));
    let (token, source) = token;
    if !proofs::verify(
        token,
        Role::Server,
        server_nonce,
        client_nonce,
        &bound,
        server_proof,
    ) {
        return Err(ClientError::NotProven {
            addr: options.address(),
            detail: format!("its proof does not match the token ({source}) for {bound}"),
        });
    }
    Ok(proofs::proof(
        token,
        Role::Client,
        server_nonce,
        client_nonce,
        &bound,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fresh_nonces_are_well_formed_and_differ() {
        let (a, b) = (fresh_nonce(), fresh_nonce());
        assert!(proofs::is_nonce(&a) && proofs::is_nonce(&b) && a != b);
    }

    #[test]
    fn first_hellos_are_read_strictly() {
        let addr = "127.0.0.1:1";
        let err = |value: Value| match read_first_hello(value, addr) {
            Err(err) => err.to_string(),
            Ok(_) => "accepted".to_owned(),
        };
        assert!(err(json!({"server": "other"})).contains("not a bld-remote addon"));
        assert!(
            err(json!({"server": "bld-remote", "protocol_version": 1}))
                .contains("version 1 sent the token itself")
        );
        let base = json!({"server": "bld-remote", "protocol_version": 2, "auth_required": true});
        assert!(err(base.clone()).contains("carries no challenge"));
        let mut weird = base.clone();
        weird["auth"] = json!({"scheme": "plain"});
        assert!(err(weird).contains("unknown scheme \"plain\""));
        let mut bare = base.clone();
        bare["auth"] = json!({"scheme": "hmac-sha256"});
        assert!(err(bare).contains("no nonce and proof"));
        let mut bad_nonce = base.clone();
        bad_nonce["auth"] =
            json!({"scheme": "hmac-sha256", "server_nonce": "short", "server_proof": "p"});
        assert!(err(bad_nonce).contains("no nonce and proof"));
        let open = json!({"server": "bld-remote", "protocol_version": 2, "auth_required": false,
            "addon_version": "0", "blender_version": "3.4.1", "mode": "background", "pid": 1,
            "port": 2, "authenticated": true});
        assert!(matches!(
            read_first_hello(open, addr),
            Ok(FirstReply::Open(_))
        ));
    }

    #[test]
    fn the_answer_is_made_only_for_a_proven_server() {
        let options = ClientOptions::with_port(6688);
        let peer: SocketAddr = "127.0.0.1:6688".parse().unwrap();
        let token = ("secret-token-0123456789".to_owned(), TokenSource::Caller);
        let (cn, sn) = (fresh_nonce(), fresh_nonce());
        let good = proofs::proof(&token.0, Role::Server, &sn, &cn, "127.0.0.1:6688");
        let answer_for = |options: &ClientOptions, peer, proof: &str| {
            answer(options, peer, &token, &cn, &sn, proof)
        };
        let client = answer_for(&options, peer, &good).unwrap();
        assert!(proofs::verify(
            &token.0,
            Role::Client,
            &sn,
            &cn,
            "127.0.0.1:6688",
            &client
        ));
        // A relay on [::1] forwards a proof for 127.0.0.1: refused.
        let relay: SocketAddr = "[::1]:6688".parse().unwrap();
        let err = answer_for(&options, relay, &good).unwrap_err().to_string();
        assert!(
            err.contains("does not match the token (given by the caller) for [::1]:6688"),
            "{err}"
        );
        // A tunnel the user set up: told where Blender listens, the same proof passes.
        let tunnel = ClientOptions {
            server_address: Some(peer),
            ..ClientOptions::with_port(16688)
        };
        let dialled: SocketAddr = "127.0.0.1:16688".parse().unwrap();
        assert!(answer_for(&tunnel, dialled, &good).is_ok());
        assert!(answer_for(&options, dialled, &good).is_err());
    }
}
