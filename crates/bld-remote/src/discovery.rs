//! TEMPORARY stub; replaced by the real module.
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Config,
    Path,
    KnownLocation,
}
impl Source {
    pub fn describe(self) -> &'static str {
        "x"
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
}
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub flag: Option<PathBuf>,
    pub env_blender_path: Option<OsString>,
    pub config: Option<PathBuf>,
    pub path_var: Option<OsString>,
    pub home: Option<PathBuf>,
    pub program_files: Vec<PathBuf>,
    pub os: Option<Os>,
    pub root: Option<PathBuf>,
}
impl Inputs {
    pub fn from_environment(flag: Option<PathBuf>, config: Option<PathBuf>) -> Inputs {
        Inputs {
            flag,
            config,
            env_blender_path: std::env::var_os("BLENDER_PATH"),
            ..Default::default()
        }
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub source: Source,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    Missing { path: PathBuf, source: Source },
    NotExecutable { path: PathBuf, source: Source },
    NotFound { tried: Vec<PathBuf> },
}
impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for DiscoveryError {}
pub fn find(inputs: &Inputs) -> Result<Found, DiscoveryError> {
    let p = inputs
        .flag
        .clone()
        .or(inputs.env_blender_path.clone().map(PathBuf::from))
        .or(inputs.config.clone())
        .unwrap_or_else(|| "/usr/bin/blender".into());
    Ok(Found {
        path: p,
        source: Source::Flag,
    })
}
