//! Settings: command-line flag, then environment variable (both through clap), then the TOML
//! config file, then the default. The config file lives in the platform config dir
//! (`~/.config/bld-remote/config.toml` on Linux) or wherever `--config` / `BLD_REMOTE_CONFIG` say.

use anyhow::{Context, Result, bail};
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
    /// `background` or `gui`: what `start` runs without `--background`/`--gui`.
    pub mode: Option<String>,
    /// Seconds `start` waits for Blender to answer.
    pub ready_timeout: Option<f64>,
    /// Seconds `stop` waits after the shutdown request before signalling.
    pub stop_grace: Option<f64>,
    /// `bld-remote mcp` starts a headless Blender when none answers.
    pub spawn: Option<bool>,
}

pub const CONFIG_ENV: &str = "BLD_REMOTE_CONFIG";

/// Where things live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    /// Instance records and detached Blenders' logs.
    pub state_dir: PathBuf,
    /// The extracted addon and the install zip.
    pub cache_dir: PathBuf,
}

impl Paths {
    pub fn resolve(config_flag: Option<&Path>) -> Paths {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let config_file = config_flag
            .map(Path::to_path_buf)
            .or_else(|| env_path(CONFIG_ENV))
            .unwrap_or_else(|| {
                dirs::config_dir()
                    .unwrap_or_else(std::env::temp_dir)
                    .join("bld-remote/config.toml")
            });
        // One definition, shared with the client and the addon (where tokens are written).
        let state_dir = bld_remote_client::token::state_dir();
        let cache_dir = dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("bld-remote");
        Paths {
            config_file,
            state_dir,
            cache_dir,
        }
    }
}

impl ConfigFile {
    /// Reads the config file; a missing file is an empty config, a malformed one an error.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(err) => {
                return Err(err).with_context(|| format!("reading config file {}", path.display()));
            }
        };
        let config: ConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        if let Some(mode) = &config.mode {
            if mode != "background" && mode != "gui" {
                bail!(
                    "invalid config file {}: mode must be \"background\" or \"gui\", not {mode:?}",
                    path.display()
                );
            }
        }
        Ok(config)
    }
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
        std::fs::write(&path, "blender = \"/opt/b/blender\"\nhost = \"::1\"\nport = 7000\ntimeout = 5.5\nmode = \"gui\"\nready_timeout = 90\nstop_grace = 3\n").unwrap();
        let config = ConfigFile::load(&path).unwrap();
        assert_eq!(config.blender.as_deref(), Some(Path::new("/opt/b/blender")));
        assert_eq!(
            (config.host.as_deref(), config.port, config.timeout),
            (Some("::1"), Some(7000), Some(5.5))
        );
        assert_eq!(
            (
                config.mode.as_deref(),
                config.ready_timeout,
                config.stop_grace
            ),
            (Some("gui"), Some(90.0), Some(3.0))
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
