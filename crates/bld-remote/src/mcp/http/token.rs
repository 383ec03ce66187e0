//! The bearer token HTTP clients must send: `BLD_REMOTE_HTTP_TOKEN` when set, else 32 random
//! bytes (unpadded base64url, 43 characters) made at start and written 0600 to
//! `<state dir>/http/<port>.token` through the private-file helpers (the state dir and every
//! directory above it are checked first), removed when the server stops.

use anyhow::{Context, Result, bail};
use base64::Engine;
use bld_remote_client::private_fs;
use std::path::{Path, PathBuf};

pub const ENV: &str = "BLD_REMOTE_HTTP_TOKEN";
/// Shortest token taken from the environment (as the addon's BLD_REMOTE_MCP_TOKEN).
pub const MIN_LEN: usize = 16;

/// The token from `BLD_REMOTE_HTTP_TOKEN`, if set (too short, or with characters a header
/// cannot carry: an error).
pub fn from_env() -> Result<Option<String>> {
    let Some(value) = std::env::var_os(ENV) else {
        return Ok(None);
    };
    let Some(token) = value.to_str().map(str::trim) else {
        bail!("{ENV} is not valid UTF-8");
    };
    if token.is_empty() {
        return Ok(None);
    }
    check(token).with_context(|| format!("{ENV} cannot be used"))?;
    Ok(Some(token.to_owned()))
}

fn check(token: &str) -> Result<()> {
    if token.len() < MIN_LEN {
        bail!("a token needs at least {MIN_LEN} characters");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("a token is printable ASCII without spaces");
    }
    Ok(())
}

/// 32 random bytes from the OS, unpadded base64url.
pub fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no random bytes: {err}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Where the token of the server on `port` is written.
pub fn file_for(state_dir: &Path, port: u16) -> PathBuf {
    state_dir.join("http").join(format!("{port}.token"))
}

/// Writes `token` to [`file_for`]: a fresh 0600 file renamed into place, in a private `http/`
/// directory of a checked state dir.
pub fn write(state_dir: &Path, port: u16, token: &str) -> Result<PathBuf> {
    let base = private_fs::ensure_private_tree(state_dir, &["http"])?;
    let path = file_for(&base, port);
    private_fs::write_private_file(&path, format!("{token}\n").as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_url_safe_characters_and_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(check("short").is_err());
        assert!(check("sixteen chars ok").is_err(), "a space");
        assert!(check("0123456789abcdef").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn the_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let path = write(&state, 8765, "0123456789abcdef").unwrap();
        assert_eq!(path, state.join("http/8765.token"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0123456789abcdef\n"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&state.join("http")), 0o700);
        private_fs::check_private_file(&path).unwrap();
        // Written again (a restart on the same port): replaced, still private.
        write(&state, 8765, "fedcba9876543210").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "fedcba9876543210\n"
        );
        assert_eq!(mode(&path), 0o600);
    }
}
