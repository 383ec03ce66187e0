//! What every command needs: where things live, the config file, the instance records, and how
//! to reach a running Blender.

use crate::cli::TrustArgs;
use crate::discovery::{self, DiscoveryError, Found};
use crate::instances::{Record, Registry};
use crate::settings::{ConfigFile, Paths};
use anyhow::{Result, bail};
use bld_remote_client::ClientOptions;
use bld_remote_protocol::{DEFAULT_HOST, DEFAULT_PORT};
use std::path::PathBuf;
use std::time::Duration;

pub struct App {
    pub paths: Paths,
    pub config: ConfigFile,
    pub registry: Registry,
    /// Whom clients trust: flags and environment (`TrustArgs`) over the config file.
    pub trust: TrustArgs,
}

impl App {
    pub fn load(config_flag: Option<PathBuf>, trust: TrustArgs) -> Result<App> {
        let paths = Paths::resolve(config_flag.as_deref())?;
        let config = match &paths.config_file {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let registry = Registry::new(&paths.state_dir);
        let trust = TrustArgs {
            allow_no_auth: trust.allow_no_auth || config.allow_no_auth.unwrap_or(false),
            token_file: trust.token_file.or_else(|| config.token_file.clone()),
            server_address: trust.server_address.or(config.server_address),
        };
        Ok(App {
            paths,
            config,
            registry,
            trust,
        })
    }

    /// `options` with the trust settings applied.
    pub fn trusting(&self, options: ClientOptions) -> ClientOptions {
        ClientOptions {
            allow_no_auth: options.allow_no_auth || self.trust.allow_no_auth,
            token_file: self.trust.token_file.clone(),
            server_address: self.trust.server_address,
            ..options
        }
    }

    /// For checking on a Blender that may or may not be there (see `ClientOptions::probe`).
    pub fn probe_options(&self, host: impl Into<String>, port: u16) -> ClientOptions {
        self.trusting(ClientOptions::probe(host, port))
    }

    /// Finds Blender: `flag`, then BLENDER_PATH, the config file, PATH, usual install places.
    pub fn find_blender(&self, flag: Option<PathBuf>) -> Result<Found, DiscoveryError> {
        discovery::find(&discovery::Inputs::from_environment(
            flag,
            self.config.blender.clone(),
        ))
    }

    pub fn host(&self, flag: Option<String>) -> String {
        flag.or_else(|| self.config.host.clone())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned())
    }

    /// The Blender a command talks to: the port given (flag, env, config); else the only running
    /// instance, or the one on 6688 among several; else 6688 (the addon enabled in a GUI).
    pub fn target(
        &self,
        port_flag: Option<u16>,
        host_flag: Option<String>,
    ) -> Result<(String, u16)> {
        let host = self.host(host_flag);
        if let Some(port) = port_flag.or(self.config.port) {
            return Ok((host, port));
        }
        let live = self.registry.user_blenders();
        match live.as_slice() {
            [] => Ok((host, DEFAULT_PORT)),
            [only] => Ok((only.host.clone(), only.port)),
            many => match many.iter().find(|r| r.port == DEFAULT_PORT) {
                Some(default) => Ok((default.host.clone(), default.port)),
                None => bail!(
                    "several Blenders are running (ports {}); choose one with --port",
                    ports(many)
                ),
            },
        }
    }

    /// Client options for a quick call to a Blender that should already be running.
    pub fn client_options(&self, host: String, port: u16) -> ClientOptions {
        self.trusting(ClientOptions {
            host,
            port,
            retry_for: Duration::from_millis(300),
            ..ClientOptions::default()
        })
    }
}

pub fn ports(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| r.port.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
