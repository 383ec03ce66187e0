//! Stopping a recorded Blender: a shutdown request first (Blender exits cleanly, jobs
//! cancelled), then SIGTERM, then SIGKILL, each after a grace period. Signals go only to the
//! recorded pid, and only while it is still the same process.

use crate::instances::Record;
use crate::process::{self, Signal};
use bld_remote_client::Client;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AlreadyGone,
    /// Exited after the shutdown request.
    ShutDown,
    Terminated,
    Killed,
    /// Still running after SIGKILL (e.g. stuck in the kernel), or signalling is unsupported.
    Survived,
    /// Did not stop on the shutdown request, and its pid cannot be checked to still be that
    /// Blender (no process start time here), so it was not signalled.
    NotVerified,
}

impl Outcome {
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::AlreadyGone => "was not running",
            Outcome::ShutDown => "shut down",
            Outcome::Terminated => "did not answer the shutdown request; stopped with SIGTERM",
            Outcome::Killed => "ignored SIGTERM; killed with SIGKILL",
            Outcome::Survived => "is still running after SIGKILL",
            Outcome::NotVerified => {
                "did not answer the shutdown request, and its pid cannot be checked to still be \
                 that Blender here, so no signal was sent; stop it yourself if it is"
            }
        }
    }

    pub fn stopped(self) -> bool {
        !matches!(self, Outcome::Survived | Outcome::NotVerified)
    }
}

pub async fn stop(record: &Record, grace: Duration) -> Outcome {
    if !record.is_alive() {
        return Outcome::AlreadyGone;
    }
    if request_shutdown(record).await && gone(record, grace).await {
        return Outcome::ShutDown;
    }
    if record.process_start.is_none() {
        // Where a process's start time cannot be read (off Linux), a recorded pid may by now
        // belong to another program: only the authenticated shutdown request is safe.
        return Outcome::NotVerified;
    }
    if record.is_alive()
        && process::send(record.pid, Signal::Terminate).is_ok()
        && gone(record, grace).await
    {
        return Outcome::Terminated;
    }
    if !record.is_alive() {
        return Outcome::Terminated;
    }
    if process::send(record.pid, Signal::Kill).is_ok() && gone(record, Duration::from_secs(5)).await
    {
        return Outcome::Killed;
    }
    Outcome::Survived
}

async fn gone(record: &Record, limit: Duration) -> bool {
    process::wait_gone(record.pid, record.process_start, limit).await
}

/// Asks the server on the record's port to shut down, if it is that record's Blender.
async fn request_shutdown(record: &Record) -> bool {
    let Ok(client) = Client::connect(record.probe_options()).await else {
        return false;
    };
    match client.server().await {
        // Another process on this port now: not ours to shut down.
        Ok(hello) if hello.pid == record.pid => {}
        _ => return false,
    }
    match client.shutdown(None).await {
        Ok(_) => true,
        // The server may close the connection as it exits.
        Err(err) => err.is_connection_problem(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn record_of(pid: u32, process_start: Option<u64>) -> Record {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // nothing listens there any more: the shutdown request cannot be made
        Record {
            port,
            host: "127.0.0.1".into(),
            pid,
            process_start,
            mode: bld_remote_protocol::BlenderMode::Background,
            blender_version: "3.4.1".into(),
            addon_version: "0.1.0".into(),
            blender_path: "/usr/bin/blender".into(),
            started_at: 1,
            log: None,
            detached: true,
            auth: true,
            temp_dir: None,
            label: None,
            pool_of: None,
        }
    }

    #[tokio::test]
    async fn a_pid_whose_start_time_cannot_be_checked_is_never_signalled() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // As off Linux: no start time recorded, so the pid may by now be another program's.
        let outcome = stop(&record_of(child.id(), None), Duration::from_millis(100)).await;
        assert_eq!(outcome, Outcome::NotVerified);
        assert!(!outcome.stopped());
        assert!(outcome.describe().contains("no signal was sent"));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_verified_pid_is_terminated_when_it_does_not_answer() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let identity = process::start_identity(child.id());
        let outcome = stop(&record_of(child.id(), identity), Duration::from_secs(5)).await;
        assert_eq!(outcome, Outcome::Terminated);
        child.wait().unwrap();
    }
}
