//! Finding the Blender to run, and saying where it came from.
//!
//! Order: `--blender`, `BLENDER_PATH`, the config file, `blender` on `PATH`, then the usual
//! install places of Linux, macOS and Windows (versioned folders newest first). A path the user
//! gave explicitly (the first three) must exist: it is an error, not a reason to look elsewhere,
//! because silently running a different Blender than the one asked for would be worse. Any
//! executable is accepted, including a Python that has the `bpy` module.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

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
        match self {
            Source::Flag => "--blender",
            Source::Env => "BLENDER_PATH",
            Source::Config => "config file",
            Source::Path => "PATH",
            Source::KnownLocation => "usual install location",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Mac,
    Windows,
}

impl Os {
    pub fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::Mac
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }

    fn executable_name(self) -> &'static str {
        if self == Os::Windows {
            "blender.exe"
        } else {
            "blender"
        }
    }
}

/// Everything discovery reads from the outside world, so tests can supply fakes.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub flag: Option<PathBuf>,
    /// Empty means unset.
    pub env_blender_path: Option<OsString>,
    pub config: Option<PathBuf>,
    pub path_var: Option<OsString>,
    pub home: Option<PathBuf>,
    /// Windows: `%ProgramFiles%`, `%ProgramFiles(x86)%`.
    pub program_files: Vec<PathBuf>,
    /// `None` = `Os::current()`.
    pub os: Option<Os>,
    /// Test hook: prefix of absolute known locations (`/usr/bin/blender` → `<root>/usr/bin/blender`).
    pub root: Option<PathBuf>,
}

impl Inputs {
    pub fn from_environment(flag: Option<PathBuf>, config: Option<PathBuf>) -> Inputs {
        let program_files = ["ProgramFiles", "ProgramFiles(x86)"]
            .iter()
            .filter_map(|name| {
                std::env::var_os(name)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .collect();
        Inputs {
            flag,
            env_blender_path: std::env::var_os("BLENDER_PATH"),
            config,
            path_var: std::env::var_os("PATH"),
            home: dirs::home_dir(),
            program_files,
            os: None,
            root: None,
        }
    }

    fn os(&self) -> Os {
        self.os.unwrap_or_else(Os::current)
    }

    /// An absolute system location, under the test root if there is one.
    fn system(&self, path: &str) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.trim_start_matches('/')),
            None => PathBuf::from(path),
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

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Missing { path, source } => write!(
                f,
                "Blender not found at {} (given by {}); fix the path, or unset it to search PATH and the usual places",
                path.display(),
                source.describe()
            ),
            DiscoveryError::NotExecutable { path, source } => write!(
                f,
                "{} (given by {}) is not an executable Blender; point it at the blender executable itself",
                path.display(),
                source.describe()
            ),
            DiscoveryError::NotFound { tried } => {
                let shown: Vec<String> = tried
                    .iter()
                    .take(12)
                    .map(|p| p.display().to_string())
                    .collect();
                let more = tried.len().saturating_sub(shown.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                write!(
                    f,
                    "Blender not found on PATH or in the usual places (tried {}{more}); install Blender \
                     (https://www.blender.org/download/ or your package manager), or pass --blender PATH / set BLENDER_PATH",
                    shown.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

pub fn find(inputs: &Inputs) -> Result<Found, DiscoveryError> {
    let env = inputs
        .env_blender_path
        .as_ref()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let explicit = [
        (inputs.flag.clone(), Source::Flag),
        (env, Source::Env),
        (inputs.config.clone(), Source::Config),
    ];
    if let Some((path, source)) = explicit
        .into_iter()
        .find_map(|(path, source)| path.map(|p| (p, source)))
    {
        return check_explicit(path, source, inputs.os());
    }
    let mut tried = Vec::new();
    for dir in inputs.path_var.iter().flat_map(std::env::split_paths) {
        let candidate = dir.join(inputs.os().executable_name());
        if is_executable(&candidate, inputs.os()) {
            return Ok(Found {
                path: candidate,
                source: Source::Path,
            });
        }
    }
    tried.push(PathBuf::from(format!(
        "{} on PATH",
        inputs.os().executable_name()
    )));
    for candidate in known_locations(inputs) {
        if is_executable(&candidate, inputs.os()) {
            return Ok(Found {
                path: candidate,
                source: Source::KnownLocation,
            });
        }
        tried.push(candidate);
    }
    Err(DiscoveryError::NotFound { tried })
}

fn check_explicit(path: PathBuf, source: Source, os: Os) -> Result<Found, DiscoveryError> {
    if !path.exists() {
        return Err(DiscoveryError::Missing { path, source });
    }
    let path = if path.is_dir() {
        executable_in_dir(&path, os).ok_or(DiscoveryError::NotExecutable { path, source })?
    } else {
        path
    };
    if !is_executable(&path, os) {
        return Err(DiscoveryError::NotExecutable { path, source });
    }
    Ok(Found { path, source })
}

/// A Blender folder (or `Blender.app`) given instead of the executable.
fn executable_in_dir(dir: &Path, os: Os) -> Option<PathBuf> {
    [
        dir.join(os.executable_name()),
        dir.join("Contents/MacOS/Blender"),
        dir.join("blender"),
    ]
    .into_iter()
    .find(|candidate| is_executable(candidate, os))
}

fn is_executable(path: &Path, os: Os) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    if os != Os::Windows {
        use std::os::unix::fs::PermissionsExt;
        return meta.permissions().mode() & 0o111 != 0;
    }
    let _ = os;
    true
}

/// Step 5 candidates, in order; versioned folders expanded from what exists, newest first.
pub fn known_locations(inputs: &Inputs) -> Vec<PathBuf> {
    let home = inputs.home.clone();
    let mut out = Vec::new();
    match inputs.os() {
        Os::Linux => {
            for fixed in [
                "/usr/bin/blender",
                "/usr/local/bin/blender",
                "/snap/bin/blender",
                "/var/lib/flatpak/exports/bin/org.blender.Blender",
            ] {
                out.push(inputs.system(fixed));
            }
            if let Some(home) = &home {
                out.push(home.join(".local/share/flatpak/exports/bin/org.blender.Blender"));
            }
            let mut parents = vec![inputs.system("/opt")];
            if let Some(home) = &home {
                parents.extend([home.clone(), home.join("Applications")]);
            }
            for parent in parents {
                out.extend(
                    versioned(&parent, "blender", false)
                        .into_iter()
                        .map(|dir| dir.join("blender")),
                );
            }
        }
        Os::Mac => {
            out.push(inputs.system("/Applications/Blender.app/Contents/MacOS/Blender"));
            if let Some(home) = &home {
                out.push(home.join("Applications/Blender.app/Contents/MacOS/Blender"));
            }
            out.extend(
                versioned(&inputs.system("/Applications"), "blender", true)
                    .into_iter()
                    .filter(|app| app.extension().is_some_and(|e| e == "app"))
                    .map(|app| app.join("Contents/MacOS/Blender")),
            );
        }
        Os::Windows => {
            for program_files in &inputs.program_files {
                let foundation = program_files.join("Blender Foundation");
                out.extend(
                    versioned(&foundation, "blender", true)
                        .into_iter()
                        .map(|dir| dir.join("blender.exe")),
                );
            }
            for program_files in &inputs.program_files {
                out.push(program_files.join("Steam/steamapps/common/Blender/blender.exe"));
            }
        }
    }
    out.dedup();
    out
}

/// Entries of `parent` whose name starts with `prefix` (case-insensitive), newest version first.
fn versioned(parent: &Path, prefix: &str, include_plain: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u64>, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_lowercase();
            let rest = name.strip_prefix(prefix)?;
            let version = version_numbers(rest);
            (include_plain || !rest.is_empty()).then(|| (version, entry.path()))
        })
        .collect();
    // Newest first, compared numerically; names without a version last.
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, path)| path).collect()
}

/// The first run of dot-separated numbers in a name: "-4.10.2-linux-x64" → [4, 10, 2].
fn version_numbers(text: &str) -> Vec<u64> {
    let start = text.find(|c: char| c.is_ascii_digit());
    let Some(start) = start else {
        return Vec::new();
    };
    text[start..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("")
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn exe(path: &Path) -> PathBuf {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_path_buf()
    }

    fn inputs(root: &Path) -> Inputs {
        Inputs {
            os: Some(Os::Linux),
            root: Some(root.to_path_buf()),
            home: Some(root.join("home")),
            ..Default::default()
        }
    }

    #[test]
    fn each_level_beats_the_ones_below() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let flag = exe(&root.join("flag/blender"));
        let env = exe(&root.join("env/blender"));
        let config = exe(&root.join("config/blender"));
        let on_path = exe(&root.join("bin/blender"));
        let known = exe(&root.join("usr/bin/blender"));
        let mut i = inputs(root);
        i.path_var = Some(root.join("bin").into_os_string());
        assert_eq!(
            find(&i).unwrap(),
            Found {
                path: on_path,
                source: Source::Path
            }
        );
        i.config = Some(config.clone());
        assert_eq!(
            find(&i).unwrap(),
            Found {
                path: config,
                source: Source::Config
            }
        );
        i.env_blender_path = Some(env.clone().into_os_string());
        assert_eq!(
            find(&i).unwrap(),
            Found {
                path: env,
                source: Source::Env
            }
        );
        i.flag = Some(flag.clone());
        assert_eq!(
            find(&i).unwrap(),
            Found {
                path: flag,
                source: Source::Flag
            }
        );
        let mut only_known = inputs(root);
        only_known.env_blender_path = Some(OsString::new());
        assert_eq!(
            find(&only_known).unwrap(),
            Found {
                path: known,
                source: Source::KnownLocation
            },
            "empty BLENDER_PATH ignored"
        );
    }

    #[test]
    fn an_explicit_path_that_is_wrong_is_an_error_not_a_fall_through() {
        let dir = tempfile::tempdir().unwrap();
        exe(&dir.path().join("usr/bin/blender"));
        let mut i = inputs(dir.path());
        i.env_blender_path = Some("/nope/blender".into());
        let err = find(&i).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::Missing {
                path: "/nope/blender".into(),
                source: Source::Env
            }
        );
        assert!(err.to_string().contains("BLENDER_PATH"));
        let plain = dir.path().join("notes.txt");
        std::fs::write(&plain, "x").unwrap();
        i.env_blender_path = None;
        i.flag = Some(plain.clone());
        assert_eq!(
            find(&i).unwrap_err(),
            DiscoveryError::NotExecutable {
                path: plain,
                source: Source::Flag
            }
        );
    }

    #[test]
    fn a_folder_or_app_bundle_resolves_to_its_executable() {
        let dir = tempfile::tempdir().unwrap();
        let inside = exe(&dir.path().join("blender-4.2/blender"));
        let mut i = inputs(dir.path());
        i.flag = Some(dir.path().join("blender-4.2"));
        assert_eq!(find(&i).unwrap().path, inside);
        let app = exe(&dir.path().join("Blender.app/Contents/MacOS/Blender"));
        i.flag = Some(dir.path().join("Blender.app"));
        assert_eq!(find(&i).unwrap().path, app);
        i.flag = Some(dir.path().join("home"));
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        assert!(matches!(
            find(&i).unwrap_err(),
            DiscoveryError::NotExecutable { .. }
        ));
    }

    #[test]
    fn path_is_searched_in_order_and_skips_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a/blender");
        std::fs::create_dir_all(first.parent().unwrap()).unwrap();
        std::fs::write(&first, "not executable").unwrap();
        let second = exe(&dir.path().join("b/blender"));
        exe(&dir.path().join("c/blender"));
        let mut i = inputs(dir.path());
        i.path_var = Some(
            std::env::join_paths([
                dir.path().join("a"),
                dir.path().join("b"),
                dir.path().join("c"),
            ])
            .unwrap(),
        );
        assert_eq!(find(&i).unwrap().path, second);
    }

    #[test]
    fn versioned_folders_are_newest_first_numerically() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "blender-3.6.0-linux-x64",
            "blender-4.9.1-linux-x64",
            "blender-4.10.0-linux-x64",
            "blender-4.2.3-linux-x64",
        ] {
            exe(&dir.path().join("opt").join(name).join("blender"));
        }
        let found = find(&inputs(dir.path())).unwrap();
        assert_eq!(
            found.path,
            dir.path().join("opt/blender-4.10.0-linux-x64/blender")
        );
        let order: Vec<String> = known_locations(&inputs(dir.path()))
            .iter()
            .filter(|p| p.starts_with(dir.path().join("opt")))
            .map(|p| {
                p.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            order,
            [
                "blender-4.10.0-linux-x64",
                "blender-4.9.1-linux-x64",
                "blender-4.2.3-linux-x64",
                "blender-3.6.0-linux-x64"
            ]
        );
    }

    #[test]
    fn windows_program_files_and_macos_applications() {
        let dir = tempfile::tempdir().unwrap();
        let pf = dir.path().join("Program Files");
        exe(&pf.join("Blender Foundation/Blender 3.6/blender.exe"));
        let newest = exe(&pf.join("Blender Foundation/Blender 4.2/blender.exe"));
        let i = Inputs {
            os: Some(Os::Windows),
            program_files: vec![pf.clone()],
            root: Some(dir.path().into()),
            ..Default::default()
        };
        assert_eq!(
            find(&i).unwrap(),
            Found {
                path: newest,
                source: Source::KnownLocation
            }
        );
        let versioned_app = exe(&dir
            .path()
            .join("Applications/Blender 4.1.app/Contents/MacOS/Blender"));
        let mac = Inputs {
            os: Some(Os::Mac),
            root: Some(dir.path().into()),
            ..Default::default()
        };
        assert_eq!(find(&mac).unwrap().path, versioned_app);
    }

    #[test]
    fn not_found_lists_what_was_tried_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = find(&inputs(dir.path())).unwrap_err();
        let DiscoveryError::NotFound { tried } = &err else {
            panic!("{err}")
        };
        assert!(tried.contains(&dir.path().join("usr/bin/blender")));
        let text = err.to_string();
        assert!(
            text.contains("blender on PATH")
                && text.contains("BLENDER_PATH")
                && text.contains("--blender"),
            "{text}"
        );
    }

    #[test]
    fn version_numbers_are_read_from_names() {
        assert_eq!(version_numbers("-4.10.2-linux-x64"), vec![4, 10, 2]);
        assert_eq!(version_numbers(" 4.2"), vec![4, 2]);
        assert_eq!(version_numbers(".app"), Vec::<u64>::new());
    }
}
