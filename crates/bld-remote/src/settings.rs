//! Settings: command-line flag, then environment variable (both through clap), then the TOML
//! config file, then the default. The config file lives in the platform config dir
//! (`~/.config/bld-remote/config.toml` on Linux) or wherever `--config` / `BLD_REMOTE_CONFIG` say.

use anyhow::{Context, Result, anyhow, bail};
use bld_remote_protocol::BlenderMode;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Every key the config file may hold; an unknown key is an error, so typos do not pass silently.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Blender executable (or a Python that has the `bpy` module).
    pub blender: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `execute_code` timeout, seconds.
    pub timeout: Option<f64>,
    /// What `start` runs without `--background`/`--gui`.
    pub mode: Option<BlenderMode>,
    /// Seconds `start` waits for Blender to answer.
    pub ready_timeout: Option<f64>,
    /// Seconds `stop` waits after the shutdown request before signalling.
    pub stop_grace: Option<f64>,
    /// `bld-remote mcp` starts a headless Blender when none answers.
    pub spawn: Option<bool>,
    /// `bld-remote mcp` keeps a pool of up to this many headless Blenders (`--pool`).
    pub pool: Option<usize>,
    /// Accept Blenders whose server has authentication off.
    pub allow_no_auth: Option<bool>,
    /// Token file to prove instead of the addon's file for the port.
    pub token_file: Option<PathBuf>,
    /// The address Blender listens on behind a tunnel or port forward.
    pub server_address: Option<std::net::SocketAddr>,
}

/// The value of a `mode` key that is a string but no [`BlenderMode`].
fn unknown_mode(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let mode = table.get("mode")?.as_str()?;
    serde_json::from_value::<BlenderMode>(serde_json::Value::from(mode))
        .is_err()
        .then(|| mode.to_owned())
}

pub const CONFIG_ENV: &str = "BLD_REMOTE_CONFIG";

/// Where things live. Never a shared temp dir: a file planted there by another user could be
/// taken for ours (a config naming another program as Blender, say).
#[derive(Debug, Clone)]
pub struct Paths {
    /// `None` when there is no home to find it in (and none was given): no config file is read.
    pub config_file: Option<PathBuf>,
    /// Instance records, tokens, detached Blenders' logs.
    pub state_dir: PathBuf,
    /// The extracted addon and the install zip.
    pub cache_dir: PathBuf,
}

impl Paths {
    pub fn resolve(config_flag: Option<&Path>) -> Result<Paths> {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let config_file = config_flag
            .map(Path::to_path_buf)
            .or_else(|| env_path(CONFIG_ENV))
            .or_else(|| dirs::config_dir().map(|dir| dir.join("bld-remote/config.toml")));
        // One definition, shared with the client and the addon (where tokens are written).
        let state_dir = bld_remote_client::token::state_dir()?;
        // The cache (extracted addon) goes under the state dir when there is no cache dir.
        let cache_dir = dirs::cache_dir()
            .map(|dir| dir.join("bld-remote"))
            .unwrap_or_else(|| state_dir.join("cache"));
        Ok(Paths {
            config_file,
            state_dir,
            cache_dir,
        })
    }
}

impl ConfigFile {
    /// Reads the config file; a missing file is an empty config, a malformed one an error.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        check_config_owner(path)?;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(err) => {
                return Err(err).with_context(|| format!("reading config file {}", path.display()));
            }
        };
        toml::from_str(&text).map_err(|err| match unknown_mode(&text) {
            // Said plainly rather than as serde's "unknown variant" with a caret under it.
            Some(mode) => anyhow!(
                "invalid config file {}: mode must be \"background\" or \"gui\", not {mode:?}",
                path.display()
            ),
            None => anyhow!(err).context(format!("invalid config file {}", path.display())),
        })
    }
}

/// The config names the program run as Blender: one another user could write would let them
/// run anything as this user. It must belong to this user (or root) and be writable by no one else.
fn check_config_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(()); // missing: defaults; unreadable: reported by the read
        };
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && meta.uid() != 0 {
            bail!(
                "config file {} belongs to uid {}, not to you: it could make bld-remote run any \
                 program; remove it or point BLD_REMOTE_CONFIG at a file of your own",
                path.display(),
                meta.uid()
            );
        }
        if meta.mode() & 0o022 != 0 {
            bail!(
                "config file {} can be written by other users (mode {:04o}): it could make \
                 bld-remote run any program; fix: chmod go-w {}",
                path.display(),
                meta.mode() & 0o7777,
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ConfigFile::load(&dir.path().join("none.toml")).unwrap(),
            ConfigFile::default()
        );
    }

    #[test]
    fn every_key_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "blender = \"/opt/b/blender\"\nhost = \"::1\"\nport = 7000\ntimeout = 5.5\nmode = \"gui\"\nready_timeout = 90\nstop_grace = 3\npool = 4\n").unwrap();
        let config = ConfigFile::load(&path).unwrap();
        assert_eq!(config.blender.as_deref(), Some(Path::new("/opt/b/blender")));
        assert_eq!(
            (config.host.as_deref(), config.port, config.timeout),
            (Some("::1"), Some(7000), Some(5.5))
        );
        assert_eq!(
            (config.mode, config.ready_timeout, config.stop_grace),
            (Some(BlenderMode::Gui), Some(90.0), Some(3.0))
        );
        assert_eq!(config.pool, Some(4));
    }

    #[cfg(unix)]
    #[test]
    fn a_config_file_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "port = 7000\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = format!("{:#}", ConfigFile::load(&path).unwrap_err());
        assert!(
            err.contains("can be written by other users (mode 0666)"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ConfigFile::load(&path).unwrap().port, Some(7000));
    }

    #[test]
    fn the_trust_keys_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "allow_no_auth = true\ntoken_file = \"/x/t.token\"\nserver_address = \"127.0.0.1:6688\"\n",
        )
        .unwrap();
        let config = ConfigFile::load(&path).unwrap();
        assert_eq!(config.allow_no_auth, Some(true));
        assert_eq!(config.token_file.as_deref(), Some(Path::new("/x/t.token")));
        assert_eq!(
            config.server_address,
            Some("127.0.0.1:6688".parse().unwrap())
        );
    }

    #[test]
    fn typos_and_bad_values_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for (text, expected) in [
            ("prot = 1\n", "unknown field `prot`"),
            ("port = \"x\"\n", "invalid type"),
            ("port = 70000\n", "port"),
            ("mode = \"window\"\n", "mode must be"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", ConfigFile::load(&path).unwrap_err());
            assert!(
                err.contains(expected) && err.contains("config.toml"),
                "{text}: {err}"
            );
        }
    }
}
