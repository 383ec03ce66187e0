//! The proofs of the authentication handshake (`docs/protocol.md` §1a).
//!
//! Neither side sends the token: each proves it knows it with an HMAC-SHA256 keyed by the token
//! over `"bld-remote/2" LF role LF server_nonce LF client_nonce LF binding`, where `binding` is
//! the listening socket's address as the client dialled it. The server proves first, so a client
//! checks the peer before it sends anything derived from the token; a relay dialled on another
//! address or port forwards a proof for the wrong address and is refused. The addon's
//! `handshake.py` computes the same values; both check the vectors in the protocol document.
//!
//! Pure computation: the client crate draws the nonces and does the I/O.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

/// The one scheme protocol 2 defines.
pub const AUTH_SCHEME: &str = "hmac-sha256";
/// Random bytes in a nonce.
pub const NONCE_BYTES: usize = 32;
const DOMAIN: &str = "bld-remote/2";

/// Which side a proof is for, so that one can never be reflected as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// A nonce as it travels: unpadded base64url of [`NONCE_BYTES`] bytes.
pub fn encode_nonce(bytes: &[u8; NONCE_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` is the canonical encoding of a nonce (43 characters, spare bits zero).
pub fn is_nonce(text: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(text)
        .is_ok_and(|bytes| bytes.len() == NONCE_BYTES)
}

/// The binding text of a socket address: IPv4 dotted, IPv6 in RFC 5952 form in brackets (no
/// zone), an IPv4-mapped IPv6 address as IPv4.
pub fn binding(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
    }
}

fn mac(
    token: &str,
    role: Role,
    server_nonce: &str,
    client_nonce: &str,
    bound_to: &str,
) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any length");
    for (i, part) in [DOMAIN, role.as_str(), server_nonce, client_nonce, bound_to]
        .iter()
        .enumerate()
    {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(part.as_bytes());
    }
    mac
}

/// The proof `role` sends: unpadded base64url of the HMAC.
pub fn proof(
    token: &str,
    role: Role,
    server_nonce: &str,
    client_nonce: &str,
    bound_to: &str,
) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(token, role, server_nonce, client_nonce, bound_to)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `offered` is the proof `role` should have sent; compared in constant time.
pub fn verify(
    token: &str,
    role: Role,
    server_nonce: &str,
    client_nonce: &str,
    bound_to: &str,
    offered: &str,
) -> bool {
    let Ok(offered) = URL_SAFE_NO_PAD.decode(offered) else {
        return false;
    };
    mac(token, role, server_nonce, client_nonce, bound_to)
        .verify_slice(&offered)
        .is_ok()
}

/// `auth` in the reply to `hello` before authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub scheme: String,
    #[serde(default)]
    pub server_nonce: Option<String>,
    #[serde(default)]
    pub server_proof: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of docs/protocol.md §1a, read from the document itself: the Python side
    /// reads the same table, so the two implementations cannot drift apart.
    fn documented_vectors() -> (String, String, String, Vec<(String, Role, String)>) {
        let doc = include_str!("../../../docs/protocol.md");
        let between = |text: &str, before: &str, after: &str| -> String {
            let start = text.find(before).expect(before) + before.len();
            text[start..][..text[start..].find(after).expect(after)].to_owned()
        };
        let token = between(doc, "check these): token `", "`");
        let server_nonce = between(doc, "server nonce `", "` (bytes 0–31)");
        let client_nonce = between(doc, "`ICEiIyQl", "`");
        let client_nonce = format!("ICEiIyQl{client_nonce}");
        let rows = doc
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                match cells.as_slice() {
                    ["", binding, role @ ("server" | "client"), proof, ""] => Some((
                        binding.trim_matches('`').to_owned(),
                        if *role == "server" {
                            Role::Server
                        } else {
                            Role::Client
                        },
                        proof.trim_matches('`').to_owned(),
                    )),
                    _ => None,
                }
            })
            .collect();
        (token, server_nonce, client_nonce, rows)
    }

    #[test]
    fn the_documented_vectors_are_what_this_side_computes() {
        let (token, server_nonce, client_nonce, rows) = documented_vectors();
        let zero_to_31: [u8; 32] = std::array::from_fn(|i| i as u8);
        let from_32: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
        assert_eq!(server_nonce, encode_nonce(&zero_to_31));
        assert_eq!(client_nonce, encode_nonce(&from_32));
        assert_eq!(rows.len(), 4);
        for (bound_to, role, expected) in rows {
            assert_eq!(
                proof(&token, role, &server_nonce, &client_nonce, &bound_to),
                expected,
                "{bound_to} {role:?}"
            );
            assert!(verify(
                &token,
                role,
                &server_nonce,
                &client_nonce,
                &bound_to,
                &expected
            ));
        }
    }

    #[test]
    fn a_proof_for_anything_else_does_not_verify() {
        let (token, sn, cn, _) = documented_vectors();
        let good = proof(&token, Role::Server, &sn, &cn, "127.0.0.1:6688");
        let check = |token: &str, role, sn: &str, cn: &str, b: &str, offered: &str| {
            verify(token, role, sn, cn, b, offered)
        };
        assert!(check(
            &token,
            Role::Server,
            &sn,
            &cn,
            "127.0.0.1:6688",
            &good
        ));
        assert!(!check(
            "other-token-xxxxxxxx",
            Role::Server,
            &sn,
            &cn,
            "127.0.0.1:6688",
            &good
        ));
        assert!(!check(
            &token,
            Role::Client,
            &sn,
            &cn,
            "127.0.0.1:6688",
            &good
        ));
        assert!(!check(
            &token,
            Role::Server,
            &cn,
            &sn,
            "127.0.0.1:6688",
            &good
        ));
        assert!(!check(&token, Role::Server, &sn, &cn, "[::1]:6688", &good));
        assert!(!check(
            &token,
            Role::Server,
            &sn,
            &cn,
            "127.0.0.1:6689",
            &good
        ));
        assert!(!check(
            &token,
            Role::Server,
            &sn,
            &cn,
            "127.0.0.1:6688",
            "not base64!"
        ));
        assert!(!check(
            &token,
            Role::Server,
            &sn,
            &cn,
            "127.0.0.1:6688",
            &good[..40]
        ));
    }

    #[test]
    fn bindings_are_written_one_way() {
        for (addr, expected) in [
            ("127.0.0.1:6688", "127.0.0.1:6688"),
            ("[::1]:6688", "[::1]:6688"),
            ("[::ffff:127.0.0.1]:7000", "127.0.0.1:7000"),
            ("[fe80::1%2]:1", "[fe80::1]:1"),
            ("[2001:DB8:0:0:1:0:0:1]:5", "[2001:db8::1:0:0:1]:5"),
            ("[2001:db8:0:1:1:1:1:1]:5", "[2001:db8:0:1:1:1:1:1]:5"),
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(binding(addr), expected);
        }
    }

    #[test]
    fn nonces_are_checked_strictly() {
        let good = encode_nonce(&[7; NONCE_BYTES]);
        assert_eq!(good.len(), 43);
        assert!(is_nonce(&good));
        for bad in [
            "",
            &good[..42],
            &format!("{good}A"),
            &format!("{}=", &good[..42]),
            &format!("{}+", &good[..42]),
            &"A".repeat(42).to_string(),
            &format!("{}B", "A".repeat(42)),
        ] {
            assert!(!is_nonce(bad), "{bad:?}");
        }
    }
}
