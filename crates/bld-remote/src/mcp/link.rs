//! The MCP server's link to Blender, made lazily: the server starts without a Blender and
//! finds one when a tool is called. Two connections: one runs this MCP session's code (its
//! namespace in Blender belongs to this session), the other carries everything else, so
//! `check_connection_status` or `cancel_job` answer while code runs (a connection handles its
//! requests in order).
//!
//! With `--spawn`, a Blender is started when none answers, restarted when it has died by the
//! next call or is stuck in a C call past a timeout (`--on-stuck restart`), and stopped when
//! the session ends. Only a Blender this session started is ever stopped or killed.

use crate::app::App;
use crate::instances::Record;
use crate::stopper;
use bld_remote_client::{Client, ClientError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Clients {
    pub exec: Client,
    pub control: Client,
    pub host: String,
    pub port: u16,
}

pub struct Link {
    app: Arc<App>,
    port: Option<u16>,
    host: Option<String>,
    spawn: bool,
    restart_stuck: bool,
    current: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    clients: Option<Clients>,
    /// The Blender this session started (with `--spawn`).
    spawned: Option<Record>,
}

impl Link {
    pub fn new(
        app: Arc<App>,
        port: Option<u16>,
        host: Option<String>,
        spawn: bool,
        restart_stuck: bool,
    ) -> Link {
        Link {
            app,
            port,
            host,
            spawn,
            restart_stuck,
            current: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The clients for the Blender to talk to, resolving (or spawning) it on first use.
    pub async fn clients(&self) -> Result<Clients, String> {
        let mut state = self.current.lock().await;
        if let Some(spawned) = &state.spawned {
            if spawned.has_exited() {
                tracing::warn!(
                    pid = spawned.pid,
                    port = spawned.port,
                    "the spawned Blender died; starting another"
                );
                // A killed Blender's threads may hold its port a moment longer than its main
                // thread lives: the new one binds the same port once it is free.
                wait_port_closed(&spawned.host, spawned.port, Duration::from_secs(5)).await;
                self.app.registry.remove(spawned.port, spawned.pid);
                state.spawned = None;
                state.clients = None;
            }
        }
        if let Some(clients) = &state.clients {
            return Ok(clients.clone());
        }
        let (host, port) = self
            .app
            .target(self.port, self.host.clone())
            .map_err(|err| err.to_string())?;
        let (host, port) = if self.spawn && !self.answers(&host, port).await {
            let record = self.start_blender().await?;
            let target = (record.host.clone(), record.port);
            state.spawned = Some(record);
            target
        } else {
            (host, port)
        };
        let options = self.app.client_options(host.clone(), port);
        let clients = Clients {
            exec: Client::new(options.clone()),
            control: Client::new(options),
            host,
            port,
        };
        state.clients = Some(clients.clone());
        Ok(clients)
    }

    /// After "nothing listening", or a peer that is not a Blender to trust, look for a Blender
    /// again on the next call: one may have been started on another port since (when the port
    /// was not fixed by flag, env or config), or with `--spawn` one is started.
    pub async fn after_error(&self, err: &ClientError) {
        let unfixed = self.port.is_none() && self.app.config.port.is_none();
        let look_again = matches!(err, ClientError::NotListening { .. }) || err.is_untrusted_peer();
        if look_again && (unfixed || self.spawn) {
            self.current.lock().await.clients = None;
        }
    }

    /// Code outlived its timeout inside a C call on the Blender at `port`. If this session
    /// started that Blender (always headless) and `--on-stuck restart`, stop it (SIGKILL if it
    /// must) and start a fresh one; says what was done. Any other Blender is left alone.
    pub async fn recover_stuck(&self, port: u16) -> Option<String> {
        if !self.restart_stuck {
            return None;
        }
        let mut state = self.current.lock().await;
        let record = state.spawned.take_if(|record| record.port == port)?;
        state.clients = None;
        let outcome = stopper::stop(&record, Duration::from_secs(1)).await;
        self.app.registry.remove(record.port, record.pid);
        wait_port_closed(&record.host, record.port, Duration::from_secs(5)).await;
        tracing::warn!(
            pid = record.pid,
            port,
            outcome = outcome.describe(),
            "stuck Blender stopped (--on-stuck restart)"
        );
        let stopped = format!(
            "the headless Blender this server started (pid {}) was stuck, so it was stopped ({}); its scene and variables are lost",
            record.pid,
            outcome.describe()
        );
        let mut started = self.start_blender().await;
        if started.is_err() {
            // The port may still look busy for a moment after a SIGKILL: one more try.
            tokio::time::sleep(Duration::from_millis(500)).await;
            started = self.start_blender().await;
        }
        match started {
            Ok(fresh) => {
                let note = format!(
                    "{stopped}. A fresh one runs (pid {}, port {}).",
                    fresh.pid, fresh.port
                );
                state.spawned = Some(fresh);
                Some(note)
            }
            Err(err) => Some(format!(
                "{stopped}. Starting a fresh one failed ({err}); the next call tries again."
            )),
        }
    }

    /// Stops the Blender this session spawned, if any.
    pub async fn shutdown(&self) {
        let spawned = self.current.lock().await.spawned.take();
        if let Some(record) = spawned {
            let outcome = stopper::stop(&record, Duration::from_secs(10)).await;
            self.app.registry.remove(record.port, record.pid);
            tracing::info!(
                port = record.port,
                pid = record.pid,
                outcome = outcome.describe(),
                "spawned Blender stopped"
            );
        }
    }

    /// Whether a bld-remote addon answers there (`connect` completes the `hello` handshake).
    async fn answers(&self, host: &str, port: u16) -> bool {
        Client::connect(self.app.probe_options(host, port))
            .await
            .is_ok()
    }

    /// Runs `bld-remote start --background --detach --json` (this binary), on the fixed port
    /// if there is one, else on a free one.
    async fn start_blender(&self) -> Result<Record, String> {
        let exe = std::env::current_exe()
            .map_err(|err| format!("cannot find bld-remote itself: {err}"))?;
        let port = self.port.or(self.app.config.port).unwrap_or(0).to_string();
        let mut command = tokio::process::Command::new(exe);
        command.args([
            "start",
            "--background",
            "--detach",
            "--json",
            "--port",
            &port,
        ]);
        if let Some(config) = &self.app.paths.config_file {
            command.arg("--config").arg(config);
        }
        command
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        tracing::info!(%port, "no Blender answers: starting a headless one (--spawn)");
        let output = command
            .output()
            .await
            .map_err(|err| format!("could not start Blender: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "could not start Blender (--spawn): {}",
                String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .trim_start_matches("error: ")
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("unreadable start record: {err}"))
    }
}

/// Until nothing accepts connections on `host:port` any more (or `limit`): a Blender that was
/// just killed must have let go of its port before a new one is started on it.
async fn wait_port_closed(host: &str, port: u16, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let connect = tokio::net::TcpStream::connect((host, port));
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(_)) => return,
        }
    }
}
