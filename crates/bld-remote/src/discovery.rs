//! Finding the Blender executable to run.
//!
//! Precedence, first match wins:
//! 1. `--blender PATH`, 2. `BLENDER_PATH`, 3. the config file, 4. `blender` on `PATH`,
//! 5. the usual install places for the OS (see [`known_locations`]).
//!
//! Paths from 1–3 are explicit: the user asked for exactly that file, so if it is missing or not
//! executable we report an error instead of quietly running some other Blender. A directory is
//! accepted and resolved to the executable inside it (`Blender.app` included), and any executable
//! file is accepted — e.g. a Python interpreter that has Blender's `bpy` module.
//!
//! Everything read from the outside world comes in through [`Inputs`], so tests can build a fake
//! filesystem in a temporary directory and point discovery at it.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Where the Blender that was found came from.
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

    /// How to correct a bad explicit path, for error messages.
    fn fix(self) -> &'static str {
        match self {
            Source::Flag => "pass --blender the Blender executable or the folder containing it",
            Source::Env => {
                "set BLENDER_PATH to the Blender executable or the folder containing it, \
                 or unset it to search the usual places"
            }
            Source::Config => {
                "fix the Blender path in the config file, or remove it to search the usual places"
            }
            Source::Path | Source::KnownLocation => {
                "pass --blender PATH or set BLENDER_PATH to the Blender executable"
            }
        }
    }
}

// `MacOs` ends with the enum's name; it is the natural spelling, so keep it.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Windows,
}

impl Os {
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else {
            Os::Linux
        }
    }

    fn exe_name(self) -> &'static str {
        match self {
            Os::Windows => "blender.exe",
            Os::Linux | Os::MacOs => "blender",
        }
    }
}

/// Everything discovery reads from the outside world, so tests can supply fakes.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub flag: Option<PathBuf>,
    /// An empty value counts as unset.
    pub env_blender_path: Option<OsString>,
    pub config: Option<PathBuf>,
    pub path_var: Option<OsString>,
    pub home: Option<PathBuf>,
    /// Windows: `%ProgramFiles%`, `%ProgramFiles(x86)%`.
    pub program_files: Vec<PathBuf>,
    /// `None` means [`Os::current`].
    pub os: Option<Os>,
    /// Test hook: prefix for the fixed absolute install locations (`/usr/bin/blender` becomes
    /// `<root>/usr/bin/blender`). `home`, `program_files` and `path_var` are used as given.
    pub root: Option<PathBuf>,
}

impl Inputs {
    /// Reads `BLENDER_PATH`, `PATH`, the home directory and the Program Files variables.
    pub fn from_environment(flag: Option<PathBuf>, config: Option<PathBuf>) -> Inputs {
        let mut program_files: Vec<PathBuf> = Vec::new();
        for var in ["ProgramFiles", "ProgramFiles(x86)"] {
            let dir = std::env::var_os(var).map(PathBuf::from);
            // On 32-bit Windows both variables name the same folder.
            if let Some(dir) =
                dir.filter(|d| !d.as_os_str().is_empty() && !program_files.contains(d))
            {
                program_files.push(dir);
            }
        }
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

    /// A fixed absolute location, moved under `root` when testing.
    fn system(&self, absolute: &str) -> PathBuf {
        match &self.root {
            Some(root) => root.join(absolute.trim_start_matches('/')),
            None => PathBuf::from(absolute),
        }
    }
}

/// The Blender to run and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// An explicit path (flag, env, config) does not exist.
    Missing { path: PathBuf, source: Source },
    /// An explicit path exists but is not an executable file.
    NotExecutable { path: PathBuf, source: Source },
    /// Nothing on PATH or in the usual places; `tried` lists what was checked, with versioned
    /// folders written as patterns such as `/opt/blender*/blender`.
    NotFound { tried: Vec<PathBuf> },
}

const INSTALL_HINT: &str = "install Blender (https://www.blender.org/download/ or your package \
                            manager), or pass --blender PATH / set BLENDER_PATH";

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Missing { path, source } => write!(
                f,
                "Blender not found at {} (from {}): no such file. To fix, {}.",
                path.display(),
                source.describe(),
                source.fix()
            ),
            DiscoveryError::NotExecutable { path, source } => write!(
                f,
                "{} (from {}) is not an executable file. To fix, {}.",
                path.display(),
                source.describe(),
                source.fix()
            ),
            DiscoveryError::NotFound { tried } if tried.is_empty() => {
                write!(f, "Blender was not found. To fix, {INSTALL_HINT}.")
            }
            DiscoveryError::NotFound { tried } => write!(
                f,
                "Blender was not found (looked for {}). To fix, {INSTALL_HINT}.",
                summarize(tried)
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// `a/blender, b/blender, c/Other` → `blender in a, b; Other in c`: one entry per file name,
/// which keeps a long PATH readable.
fn summarize(tried: &[PathBuf]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for path in tried {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let dir = path.parent().unwrap_or(Path::new("")).display().to_string();
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, dirs)) if dirs.contains(&dir) => {}
            Some((_, dirs)) => dirs.push(dir),
            None => groups.push((name, vec![dir])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(name, dirs)| format!("{name} in {}", dirs.join(", ")))
        .collect();
    parts.join("; ")
}

/// Finds Blender, following the precedence in the module documentation.
pub fn find(inputs: &Inputs) -> Result<Found, DiscoveryError> {
    let os = inputs.os();
    let explicit = [
        (inputs.flag.clone(), Source::Flag),
        (
            inputs.env_blender_path.clone().map(PathBuf::from),
            Source::Env,
        ),
        (inputs.config.clone(), Source::Config),
    ];
    for (path, source) in explicit {
        // An empty value (`BLENDER_PATH=`, `blender = ""`) means "not set", not "this file".
        if let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) {
            let path = expand_tilde(path, inputs.home.as_deref());
            return check_explicit(path, source, os);
        }
    }

    let on_path = path_candidates(inputs);
    if let Some(path) = on_path.iter().find(|p| is_executable(p, os)) {
        return Ok(found(path, Source::Path));
    }
    if let Some(path) = known_locations(inputs)
        .iter()
        .find(|p| is_executable(p, os))
    {
        return Ok(found(path, Source::KnownLocation));
    }

    let mut tried = on_path;
    tried.extend(places(inputs).iter().map(Place::pattern));
    Err(DiscoveryError::NotFound { tried })
}

fn found(path: &Path, source: Source) -> Found {
    Found {
        path: path.to_path_buf(),
        source,
    }
}

/// The usual install places for the OS, in the order they are tried. Versioned folders are
/// expanded from what exists on disk, newest version first.
pub fn known_locations(inputs: &Inputs) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in places(inputs).iter().flat_map(Place::expand) {
        // `/Applications/Blender*.app` also matches the plain `Blender.app` listed before it.
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Checks a path the user asked for: it must exist and be executable; a folder is resolved to
/// the executable inside it.
fn check_explicit(path: PathBuf, source: Source, os: Os) -> Result<Found, DiscoveryError> {
    let Ok(meta) = fs::metadata(&path) else {
        return Err(DiscoveryError::Missing { path, source });
    };
    let path = if meta.is_dir() {
        let inside = if has_extension(&path, "app") {
            path.join("Contents/MacOS/Blender")
        } else {
            path.join(os.exe_name())
        };
        if fs::metadata(&inside).is_err() {
            return Err(DiscoveryError::Missing {
                path: inside,
                source,
            });
        }
        inside
    } else {
        path
    };
    if is_executable(&path, os) {
        Ok(Found { path, source })
    } else {
        Err(DiscoveryError::NotExecutable { path, source })
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// `~` and `~/…` in BLENDER_PATH or the config file, where no shell has expanded them.
fn expand_tilde(path: PathBuf, home: Option<&Path>) -> PathBuf {
    match (home, path.strip_prefix("~")) {
        (Some(home), Ok(rest)) if rest.as_os_str().is_empty() => home.to_path_buf(),
        (Some(home), Ok(rest)) => home.join(rest),
        _ => path,
    }
}

/// Unix: a regular file (after following symlinks) with any execute bit. Windows has no such
/// bit, so there (and when simulating Windows in tests) an existing file is enough.
fn is_executable(path: &Path, os: Os) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    if os != Os::Windows {
        use std::os::unix::fs::PermissionsExt;
        return meta.is_file() && meta.permissions().mode() & 0o111 != 0;
    }
    let _ = os;
    meta.is_file()
}

/// `<dir>/blender` for each PATH entry, in order. Empty entries are skipped rather than read as
/// the current directory.
fn path_candidates(inputs: &Inputs) -> Vec<PathBuf> {
    let Some(var) = &inputs.path_var else {
        return Vec::new();
    };
    std::env::split_paths(var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(inputs.os().exe_name()))
        .collect()
}

/// One entry of the install-location list: a fixed file, or every folder in `parent` named
/// `<prefix>*<suffix>` with the executable at `inner` inside it.
enum Place {
    File(PathBuf),
    Versioned {
        parent: PathBuf,
        prefix: &'static str,
        suffix: &'static str,
        inner: &'static str,
    },
}

impl Place {
    fn versioned(
        parent: PathBuf,
        prefix: &'static str,
        suffix: &'static str,
        inner: &'static str,
    ) -> Place {
        Place::Versioned {
            parent,
            prefix,
            suffix,
            inner,
        }
    }

    /// The candidate files, newest version first.
    fn expand(&self) -> Vec<PathBuf> {
        let (parent, prefix, suffix, inner) = match self {
            Place::File(path) => return vec![path.clone()],
            Place::Versioned {
                parent,
                prefix,
                suffix,
                inner,
            } => (parent, *prefix, *suffix, *inner),
        };
        let Ok(entries) = fs::read_dir(parent) else {
            return Vec::new();
        };
        let mut dirs: Vec<(Vec<u64>, String)> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| matches_ignoring_case(name, prefix, suffix))
            .map(|name| (version_in(&name[prefix.len()..]), name))
            .collect();
        // Newest first; unversioned names (plain `blender`) sort last; names break ties so the
        // order never depends on read_dir.
        dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        dirs.into_iter()
            .map(|(_, name)| parent.join(name).join(inner))
            .collect()
    }

    /// How the place reads in an error message, e.g. `/opt/blender*/blender`.
    fn pattern(&self) -> PathBuf {
        match self {
            Place::File(path) => path.clone(),
            Place::Versioned {
                parent,
                prefix,
                suffix,
                inner,
            } => parent.join(format!("{prefix}*{suffix}")).join(inner),
        }
    }
}

/// `name` is `<prefix>*<suffix>`, ASCII case ignored (`Blender-4.2`, `blender-4.2` alike).
fn matches_ignoring_case(name: &str, prefix: &str, suffix: &str) -> bool {
    let head = name.get(..prefix.len());
    let tail = name
        .len()
        .checked_sub(suffix.len())
        .and_then(|at| name.get(at..));
    name.len() >= prefix.len() + suffix.len()
        && head.is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        && tail.is_some_and(|t| t.eq_ignore_ascii_case(suffix))
}

/// The first run of digits and dots as numbers: `-4.10.0-linux-x64` → `[4, 10, 0]`, so versions
/// compare numerically (4.10 > 4.9). No digits → empty, which sorts below any version.
fn version_in(text: &str) -> Vec<u64> {
    let start = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(text.len());
    text[start..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("")
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect()
}

/// The usual install places for the OS, in order of preference.
fn places(inputs: &Inputs) -> Vec<Place> {
    let home = inputs.home.as_deref();
    let mut out = Vec::new();
    match inputs.os() {
        Os::Linux => {
            for fixed in [
                "/usr/bin/blender",
                "/usr/local/bin/blender",
                "/snap/bin/blender",
                "/var/lib/flatpak/exports/bin/org.blender.Blender",
            ] {
                out.push(Place::File(inputs.system(fixed)));
            }
            if let Some(home) = home {
                let flatpak = ".local/share/flatpak/exports/bin/org.blender.Blender";
                out.push(Place::File(home.join(flatpak)));
            }
            // Tarballs unpack to versioned folders such as blender-4.2.1-linux-x64.
            out.push(Place::versioned(
                inputs.system("/opt"),
                "blender",
                "",
                "blender",
            ));
            if let Some(home) = home {
                out.push(Place::versioned(
                    home.to_path_buf(),
                    "blender",
                    "",
                    "blender",
                ));
                out.push(Place::versioned(
                    home.join("Applications"),
                    "blender",
                    "",
                    "blender",
                ));
            }
        }
        Os::MacOs => {
            let inner = "Contents/MacOS/Blender";
            out.push(Place::File(
                inputs.system("/Applications/Blender.app").join(inner),
            ));
            if let Some(home) = home {
                out.push(Place::File(
                    home.join("Applications/Blender.app").join(inner),
                ));
            }
            // Several versions side by side are usually renamed, e.g. `Blender 4.2.app`.
            out.push(Place::versioned(
                inputs.system("/Applications"),
                "Blender",
                ".app",
                inner,
            ));
        }
        Os::Windows => {
            for dir in &inputs.program_files {
                let foundation = dir.join("Blender Foundation");
                out.push(Place::versioned(foundation, "Blender ", "", "blender.exe"));
            }
            for dir in &inputs.program_files {
                let steam = ["Steam", "steamapps", "common", "Blender", "blender.exe"];
                out.push(Place::File(dir.join(steam.iter().collect::<PathBuf>())));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// A fake machine: `root` stands in for `/`, with a home folder inside it.
    struct Fake {
        dir: TempDir,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.dir.path().join(relative)
        }

        /// Creates an executable file (mode 755 on unix) and returns its path.
        fn exe(&self, relative: &str) -> PathBuf {
            let path = self.file(relative);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
            path
        }

        /// Creates a plain file without execute bits.
        fn file(&self, relative: &str) -> PathBuf {
            let path = self.path(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "#!/bin/sh\n").unwrap();
            path
        }

        fn mkdir(&self, relative: &str) -> PathBuf {
            let path = self.path(relative);
            fs::create_dir_all(&path).unwrap();
            path
        }

        /// Linux inputs confined to the fake machine, with PATH made of the given folders.
        fn inputs(&self, path_dirs: &[&str]) -> Inputs {
            let dirs = path_dirs.iter().map(|d| self.path(d));
            Inputs {
                path_var: Some(std::env::join_paths(dirs).unwrap()),
                home: Some(self.path("home/u")),
                os: Some(Os::Linux),
                root: Some(self.dir.path().to_path_buf()),
                ..Inputs::default()
            }
        }
    }

    fn found(path: PathBuf, source: Source) -> Result<Found, DiscoveryError> {
        Ok(Found { path, source })
    }

    /// One Blender at every level, so each test can remove the levels above the one it checks.
    fn everywhere() -> (Fake, Inputs) {
        let fake = Fake::new();
        let mut inputs = fake.inputs(&["bin"]);
        inputs.flag = Some(fake.exe("flag/blender"));
        inputs.env_blender_path = Some(fake.exe("env/blender").into_os_string());
        inputs.config = Some(fake.exe("config/blender"));
        fake.exe("bin/blender");
        fake.exe("usr/bin/blender");
        (fake, inputs)
    }

    #[test]
    fn flag_beats_everything() {
        let (fake, inputs) = everywhere();
        assert_eq!(
            find(&inputs),
            found(fake.path("flag/blender"), Source::Flag)
        );
    }

    #[test]
    fn env_beats_config_path_and_known_locations() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        assert_eq!(find(&inputs), found(fake.path("env/blender"), Source::Env));
    }

    #[test]
    fn config_beats_path_and_known_locations() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        inputs.env_blender_path = None;
        let expected = found(fake.path("config/blender"), Source::Config);
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn path_beats_known_locations() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        inputs.env_blender_path = None;
        inputs.config = None;
        assert_eq!(find(&inputs), found(fake.path("bin/blender"), Source::Path));
    }

    #[test]
    fn known_locations_come_last() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        inputs.env_blender_path = None;
        inputs.config = None;
        inputs.path_var = None;
        let expected = found(fake.path("usr/bin/blender"), Source::KnownLocation);
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn empty_blender_path_is_ignored() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        inputs.env_blender_path = Some(OsString::new());
        let expected = found(fake.path("config/blender"), Source::Config);
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn missing_explicit_path_is_an_error_not_a_fall_through() {
        let (fake, mut inputs) = everywhere();
        let missing = fake.path("nowhere/blender");
        inputs.flag = None;
        inputs.env_blender_path = Some(missing.clone().into_os_string());
        let err = find(&inputs).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::Missing {
                path: missing.clone(),
                source: Source::Env
            }
        );
        let message = err.to_string();
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
        assert!(message.contains("BLENDER_PATH"), "{message}");

        inputs.flag = Some(missing.clone());
        let err = find(&inputs).unwrap_err();
        assert!(matches!(
            err,
            DiscoveryError::Missing {
                source: Source::Flag,
                ..
            }
        ));
        assert!(err.to_string().contains("--blender"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn non_executable_explicit_file_is_an_error() {
        let (fake, mut inputs) = everywhere();
        inputs.flag = None;
        inputs.env_blender_path = None;
        inputs.config = Some(fake.file("scene.blend"));
        let err = find(&inputs).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::NotExecutable {
                path: fake.path("scene.blend"),
                source: Source::Config
            }
        );
        assert!(err.to_string().contains("config file"), "{err}");
    }

    #[test]
    fn any_executable_is_accepted_such_as_a_python_with_bpy() {
        let fake = Fake::new();
        let mut inputs = fake.inputs(&[]);
        inputs.flag = Some(fake.exe("project/.venv/bin/python"));
        let expected = found(fake.path("project/.venv/bin/python"), Source::Flag);
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn explicit_directory_resolves_to_the_executable_inside() {
        let fake = Fake::new();
        let mut inputs = fake.inputs(&[]);
        fake.exe("blender-4.2.1-linux-x64/blender");
        inputs.flag = Some(fake.path("blender-4.2.1-linux-x64"));
        let expected = found(fake.path("blender-4.2.1-linux-x64/blender"), Source::Flag);
        assert_eq!(find(&inputs), expected);

        fake.exe("Blender.app/Contents/MacOS/Blender");
        inputs.flag = Some(fake.path("Blender.app"));
        let expected = found(
            fake.path("Blender.app/Contents/MacOS/Blender"),
            Source::Flag,
        );
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn explicit_directory_without_blender_is_an_error() {
        let fake = Fake::new();
        let mut inputs = fake.inputs(&[]);
        fake.exe("usr/bin/blender"); // must not be used instead
        inputs.flag = Some(fake.mkdir("empty"));
        let expected = DiscoveryError::Missing {
            path: fake.path("empty/blender"),
            source: Source::Flag,
        };
        assert_eq!(find(&inputs), Err(expected));
    }

    #[test]
    fn tilde_in_config_means_home() {
        let fake = Fake::new();
        let mut inputs = fake.inputs(&[]);
        fake.exe("home/u/tools/blender");
        inputs.config = Some(PathBuf::from("~/tools/blender"));
        let expected = found(fake.path("home/u/tools/blender"), Source::Config);
        assert_eq!(find(&inputs), expected);
    }

    #[test]
    fn path_is_searched_in_order() {
        let fake = Fake::new();
        fake.mkdir("a");
        fake.exe("b/blender");
        fake.exe("c/blender");
        let inputs = fake.inputs(&["a", "b", "c"]);
        assert_eq!(find(&inputs), found(fake.path("b/blender"), Source::Path));
    }

    #[cfg(unix)]
    #[test]
    fn path_skips_files_that_are_not_executable() {
        let fake = Fake::new();
        fake.file("a/blender");
        fake.exe("b/blender");
        let inputs = fake.inputs(&["a", "b"]);
        assert_eq!(find(&inputs), found(fake.path("b/blender"), Source::Path));
    }

    #[test]
    fn versions_are_read_as_numbers() {
        assert_eq!(version_in("-4.2.1-linux-x64"), [4, 2, 1]);
        assert_eq!(version_in(" 4.10.app"), [4, 10]);
        assert_eq!(version_in("-git"), Vec::<u64>::new());
        assert!(version_in("-4.10.0") > version_in("-4.9.1"));
    }

    #[test]
    fn linux_versioned_folders_newest_first() {
        let fake = Fake::new();
        for dir in [
            "blender-3.6.5-linux-x64",
            "blender-4.9.1",
            "blender",
            "blender-4.10.0",
            "blender-4.2",
        ] {
            fake.exe(&format!("opt/{dir}/blender"));
        }
        let inputs = fake.inputs(&[]);
        let opt: Vec<PathBuf> = known_locations(&inputs)
            .into_iter()
            .filter(|p| p.starts_with(fake.path("opt")))
            .collect();
        let expected: Vec<PathBuf> = [
            "blender-4.10.0",
            "blender-4.9.1",
            "blender-4.2",
            "blender-3.6.5-linux-x64",
            "blender",
        ]
        .iter()
        .map(|dir| fake.path(&format!("opt/{dir}/blender")))
        .collect();
        assert_eq!(opt, expected);
        let newest = found(
            fake.path("opt/blender-4.10.0/blender"),
            Source::KnownLocation,
        );
        assert_eq!(find(&inputs), newest);
    }

    #[test]
    fn linux_known_locations_in_order() {
        let fake = Fake::new();
        fake.mkdir("home/u/blender-4.2.0-linux-x64");
        fake.mkdir("home/u/Applications/blender-3.6");
        fake.mkdir("home/u/Documents"); // not blender*: ignored
        let flatpak = "exports/bin/org.blender.Blender";
        let expected: Vec<PathBuf> = [
            "usr/bin/blender".to_owned(),
            "usr/local/bin/blender".to_owned(),
            "snap/bin/blender".to_owned(),
            format!("var/lib/flatpak/{flatpak}"),
            format!("home/u/.local/share/flatpak/{flatpak}"),
            "home/u/blender-4.2.0-linux-x64/blender".to_owned(),
            "home/u/Applications/blender-3.6/blender".to_owned(),
        ]
        .iter()
        .map(|p| fake.path(p))
        .collect();
        assert_eq!(known_locations(&fake.inputs(&[])), expected);
    }

    #[test]
    fn macos_app_bundles() {
        let fake = Fake::new();
        let inner = "Contents/MacOS/Blender";
        for app in [
            "Blender.app",
            "Blender 3.6.app",
            "Blender 4.10.app",
            "Blender 4.9.app",
        ] {
            fake.exe(&format!("Applications/{app}/{inner}"));
        }
        let mut inputs = fake.inputs(&[]);
        inputs.os = Some(Os::MacOs);
        let expected: Vec<PathBuf> = [
            "Applications/Blender.app",
            "home/u/Applications/Blender.app",
            "Applications/Blender 4.10.app",
            "Applications/Blender 4.9.app",
            "Applications/Blender 3.6.app",
        ]
        .iter()
        .map(|app| fake.path(app).join(inner))
        .collect();
        assert_eq!(known_locations(&inputs), expected);
        let plain = found(
            fake.path("Applications/Blender.app").join(inner),
            Source::KnownLocation,
        );
        assert_eq!(find(&inputs), plain);
    }

    #[test]
    fn windows_program_files_and_steam() {
        let fake = Fake::new();
        // Plain files: on Windows existing is enough, there is no execute bit.
        for ver in ["3.6", "4.10", "4.9"] {
            fake.file(&format!("pf/Blender Foundation/Blender {ver}/blender.exe"));
        }
        fake.file("pf86/Blender Foundation/Blender 2.93/blender.exe");
        fake.file("pf86/Steam/steamapps/common/Blender/blender.exe");
        fake.file("usr/bin/blender"); // a Linux location: must not be considered
        let mut inputs = fake.inputs(&[]);
        inputs.os = Some(Os::Windows);
        inputs.program_files = vec![fake.path("pf"), fake.path("pf86")];
        let expected: Vec<PathBuf> = [
            "pf/Blender Foundation/Blender 4.10/blender.exe",
            "pf/Blender Foundation/Blender 4.9/blender.exe",
            "pf/Blender Foundation/Blender 3.6/blender.exe",
            "pf86/Blender Foundation/Blender 2.93/blender.exe",
            "pf/Steam/steamapps/common/Blender/blender.exe",
            "pf86/Steam/steamapps/common/Blender/blender.exe",
        ]
        .iter()
        .map(|p| fake.path(p))
        .collect();
        assert_eq!(known_locations(&inputs), expected);
        assert_eq!(
            find(&inputs),
            found(expected[0].clone(), Source::KnownLocation)
        );

        // Steam is found when nothing is in Program Files.
        fs::remove_dir_all(fake.path("pf/Blender Foundation")).unwrap();
        fs::remove_dir_all(fake.path("pf86/Blender Foundation")).unwrap();
        assert_eq!(
            find(&inputs),
            found(expected[5].clone(), Source::KnownLocation)
        );
    }

    #[test]
    fn windows_path_looks_for_blender_exe() {
        let fake = Fake::new();
        fake.file("a/blender");
        fake.file("b/blender.exe");
        let mut inputs = fake.inputs(&["a", "b"]);
        inputs.os = Some(Os::Windows);
        assert_eq!(
            find(&inputs),
            found(fake.path("b/blender.exe"), Source::Path)
        );
    }

    #[test]
    fn not_found_lists_what_was_tried_and_how_to_fix_it() {
        let fake = Fake::new();
        let inputs = fake.inputs(&["a", "b"]);
        let Err(DiscoveryError::NotFound { tried }) = find(&inputs) else {
            panic!("expected NotFound");
        };
        assert_eq!(tried[..2], [fake.path("a/blender"), fake.path("b/blender")]);
        assert!(tried.contains(&fake.path("usr/bin/blender")));
        assert!(tried.contains(&fake.path("opt/blender*/blender")));
        assert!(tried.contains(&fake.path("home/u/blender*/blender")));

        let message = DiscoveryError::NotFound { tried }.to_string();
        for needle in [
            "BLENDER_PATH",
            "--blender PATH",
            "https://www.blender.org/download/",
        ] {
            assert!(message.contains(needle), "{message}");
        }
        // Grouped by file name: "blender in <a>, <b>, ..." rather than every path in full.
        let dirs = format!(
            "blender in {}, {}",
            fake.path("a").display(),
            fake.path("b").display()
        );
        assert!(message.contains(&dirs), "{message}");
        assert!(message.contains("org.blender.Blender in"), "{message}");
    }

    #[test]
    fn nothing_to_search_still_explains_the_fix() {
        let inputs = Inputs {
            os: Some(Os::Windows),
            ..Inputs::default()
        };
        let err = find(&inputs).unwrap_err();
        assert_eq!(err, DiscoveryError::NotFound { tried: Vec::new() });
        assert!(err.to_string().contains("set BLENDER_PATH"), "{err}");
    }

    #[test]
    fn sources_describe_themselves() {
        let all = [
            Source::Flag,
            Source::Env,
            Source::Config,
            Source::Path,
            Source::KnownLocation,
        ];
        let described: Vec<&str> = all.iter().map(|s| s.describe()).collect();
        assert_eq!(
            described,
            [
                "--blender",
                "BLENDER_PATH",
                "config file",
                "PATH",
                "usual install location"
            ]
        );
    }
}
