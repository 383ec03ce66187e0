//! A Blender to run: a Blender executable, or a Python interpreter that has Blender's `bpy`
//! module (PyPI `bpy`), which can only run in background. Builds the command lines that start
//! it with the embedded addon, and asks it for its version.

use anyhow::{Context, Result, bail};
use bld_remote_protocol::BlenderMode;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Executable,
    /// `python` with the `bpy` module: told apart by its file name (`python`, `python3.11`, …).
    PythonBpy,
}

/// What a started Blender should do.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub mode: BlenderMode,
    pub host: &'a str,
    pub port: u16,
    pub addon_package: &'a Path,
    pub ready_file: &'a Path,
    pub blend_file: Option<&'a Path>,
}

#[derive(Debug, Clone)]
pub struct Blender {
    pub path: PathBuf,
    pub kind: Kind,
}

impl Blender {
    pub fn new(path: PathBuf) -> Blender {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let kind = if name.starts_with("python") {
            Kind::PythonBpy
        } else {
            Kind::Executable
        };
        Blender { path, kind }
    }

    /// The command that starts this Blender serving the addon.
    pub fn launch_command(&self, launch: &Launch) -> Result<Command> {
        let mut command = Command::new(&self.path);
        let package = launch.addon_package;
        let mut ours: Vec<String> = vec![
            "--port".into(),
            launch.port.to_string(),
            "--host".into(),
            launch.host.to_owned(),
            "--ready-file".into(),
            launch.ready_file.display().to_string(),
        ];
        match (self.kind, launch.mode) {
            (Kind::Executable, BlenderMode::Background) => {
                if let Some(file) = launch.blend_file {
                    ours.extend(["--blend".into(), file.display().to_string()]);
                }
                command.args(["-b", "--factory-startup", "-noaudio", "--python"]);
                command
                    .arg(package.join("keepalive.py"))
                    .arg("--")
                    .args(&ours);
            }
            (Kind::PythonBpy, BlenderMode::Background) => {
                if let Some(file) = launch.blend_file {
                    ours.extend(["--blend".into(), file.display().to_string()]);
                }
                command.arg(package.join("keepalive.py")).args(&ours);
            }
            (Kind::Executable, BlenderMode::Gui) => {
                // The user's own Blender, preferences and all; the file opens as usual.
                if let Some(file) = launch.blend_file {
                    command.arg(file);
                }
                command
                    .arg("--python")
                    .arg(package.join("gui_start.py"))
                    .arg("--")
                    .args(&ours);
            }
            (Kind::PythonBpy, BlenderMode::Gui) => bail!(
                "{} is a Python with the bpy module, which cannot open a window; \
                 pass a Blender executable with --blender to start --gui",
                self.path.display()
            ),
        }
        Ok(command)
    }

    /// The command that runs `script` (Python source) inside this Blender, in background, with
    /// the user's preferences (no factory startup).
    pub fn script_command(&self, script: &str) -> Command {
        let mut command = Command::new(&self.path);
        match self.kind {
            Kind::Executable => command.args(["-b", "-noaudio", "--python-expr", script]),
            // The bpy module starts with factory preferences; load the user's, as Blender does
            // (and so that a script saving preferences does not overwrite them with defaults).
            Kind::PythonBpy => command.args([
                "-c",
                &format!("import bpy\nbpy.ops.wm.read_userpref()\n{script}"),
            ]),
        };
        command
    }

    /// Blender's version (`3.4.1`), asked from Blender itself.
    pub async fn version(&self) -> Result<String> {
        let mut command = match self.kind {
            Kind::Executable => {
                let mut c = Command::new(&self.path);
                c.arg("--version");
                c
            }
            Kind::PythonBpy => {
                let mut c = Command::new(&self.path);
                c.args(["-c", "import bpy, sys; sys.stdout.write('Blender ' + bpy.app.version_string + '\\n')"]);
                c
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .with_context(|| {
                format!(
                    "{} did not report its version within 60 s",
                    self.path.display()
                )
            })?
            .with_context(|| format!("could not run {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match parse_version(&stdout) {
            Some(version) => Ok(version),
            None => bail!(
                "{} is not Blender (its version output was {:?}{})",
                self.path.display(),
                stdout.lines().next().unwrap_or(""),
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .map(|l| format!("; {l}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Marks the line of a script's output that carries its JSON result.
pub const RESULT_MARKER: &str = "BLD_REMOTE_RESULT ";

impl Blender {
    /// Runs `script` in this Blender (background, user preferences) with `env` set, and returns
    /// the JSON the script printed after [`RESULT_MARKER`].
    pub async fn run_script(
        &self,
        script: &str,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Result<serde_json::Value> {
        let mut command = self.script_command(script);
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(limit, command.output())
            .await
            .with_context(|| {
                format!(
                    "{} did not finish within {} s",
                    self.path.display(),
                    limit.as_secs()
                )
            })?
            .with_context(|| format!("could not run {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout
            .lines()
            .find_map(|line| line.strip_prefix(RESULT_MARKER))
        else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr
                .lines()
                .chain(stdout.lines())
                .filter(|l| !l.trim().is_empty())
                .collect();
            bail!(
                "Blender ({}) gave no result; its last output:\n  {}",
                output.status,
                tail[tail.len().saturating_sub(8)..].join("\n  ")
            );
        };
        serde_json::from_str(line)
            .with_context(|| format!("unreadable result from Blender: {line}"))
    }
}

/// `Blender 3.4.1` (possibly after other lines) → `3.4.1`.
pub fn parse_version(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Blender ")?;
        let version = rest.split_whitespace().next()?;
        version.split('.').next()?.parse::<u32>().ok()?;
        Some(version.to_owned())
    })
}

/// `(major, minor)` of a version string.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_blenders_banner() {
        assert_eq!(
            parse_version("Blender 3.4.1\n\tbuild date: unknown\n").as_deref(),
            Some("3.4.1")
        );
        assert_eq!(
            parse_version("Color management: x\nBlender 4.2.0 LTS\n").as_deref(),
            Some("4.2.0")
        );
        assert_eq!(parse_version("Python 3.11.7\n"), None);
        assert_eq!(parse_version("Blender is great"), None);
        assert_eq!(major_minor("4.2.0"), Some((4, 2)));
        assert_eq!(major_minor("x"), None);
    }

    #[test]
    fn python_interpreters_are_told_from_blender() {
        assert_eq!(
            Blender::new("/v/bin/python3.11".into()).kind,
            Kind::PythonBpy
        );
        assert_eq!(
            Blender::new("C:/v/Scripts/python.exe".into()).kind,
            Kind::PythonBpy
        );
        assert_eq!(
            Blender::new("/usr/bin/blender".into()).kind,
            Kind::Executable
        );
        assert_eq!(
            Blender::new("/Applications/Blender.app/Contents/MacOS/Blender".into()).kind,
            Kind::Executable
        );
    }

    fn args(blender: &Blender, mode: BlenderMode, blend: Option<&Path>) -> Result<Vec<String>> {
        let launch = Launch {
            mode,
            host: "127.0.0.1",
            port: 0,
            addon_package: Path::new("/c/bld_remote_mcp"),
            ready_file: Path::new("/s/ready.json"),
            blend_file: blend,
        };
        let command = blender.launch_command(&launch)?;
        Ok(command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn background_blender_runs_keepalive_with_factory_settings() {
        let got = args(
            &Blender::new("/usr/bin/blender".into()),
            BlenderMode::Background,
            Some(Path::new("a.blend")),
        )
        .unwrap();
        assert_eq!(
            got.join(" "),
            "-b --factory-startup -noaudio --python /c/bld_remote_mcp/keepalive.py -- --port 0 --host 127.0.0.1 \
             --ready-file /s/ready.json --blend a.blend"
        );
    }

    #[test]
    fn gui_blender_opens_the_file_and_runs_gui_start() {
        let got = args(
            &Blender::new("/usr/bin/blender".into()),
            BlenderMode::Gui,
            Some(Path::new("a.blend")),
        )
        .unwrap();
        assert_eq!(got[0], "a.blend");
        assert!(!got.contains(&"-b".to_owned()) && !got.contains(&"--factory-startup".to_owned()));
        assert_eq!(got[2], "/c/bld_remote_mcp/gui_start.py");
    }

    #[test]
    fn a_bpy_python_runs_keepalive_directly_and_cannot_open_a_window() {
        let python = Blender::new("/v/bin/python".into());
        let got = args(&python, BlenderMode::Background, None).unwrap();
        assert_eq!(got[0], "/c/bld_remote_mcp/keepalive.py");
        assert!(!got.contains(&"--".to_owned()));
        let err = args(&python, BlenderMode::Gui, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open a window"), "{err}");
    }
}
