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
