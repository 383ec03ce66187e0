//! How a Blender ended, in words an agent can act on: crashed (with the signal, the last lines
//! of Blender's crash report and the agent's own line in it), killed, or exited with a code.
//!
//! Blender (the executable, not the `bpy` module) writes a crash report when it crashes and says
//! where on its output (`Writing: /tmp/blender.crash.txt`); its Python backtrace names the
//! agent's code as `<bld-remote:N>`, the file name the addon compiles it under.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Lines of the crash report shown.
const CRASH_REPORT_LINES: usize = 12;
/// Lines of the log shown when there is no crash report.
const LOG_LINES: usize = 6;

/// What ended a process, as its exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// A signal that means a bug in the process: segmentation fault, abort, bus error, …
    Crashed(i32),
    /// SIGKILL or SIGTERM: someone (or the kernel, out of memory) ended it.
    Killed(i32),
}

impl Ending {
    pub fn of(status: ExitStatus) -> Ending {
        if let Some(code) = status.code() {
            return Ending::Exited(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return if matches!(signal, libc::SIGKILL | libc::SIGTERM | libc::SIGINT) {
                    Ending::Killed(signal)
                } else {
                    Ending::Crashed(signal)
                };
            }
        }
        Ending::Exited(-1)
    }

    pub fn describe(self) -> String {
        match self {
            Ending::Exited(0) => "exited (code 0)".to_owned(),
            Ending::Exited(code) => format!("exited with code {code}"),
            Ending::Crashed(signal) => format!("crashed ({})", signal_name(signal)),
            Ending::Killed(signal) => format!("was killed ({})", signal_name(signal)),
        }
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// "Blender (pid N) crashed (SIGSEGV)", then the crash report's last lines (or the log's) and
/// the agent's line when the report names it. The crash report is where Blender's output says
/// it wrote it, or in its temp dir (where the addon's output capture may have swallowed that
/// line: it crashed during a call).
pub fn report(
    pid: u32,
    ending: Option<Ending>,
    log: Option<&Path>,
    temp_dir: Option<&Path>,
) -> String {
    let mut text = match ending {
        Some(ending) => format!("Blender (pid {pid}) {}", ending.describe()),
        None => format!("Blender (pid {pid}) is gone"),
    };
    let log_text = log.and_then(|path| std::fs::read_to_string(path).ok());
    let crash = log_text
        .as_deref()
        .and_then(crash_report_path)
        .or_else(|| temp_dir.and_then(crash_report_in))
        .filter(|_| matches!(ending, Some(Ending::Crashed(_))));
    let crash_text = crash
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok());
    if let Some(report) = &crash_text {
        if let Some(line) = agent_line(report) {
            text.push_str(&format!(" in your code, line {line}"));
        }
        let path = crash.as_ref().expect("read from it");
        text.push_str(&format!(
            ". Its crash report ({}) ends:\n{}",
            path.display(),
            tail(report, CRASH_REPORT_LINES)
        ));
    } else if let Some(log_text) = &log_text {
        let last = tail(log_text, LOG_LINES);
        if !last.is_empty() {
            text.push_str(&format!(". Its last output:\n{last}"));
        }
    }
    text
}

/// The newest `*.crash.txt` in `dir`.
fn crash_report_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".crash.txt"))
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .map(|entry| entry.path())
}

/// The crash report Blender said it wrote (the last `Writing: ….crash.txt` line of its output).
pub fn crash_report_path(log: &str) -> Option<PathBuf> {
    log.lines()
        .rev()
        .filter_map(|line| line.trim().strip_prefix("Writing: "))
        .find(|path| path.ends_with(".crash.txt"))
        .map(PathBuf::from)
}

/// The line of the agent's code the Python backtrace stopped in (the innermost
/// `File "<bld-remote:N>", line L` frame).
pub fn agent_line(report: &str) -> Option<u32> {
    report
        .lines()
        .filter(|line| line.contains("\"<bld-remote:"))
        .filter_map(|line| line.split("line ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
}

fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    kept[kept.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH: &str = "# Blender 3.4.1, Unknown revision\n\n# backtrace\n\n# Python backtrace\n  File \"/usr/lib/python3.11/ctypes/__init__.py\", line 519 in string_at\n  File \"<bld-remote:3>\", line 2 in <module>\n";

    #[cfg(unix)]
    #[test]
    fn exit_statuses_are_told_apart() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(Ending::of(ExitStatus::from_raw(3 << 8)), Ending::Exited(3));
        assert_eq!(Ending::of(ExitStatus::from_raw(11)), Ending::Crashed(11));
        assert_eq!(Ending::of(ExitStatus::from_raw(9)), Ending::Killed(9));
        assert_eq!(Ending::Crashed(11).describe(), "crashed (SIGSEGV)");
        assert_eq!(Ending::Killed(9).describe(), "was killed (SIGKILL)");
        assert_eq!(Ending::Exited(4).describe(), "exited with code 4");
        assert_eq!(Ending::Crashed(31).describe(), "crashed (signal 31)");
    }

    #[test]
    fn the_crash_report_and_the_agents_line_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let crash = dir.path().join("blender.crash.txt");
        std::fs::write(&crash, CRASH).unwrap();
        let log = dir.path().join("blender.log");
        std::fs::write(
            &log,
            format!(
                "Blender 3.4.1\nREADY port=1\nWriting: {}\n",
                crash.display()
            ),
        )
        .unwrap();
        let text = report(42, Some(Ending::Crashed(11)), Some(&log), None);
        assert!(
            text.starts_with(
                "Blender (pid 42) crashed (SIGSEGV) in your code, line 2. Its crash report"
            ),
            "{text}"
        );
        assert!(text.contains("string_at"), "{text}");
        assert_eq!(agent_line(CRASH), Some(2));
        assert_eq!(agent_line("no frames"), None);
    }

    #[test]
    fn without_a_crash_report_the_log_tail_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("blender.log");
        std::fs::write(&log, "a\nb\n\nc\n").unwrap();
        let text = report(7, Some(Ending::Killed(9)), Some(&log), Some(dir.path()));
        assert_eq!(
            text,
            "Blender (pid 7) was killed (SIGKILL). Its last output:\n  a\n  b\n  c"
        );
        assert_eq!(report(7, None, None, None), "Blender (pid 7) is gone");
    }

    #[test]
    fn a_crash_report_swallowed_from_the_log_is_found_in_the_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blender.crash.txt"), CRASH).unwrap();
        let text = report(9, Some(Ending::Crashed(11)), None, Some(dir.path()));
        assert!(
            text.contains("in your code, line 2") && text.contains("blender.crash.txt"),
            "{text}"
        );
        let killed = report(9, Some(Ending::Killed(9)), None, Some(dir.path()));
        assert_eq!(
            killed, "Blender (pid 9) was killed (SIGKILL)",
            "an old report is not this death's"
        );
    }
}
