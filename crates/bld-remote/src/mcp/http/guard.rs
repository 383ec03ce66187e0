//! What every HTTP request must pass before rmcp sees it (an axum middleware around rmcp's
//! service), in this order:
//!
//! 1. `Host` is one of the allowed authorities, else 403: a web page whose name was rebound to
//!    127.0.0.1 (DNS rebinding) sends its own name;
//! 2. `Origin`, when present, is an allowed origin, else 403: a web page in a browser on this
//!    machine sends its own (clients that are not browsers send none);
//! 3. `Authorization: Bearer <token>` carries the token, compared in constant time, else 401
//!    with `WWW-Authenticate: Bearer`.
//!
//! A refused request gets its status and a one-line reason, and nothing of it reaches rmcp: no
//! session is made, no message is read, nothing runs.

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub struct Guard {
    /// `None`: no token asked for (`--no-auth`, loopback only).
    token: Option<String>,
    hosts: Vec<Authority>,
    origins: Vec<Origin>,
}

/// A host and, if given, a port: `Host` header values and allowlist entries (an entry without
/// a port allows any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    fn parse(text: &str) -> Option<Authority> {
        let authority = axum::http::uri::Authority::try_from(text.trim()).ok()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Some(Authority {
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }
}

/// `scheme://host:port`, the port made explicit (RFC 6454), or `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: u16,
    },
}

impl Origin {
    fn parse(text: &str) -> Option<Origin> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("null") {
            return Some(Origin::Null);
        }
        let uri = axum::http::Uri::try_from(text).ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| p != "/") {
            return None;
        }
        let port = authority.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        })?;
        Some(Origin::Tuple {
            scheme,
            host: normalize_host(authority.host()),
            port,
        })
    }
}

/// Lower case, IPv6 without its brackets, no trailing dot.
fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The names a loopback listener on `port` is reached by: `localhost`, `127.0.0.1`, `[::1]`.
pub fn loopback_hosts(port: u16) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("{host}:{port}"))
        .collect()
}

/// The origins of pages served by loopback on `port` (a browser client on this machine served
/// from this very port; in practice, clients that are not browsers send no `Origin`).
pub fn loopback_origins(port: u16) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("http://{host}:{port}"))
        .collect()
}

impl Guard {
    pub fn new(
        token: Option<String>,
        hosts: &[String],
        origins: &[String],
    ) -> anyhow::Result<Guard> {
        let host = |host: &String| {
            Authority::parse(host)
                .with_context(|| format!("--allow-host {host:?} is not a host or host:port"))
        };
        let origin = |origin: &String| {
            Origin::parse(origin).with_context(|| {
                format!(
                    "--allow-origin {origin:?} is not an origin (scheme://host[:port], or null)"
                )
            })
        };
        Ok(Guard {
            token,
            hosts: hosts.iter().map(host).collect::<anyhow::Result<_>>()?,
            origins: origins.iter().map(origin).collect::<anyhow::Result<_>>()?,
        })
    }

    /// `Ok` when the request may go on to rmcp; else why it is refused.
    pub fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        self.check_host(headers)
            .map_err(|why| Refusal::new(StatusCode::FORBIDDEN, why, None))?;
        self.check_origin(headers)
            .map_err(|why| Refusal::new(StatusCode::FORBIDDEN, why, None))?;
        self.check_token(headers).map_err(|(why, challenge)| {
            Refusal::new(StatusCode::UNAUTHORIZED, why, Some(challenge))
        })
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .and_then(Authority::parse)
            .ok_or("Forbidden: missing or malformed Host header")?;
        // An HTTP Host without a port means port 80.
        let port = host.port.unwrap_or(80);
        let allowed = self
            .hosts
            .iter()
            .any(|entry| entry.host == host.host && entry.port.is_none_or(|p| p == port));
        if allowed {
            Ok(())
        } else {
            tracing::warn!(host = %host.host, port, "HTTP request refused: Host not allowed (DNS rebinding?)");
            Err("Forbidden: Host header is not allowed")
        }
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = value
            .to_str()
            .ok()
            .and_then(Origin::parse)
            .ok_or("Forbidden: malformed Origin header")?;
        if self.origins.contains(&origin) {
            Ok(())
        } else {
            tracing::warn!(?origin, "HTTP request refused: Origin not allowed");
            Err("Forbidden: Origin is not allowed")
        }
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<(), (&'static str, &'static str)> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        const ASK: &str = r#"Bearer realm="bld-remote""#;
        const INVALID: &str = r#"Bearer realm="bld-remote", error="invalid_token""#;
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(("Unauthorized: send Authorization: Bearer <token>", ASK));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match presented {
            Some(token)
                if constant_time_eq::constant_time_eq(token.as_bytes(), expected.as_bytes()) =>
            {
                Ok(())
            }
            Some(_) => {
                tracing::warn!("HTTP request refused: wrong bearer token");
                Err(("Unauthorized: wrong token", INVALID))
            }
            None => Err((
                "Unauthorized: the Authorization header must be Bearer <token>",
                ASK,
            )),
        }
    }
}

/// A refused request: its status, the one-line reason sent back, and for 401 the challenge.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    why: &'static str,
    challenge: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, why: &'static str, challenge: Option<&'static str>) -> Refusal {
        Refusal {
            status,
            why,
            challenge,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, format!("{}\n", self.why)).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The middleware: [`Guard::admit`], then rmcp.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.admit(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(token: Option<&str>) -> Guard {
        Guard::new(
            token.map(str::to_owned),
            &loopback_hosts(8765),
            &loopback_origins(8765),
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn status(guard: &Guard, pairs: &[(&'static str, &str)]) -> StatusCode {
        match guard.admit(&headers(pairs)) {
            Ok(()) => StatusCode::OK,
            Err(refused) => refused.into_response().status(),
        }
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const GOOD: &str = "Bearer 0123456789abcdef0123456789abcdef";

    #[test]
    fn loopback_hosts_with_the_bound_port_pass_others_are_forbidden() {
        let guard = guard(Some(TOKEN));
        for host in [
            "127.0.0.1:8765",
            "localhost:8765",
            "[::1]:8765",
            "LOCALHOST:8765",
        ] {
            assert_eq!(
                status(&guard, &[("host", host), ("authorization", GOOD)]),
                StatusCode::OK,
                "{host}"
            );
        }
        for host in [
            "evil.example:8765",
            "127.0.0.1:9999",
            "localhost",
            "127.0.0.1.evil.example:8765",
            "user@127.0.0.1:8765",
        ] {
            assert_eq!(
                status(&guard, &[("host", host), ("authorization", GOOD)]),
                StatusCode::FORBIDDEN,
                "{host}"
            );
        }
        assert_eq!(
            status(&guard, &[("authorization", GOOD)]),
            StatusCode::FORBIDDEN,
            "no Host"
        );
    }

    #[test]
    fn an_origin_must_be_allowed_when_present() {
        let guard = guard(Some(TOKEN));
        let ok = |origin: &str| {
            status(
                &guard,
                &[
                    ("host", "127.0.0.1:8765"),
                    ("authorization", GOOD),
                    ("origin", origin),
                ],
            )
        };
        assert_eq!(ok("http://127.0.0.1:8765"), StatusCode::OK);
        assert_eq!(ok("http://localhost:8765"), StatusCode::OK);
        for origin in [
            "http://evil.example",
            "https://127.0.0.1:8765",
            "http://127.0.0.1:80",
            "http://127.0.0.1",
            "null",
            "not an origin",
        ] {
            assert_eq!(ok(origin), StatusCode::FORBIDDEN, "{origin}");
        }
    }

    #[test]
    fn the_token_is_required_and_compared_whole() {
        let guard = guard(Some(TOKEN));
        let with = |auth: Option<&str>| {
            let mut pairs = vec![("host", "127.0.0.1:8765")];
            if let Some(auth) = auth {
                pairs.push(("authorization", auth));
            }
            guard.admit(&headers(&pairs))
        };
        assert!(with(Some(GOOD)).is_ok());
        assert!(
            with(Some(&format!("bearer {TOKEN}"))).is_ok(),
            "scheme in any case"
        );
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer 0123456789abcdef0123456789abcde"),
            Some("Bearer 0123456789abcdef0123456789abcdef0"),
            Some("Basic MDEyMzQ1Njc4OWFiY2RlZg=="),
            Some(TOKEN),
        ] {
            let refused = with(auth).expect_err("refused").into_response();
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
            let challenge = refused.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert!(challenge.starts_with("Bearer "), "{challenge}");
        }
    }

    #[test]
    fn host_and_origin_are_checked_before_the_token() {
        let guard = guard(Some(TOKEN));
        assert_eq!(
            status(&guard, &[("host", "evil.example:8765")]),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn without_auth_only_host_and_origin_are_checked() {
        let guard = guard(None);
        assert_eq!(
            status(&guard, &[("host", "127.0.0.1:8765")]),
            StatusCode::OK
        );
        assert_eq!(
            status(&guard, &[("host", "evil.example:8765")]),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn extra_entries_are_parsed_or_refused() {
        let guard = Guard::new(
            None,
            &["blender.lan".into()],
            &["https://ui.example:8443".into()],
        )
        .unwrap();
        assert_eq!(
            status(&guard, &[("host", "blender.lan:1234")]),
            StatusCode::OK
        );
        assert_eq!(
            status(
                &guard,
                &[
                    ("host", "blender.lan"),
                    ("origin", "https://ui.example:8443")
                ]
            ),
            StatusCode::OK
        );
        assert!(Guard::new(None, &["a b".into()], &[]).is_err());
        assert!(Guard::new(None, &[], &["ui.example".into()]).is_err());
    }
}
