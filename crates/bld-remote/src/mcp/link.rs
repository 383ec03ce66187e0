//! One MCP session's own link to Blender: its exec connection (the addon keeps one Python
//! namespace per connection, dropped when the connection closes, so this is where the
//! session's variables live) and which Blender answered it last.
//!
//! Over stdio there is one session per process; over HTTP one per `Mcp-Session-Id`, each with a
//! link of its own, all sharing the supervisor (one Blender, one control connection). The exec
//! client connects on the session's first call that needs it and closes when the session's
//! handler is dropped (the session ended, or was deleted or expired), and with it the namespace.

use super::supervisor::{Clients, Target};
use bld_remote_client::Client;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Link {
    /// The exec client, for the target of that generation.
    exec: Mutex<Option<(u64, Client)>>,
    /// The exec client's connection count when the answering Blender was last looked at: while
    /// it is the same, so is the Blender (no lock, no lookup on the hot path of every call).
    seen_connections: AtomicU64,
    /// The Blender that answered this session last: (instance id, pid).
    last_seen: Mutex<Option<(String, u32)>>,
}

impl Link {
    pub fn new() -> Link {
        Link {
            seen_connections: AtomicU64::new(u64::MAX),
            ..Link::default()
        }
    }

    /// This session's clients for `target`: its exec client (a new one when the target
    /// changed: another Blender, or the same one found again) and the shared control client.
    pub fn clients(&self, target: Target) -> Clients {
        let exec = {
            let mut exec = self.exec.lock().expect("exec lock");
            match exec.as_ref() {
                Some((generation, client)) if *generation == target.generation => client.clone(),
                _ => {
                    let client = Client::new(target.options.clone());
                    *exec = Some((target.generation, client.clone()));
                    // A new client counts its connections from zero: look at the next answer
                    // afresh.
                    self.seen_connections.store(u64::MAX, Ordering::Release);
                    client
                }
            }
        };
        Clients {
            exec,
            control: target.control,
            host: target.host,
            port: target.port,
        }
    }

    /// The exec client, if this link ever made one (its namespace may exist in Blender).
    pub fn exec_client(&self) -> Option<Client> {
        self.exec
            .lock()
            .expect("exec lock")
            .as_ref()
            .map(|(_, client)| client.clone())
    }

    /// Whether `exec` is on another connection than when this was last asked (then the Blender
    /// answering may be another one).
    pub fn connection_changed(&self, exec: &Client) -> bool {
        let connections = exec.connection_count();
        self.seen_connections.swap(connections, Ordering::AcqRel) != connections
    }

    /// Notes the Blender that answered this session; returns the one before.
    pub fn saw(&self, instance: String, pid: u32) -> Option<(String, u32)> {
        self.last_seen
            .lock()
            .expect("last_seen lock")
            .replace((instance, pid))
    }
}
