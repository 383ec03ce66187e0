//! Stopping a recorded Blender: a shutdown request first (Blender exits cleanly, jobs
//! cancelled), then SIGTERM, then SIGKILL, each after a grace period. Signals go only to the
//! recorded pid, and only while it is still the same process.

use crate::instances::Record;
use crate::process::{self, Signal};
use bld_remote_client::{Client, ClientOptions};
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
}

impl Outcome {
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::AlreadyGone => "was not running",
            Outcome::ShutDown => "shut down",
            Outcome::Terminated => "did not answer the shutdown request; stopped with SIGTERM",
            Outcome::Killed => "ignored SIGTERM; killed with SIGKILL",
            Outcome::Survived => "is still running after SIGKILL",
        }
    }

    pub fn stopped(self) -> bool {
        self != Outcome::Survived
    }
}

pub async fn stop(record: &Record, grace: Duration) -> Outcome {
    if !record.is_alive() {
        return Outcome::AlreadyGone;
    }
    if request_shutdown(record).await && gone(record, grace).await {
        return Outcome::ShutDown;
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
    let options = ClientOptions::probe(record.host.clone(), record.port);
    let Ok(client) = Client::connect(options).await else {
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
