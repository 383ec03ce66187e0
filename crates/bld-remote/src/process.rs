//! Processes by PID: alive?, the same process as before?, terminate, kill. `bld-remote` only
//! ever signals PIDs it started itself and recorded (see `instances.rs`), and checks the
//! recorded start time first, so a PID reused by an unrelated process is never signalled.

use std::time::{Duration, Instant};

/// True if `pid` names a live process (zombies count as gone: they have already exited).
///
/// On Linux every thread is looked at, not only the main one: a killed multi-threaded process
/// (Blender) shows its main thread as a zombie while other threads are still exiting, and
/// those still hold its sockets; its port is free only once they are all gone.
pub fn is_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let live = |stat: &str| stat_state(stat).is_some_and(|state| state != 'Z' && state != 'X');
        match std::fs::read_dir(format!("/proc/{pid}/task")) {
            Ok(tasks) => tasks.flatten().any(|task| {
                std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| live(&stat))
            }),
            Err(_) => false,
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // SAFETY: kill with signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// True once `pid`'s main thread has exited (or the pid is gone): the process is dead or dying.
/// Its other threads may still hold its sockets for a moment (see [`is_alive`]).
pub fn has_exited(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat_state(&stat).is_none_or(|state| state == 'Z' || state == 'X'),
            Err(_) => true,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        !is_alive(pid)
    }
}

/// When the process started (clock ticks since boot, Linux), to tell a process from a later one
/// that got the same PID. `None` where unknown; then the PID alone is trusted.
pub fn start_identity(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 22 (starttime); the command name (field 2) may contain spaces, so count from
        // the closing parenthesis.
        let after_name = &stat[stat.rfind(')')? + 1..];
        after_name.split_whitespace().nth(19)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

#[cfg(target_os = "linux")]
fn stat_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether `pid` is still the process that was recorded with `identity`.
pub fn is_same_process(pid: u32, identity: Option<u64>) -> bool {
    is_alive(pid) && (identity.is_none() || start_identity(pid) == identity)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Kill,
}

/// Sends `signal` to `pid`. Errors if the process is gone or signalling is unsupported here.
pub fn send(pid: u32, signal: Signal) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let number = match signal {
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        let pid =
            libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
        // SAFETY: plain kill(2) on a positive pid (never 0 or -1, which would hit groups).
        if pid > 0 && unsafe { libc::kill(pid, number) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, signal);
        Err(std::io::Error::other(
            "stopping processes by signal is only supported on Unix",
        ))
    }
}

/// Waits up to `limit` for `pid` to exit; true if it did.
pub async fn wait_gone(pid: u32, identity: Option<u64>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_same_process(pid, identity) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_has_a_stable_identity() {
        let me = std::process::id();
        assert!(is_alive(me));
        let identity = start_identity(me);
        assert!(identity.is_some());
        assert_eq!(start_identity(me), identity);
        assert!(is_same_process(me, identity));
        assert!(
            !is_same_process(me, identity.map(|t| t + 1)),
            "a different start time is another process"
        );
    }

    #[test]
    fn a_name_with_spaces_and_parentheses_does_not_confuse_the_parser() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        assert_eq!(stat_state(stat), Some('S'));
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        assert_eq!(after.split_whitespace().nth(19), Some("987654"));
    }

    #[tokio::test]
    async fn a_terminated_child_is_seen_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let identity = start_identity(pid);
        assert!(is_same_process(pid, identity));
        send(pid, Signal::Terminate).unwrap();
        // Until reaped the child is a zombie, which counts as gone.
        assert!(wait_gone(pid, identity, Duration::from_secs(5)).await);
        child.wait().unwrap();
        assert!(
            send(pid, Signal::Kill).is_err(),
            "signalling a reaped pid fails"
        );
    }
}
