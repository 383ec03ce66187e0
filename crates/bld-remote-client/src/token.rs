//! Finding the token a bld-remote addon requires (see the addon's `auth.py`): the
//! `BLD_REMOTE_MCP_TOKEN` environment variable, else the file the addon wrote for its port,
//! `<state dir>/tokens/<port>.token`. Looked up at every connect, so a Blender restarted on the
//! same port (with a new token) is reached without restarting the client.

use std::path::{Path, PathBuf};

pub const TOKEN_ENV: &str = "BLD_REMOTE_MCP_TOKEN";
pub const STATE_DIR_ENV: &str = "BLD_REMOTE_STATE_DIR";

/// bld-remote's state dir: `BLD_REMOTE_STATE_DIR`, else the platform state dir (Linux:
/// `$XDG_STATE_HOME/bld-remote` or `~/.local/state/bld-remote`), else local data (macOS,
/// Windows). The addon computes the same path.
pub fn state_dir() -> PathBuf {
    match std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .unwrap_or_else(std::env::temp_dir)
            .join("bld-remote"),
    }
}

/// Where the addon listening on `port` writes its token (under `state_dir`, default [`state_dir()`]).
pub fn token_file(port: u16, state_dir: Option<&Path>) -> PathBuf {
    let base = state_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(self::state_dir);
    base.join("tokens").join(format!("{port}.token"))
}

/// The token for the addon on `port`, if one can be found.
pub fn discover(port: u16, state_dir: Option<&Path>) -> Option<String> {
    let from_env = std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_owned());
    if let Some(token) = from_env.filter(|t| !t.is_empty()) {
        return Some(token);
    }
    let text = std::fs::read_to_string(token_file(port, state_dir)).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_of_a_port_is_read_from_the_given_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            token_file(7001, Some(dir.path())),
            dir.path().join("tokens/7001.token")
        );
        if std::env::var_os(TOKEN_ENV).is_none() {
            assert_eq!(discover(7001, Some(dir.path())), None);
            std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
            std::fs::write(dir.path().join("tokens/7001.token"), "abc123\n").unwrap();
            assert_eq!(discover(7001, Some(dir.path())).as_deref(), Some("abc123"));
            assert_eq!(discover(7002, Some(dir.path())), None);
        }
    }
}
