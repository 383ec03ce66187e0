//! Where the token a Blender requires comes from (see the addon's `auth.py` and
//! `docs/protocol.md` §1a): given by the caller, else `BLD_REMOTE_MCP_TOKEN`, else a token file
//! the caller names, else — only for a Blender on a loopback address — the file the addon wrote
//! for its port, `<state dir>/tokens/<port>.token`. A file is used only if it and its directory
//! belong to this user and nobody else can read or change them. Looked up at every connect, so a
//! Blender restarted on the same port (with a new token) is reached without restarting the client.
//!
//! The token is never sent: the handshake proves it (`bld_remote_protocol::handshake`).

use crate::private_fs::{self, UnsafePath};
use std::fmt;
use std::path::{Path, PathBuf};

pub const TOKEN_ENV: &str = "BLD_REMOTE_MCP_TOKEN";
pub const STATE_DIR_ENV: &str = "BLD_REMOTE_STATE_DIR";

/// Neither a home nor a per-user runtime dir: there is no private place for bld-remote's state,
/// and a shared temp dir is never used instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no home directory and no XDG_RUNTIME_DIR to keep bld-remote's state in: set \
     BLD_REMOTE_STATE_DIR to a directory of your own"
)]
pub struct NoStateDir;

/// bld-remote's state dir: `BLD_REMOTE_STATE_DIR`, else the platform's (Linux:
/// `$XDG_STATE_HOME/bld-remote` or `~/.local/state/bld-remote`, then `$XDG_RUNTIME_DIR/bld-remote`;
/// macOS: `~/Library/Application Support/bld-remote`; Windows: `%LOCALAPPDATA%\bld-remote`).
/// The addon computes the same path.
pub fn state_dir() -> Result<PathBuf, NoStateDir> {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    #[cfg(any(target_os = "macos", windows))]
    let base = dirs::data_local_dir();
    #[cfg(not(any(target_os = "macos", windows)))]
    let base = dirs::state_dir().or_else(dirs::runtime_dir);
    base.map(|base| base.join("bld-remote")).ok_or(NoStateDir)
}

/// Where the addon listening on `port` writes its token (under `state_dir`, default [`state_dir()`]).
pub fn token_file(port: u16, state_dir: Option<&Path>) -> Result<PathBuf, NoStateDir> {
    let base = match state_dir {
        Some(dir) => dir.to_path_buf(),
        None => self::state_dir()?,
    };
    Ok(base.join("tokens").join(format!("{port}.token")))
}

/// Where a token came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Caller,
    Environment,
    File(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Caller => f.write_str("given by the caller"),
            TokenSource::Environment => write!(f, "from {TOKEN_ENV}"),
            TokenSource::File(path) => write!(f, "from {}", path.display()),
        }
    }
}

/// Why no token could be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Unsafe(#[from] UnsafePath),
    #[error(transparent)]
    NoStateDir(#[from] NoStateDir),
    #[error("{} is empty", .0.display())]
    Empty(PathBuf),
}

/// What to look for: `given` (the caller's), the caller's token file, and where the addon's own
/// file for `port` is when the server is on this machine (`local_port`).
pub struct Lookup<'a> {
    pub given: Option<&'a str>,
    pub file: Option<&'a Path>,
    pub local_port: Option<u16>,
    pub state_dir: Option<&'a Path>,
}

/// Where the token would be looked for, for a message when none was found.
pub fn where_looked(lookup: &Lookup) -> String {
    let mut places = vec![format!("{TOKEN_ENV}")];
    if let Some(file) = lookup.file {
        places.push(file.display().to_string());
    } else if let Some(port) = lookup.local_port {
        match token_file(port, lookup.state_dir) {
            Ok(path) => places.push(path.display().to_string()),
            Err(err) => places.push(err.to_string()),
        }
    } else {
        places.push(
            "no token file for a Blender on another host (give one with --token-file)".into(),
        );
    }
    places.join(", ")
}

/// The token and where it came from; `Ok(None)` when there is none to find.
pub fn find(lookup: &Lookup) -> Result<Option<(String, TokenSource)>, TokenError> {
    if let Some(token) = lookup.given {
        return Ok(Some((token.to_owned(), TokenSource::Caller)));
    }
    let from_env = std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_owned());
    if let Some(token) = from_env.filter(|t| !t.is_empty()) {
        return Ok(Some((token, TokenSource::Environment)));
    }
    let path = match (lookup.file, lookup.local_port) {
        (Some(file), _) => file.to_path_buf(),
        (None, Some(port)) => token_file(port, lookup.state_dir)?,
        (None, None) => return Ok(None),
    };
    if !path.exists() && lookup.file.is_none() {
        return Ok(None);
    }
    read_token_file(&path).map(|token| Some((token, TokenSource::File(path))))
}

/// A token file's content, once it has been checked to be private.
pub fn read_token_file(path: &Path) -> Result<String, TokenError> {
    private_fs::check_private_file(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|err| UnsafePath(format!("{}: {err}", path.display())))?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(TokenError::Empty(path.to_path_buf()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(dir: &Path, port: u16) -> Lookup<'_> {
        Lookup {
            given: None,
            file: None,
            local_port: Some(port),
            state_dir: Some(dir),
        }
    }

    #[test]
    fn the_token_file_of_a_port_is_read_from_the_given_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            token_file(7001, Some(dir.path())).unwrap(),
            dir.path().join("tokens/7001.token")
        );
        if std::env::var_os(TOKEN_ENV).is_some() {
            return; // the environment wins over files; covered by the e2e tests
        }
        assert_eq!(find(&lookup(dir.path(), 7001)).unwrap(), None);
        let tokens = private_fs::ensure_private_tree(dir.path(), &["tokens"]).unwrap();
        private_fs::write_private_file(&tokens.join("tokens/7001.token"), b"abc123\n").unwrap();
        let (token, source) = find(&lookup(dir.path(), 7001)).unwrap().unwrap();
        assert_eq!(token, "abc123");
        assert_eq!(
            source,
            TokenSource::File(dir.path().join("tokens/7001.token"))
        );
        assert_eq!(find(&lookup(dir.path(), 7002)).unwrap(), None);
        // For a server on another host the local file of the same port is never used.
        let remote = Lookup {
            local_port: None,
            ..lookup(dir.path(), 7001)
        };
        assert_eq!(find(&remote).unwrap(), None);
        assert!(where_looked(&remote).contains("another host"));
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_is_refused_not_used() {
        use std::os::unix::fs::PermissionsExt;
        if std::env::var_os(TOKEN_ENV).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let tokens = private_fs::ensure_private_tree(dir.path(), &["tokens"])
            .unwrap()
            .join("tokens");
        let file = tokens.join("7003.token");
        std::fs::write(&file, "abc").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = find(&lookup(dir.path(), 7003)).unwrap_err();
        assert!(err.to_string().contains("mode 0644"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&file, "  \n").unwrap();
        assert!(matches!(
            find(&lookup(dir.path(), 7003)),
            Err(TokenError::Empty(_))
        ));
    }

    #[test]
    fn a_named_token_file_must_exist_and_the_caller_wins() {
        if std::env::var_os(TOKEN_ENV).is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.token");
        let named = Lookup {
            file: Some(&missing),
            ..lookup(dir.path(), 1)
        };
        assert!(
            find(&named).is_err(),
            "a file the caller named must be there"
        );
        let given = Lookup {
            given: Some("x"),
            ..named
        };
        assert_eq!(
            find(&given).unwrap(),
            Some(("x".to_owned(), TokenSource::Caller))
        );
    }
}
