//! The Blender the MCP server uses, supervised. It is found (or started) lazily: the server
//! starts without a Blender and finds one when a tool is called.
//!
//! One supervisor per server process, shared by all of its MCP sessions (one over stdio; any
//! number over HTTP): they all use the same Blender, and there is one `--spawn` child. Each
//! session has two connections to it: its own exec connection runs that session's code (the
//! addon keeps one Python namespace per connection, so sessions never see each other's
//! variables; [`super::link::Link`]), and the supervisor's control connection, shared by the
//! sessions, carries everything else, so `check_connection_status` or `cancel_job` answer while
//! code runs (a connection handles its requests in order).
//!
//! With `--spawn`, a Blender is started when none answers (as a child of this server, so that
//! its exit status says how it ended), restarted when it has died by the next call or is stuck
//! in a C call past a timeout (`--on-stuck restart`), and stopped when the server ends. Only a
//! Blender this server started is ever stopped or killed.
//!
//! The supervisor also keeps the agent's picture true: which Blender answered last (a new one
//! means the scene and variables from before are gone; each session is told once, through its
//! link), and how each earlier one ended, so that a failed call and a later `get_job` for one of
//! its jobs can say what happened.

use super::link::Link;
use crate::app::App;
use crate::exit_report::{self, Ending};
use crate::instances::Record;
use crate::launcher;
use crate::stopper;
use bld_remote_client::{Client, ClientError, ClientOptions};
use bld_remote_protocol::BlenderMode;
use bld_remote_protocol::Hello;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a failed call waits for the Blender this server started to finish exiting, to say
/// how it ended.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// What one call uses: this session's exec client, the shared control client, and where they
/// go.
#[derive(Clone)]
pub struct Clients {
    pub exec: Client,
    pub control: Client,
    pub host: String,
    pub port: u16,
}

/// How the supervisor finds or starts its Blender.
pub struct SupervisorOptions {
    pub port: Option<u16>,
    pub host: Option<String>,
    /// Start a headless Blender when none answers (`--spawn`).
    pub spawn: bool,
    /// The Blender `--spawn` runs (else discovered as by `start`).
    pub blender: Option<PathBuf>,
    /// Restart a spawned Blender stuck in a C call (`--on-stuck restart`).
    pub restart_stuck: bool,
    /// A pool worker's supervisor (`pool.rs`): it only ever talks to Blenders it started
    /// itself (never one it finds on a port), started with these.
    pub worker: Option<WorkerSpec>,
}

/// How a pool worker's Blender is started.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The baseline .blend it opens (`--pool-blend`), else factory startup.
    pub file: Option<PathBuf>,
    /// Its label in the records (`pool-<slot>`).
    pub label: String,
}

pub struct BlenderSupervisor {
    app: Arc<App>,
    options: SupervisorOptions,
    current: tokio::sync::Mutex<State>,
    /// Blenders it started that died or were stopped as stuck and so were replaced.
    replaced: std::sync::atomic::AtomicU64,
    /// The server is ending ([`Self::close`]): no Blender is started any more.
    closed: std::sync::atomic::AtomicBool,
}

/// The Blender the sessions talk to now: the shared control client and the options each
/// session's exec client is made with. A new target (another generation) means new clients.
#[derive(Clone)]
pub struct Target {
    pub control: Client,
    pub options: ClientOptions,
    pub host: String,
    pub port: u16,
    pub generation: u64,
}

#[derive(Default)]
struct State {
    target: Option<Target>,
    /// Targets made so far (the next one's generation).
    generations: u64,
    /// The Blender this session started (with `--spawn`).
    spawned: Option<Spawned>,
    /// The Blender that answered last, any session: (instance id, pid).
    last_seen: Option<(String, u32)>,
    /// Blenders this session talked to that are gone, and how each ended.
    gone: Vec<Gone>,
}

impl State {
    /// The Blender it started, while that one runs.
    fn running(&self) -> Option<&Spawned> {
        self.spawned.as_ref().filter(|spawned| !spawned.has_ended())
    }
}

/// A Blender this session started, and its exit status once it has ended.
struct Spawned {
    record: Record,
    exit: Arc<Mutex<Option<ExitStatus>>>,
    exited: Arc<tokio::sync::Notify>,
}

impl Spawned {
    fn ending(&self) -> Option<Ending> {
        self.exit.lock().expect("exit lock").map(Ending::of)
    }

    fn has_ended(&self) -> bool {
        self.exit.lock().expect("exit lock").is_some() || self.record.has_exited()
    }

    /// Waits up to `limit` for its exit status.
    async fn wait_ending(&self, limit: Duration) -> Option<Ending> {
        let notified = self.exited.notified();
        if let Some(ending) = self.ending() {
            return Some(ending);
        }
        let _ = tokio::time::timeout(limit, notified).await;
        self.ending()
    }
}

/// A Blender that is gone: its instance id, and what to tell about it.
struct Gone {
    instance: String,
    report: String,
}

impl BlenderSupervisor {
    pub fn new(app: Arc<App>, options: SupervisorOptions) -> BlenderSupervisor {
        BlenderSupervisor {
            app,
            options,
            current: tokio::sync::Mutex::new(State::default()),
            replaced: std::sync::atomic::AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// How many Blenders it started were replaced (crashed, killed, stuck).
    pub fn replaced(&self) -> u64 {
        self.replaced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The record of the Blender it started, while that one runs (not waiting for a call in
    /// progress to finish: `None` when it cannot tell right now).
    pub fn started_record(&self) -> Option<Record> {
        let state = self.current.try_lock().ok()?;
        state.running().map(|spawned| spawned.record.clone())
    }

    /// Where its calls go now, if it has found its Blender (and is not busy looking).
    pub fn address(&self) -> Option<(String, u16)> {
        let state = self.current.try_lock().ok()?;
        state
            .target
            .as_ref()
            .map(|target| (target.host.clone(), target.port))
    }

    /// Whether it has a Blender of its own running (or is busy, and so probably has).
    pub fn has_started_one(&self) -> bool {
        self.current
            .try_lock()
            .map_or(true, |state| state.running().is_some())
    }

    /// The Blender to talk to, resolving (or spawning) it on first use.
    pub async fn target(&self) -> Result<Target, String> {
        let mut state = self.current.lock().await;
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err("bld-remote mcp is shutting down".to_owned());
        }
        if let Some(spawned) = state.spawned.as_ref() {
            if spawned.has_ended() {
                let ending = spawned.wait_ending(EXIT_WAIT).await;
                let record = spawned.record.clone();
                tracing::warn!(
                    pid = record.pid,
                    port = record.port,
                    ending = ending.map(Ending::describe),
                    "the spawned Blender ended; starting another"
                );
                // Said once, with the first reply of the next one, and to get_job of its jobs
                // (unless a failed call already said it).
                if let Some((instance, _)) = state.last_seen.clone() {
                    if !state.gone.iter().any(|gone| gone.instance == instance) {
                        let report = exit_report::report(
                            record.pid,
                            ending,
                            record.log.as_deref(),
                            record.temp_dir.as_deref(),
                        );
                        state.gone.push(Gone { instance, report });
                    }
                }
                // A killed Blender's threads may hold its port a moment longer than its main
                // thread lives: the new one binds the same port once it is free.
                wait_port_closed(&record.host, record.port, Duration::from_secs(5)).await;
                self.app.registry.remove(record.port, record.pid);
                state.spawned = None;
                state.target = None;
                self.replaced
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if let Some(target) = &state.target {
            return Ok(target.clone());
        }
        let (host, port) = match state.spawned.as_ref() {
            // The Blender this session started (on a port it picked, with `--port 0`).
            Some(spawned) => (spawned.record.host.clone(), spawned.record.port),
            // A pool worker never looks for a Blender: it starts its own.
            None if self.options.worker.is_some() => self.start_kept(&mut state).await?,
            None => self
                .app
                .target(self.options.port, self.options.host.clone())
                .map_err(|err| err.to_string())?,
        };
        let (host, port) =
            if self.options.spawn && state.spawned.is_none() && !self.answers(&host, port).await {
                self.start_kept(&mut state).await?
            } else {
                (host, port)
            };
        let options = self.app.client_options(host.clone(), port);
        state.generations += 1;
        let target = Target {
            control: Client::new(options.clone()),
            options,
            host,
            port,
            generation: state.generations,
        };
        state.target = Some(target.clone());
        Ok(target)
    }

    /// After "nothing listening", or a peer that is not a Blender to trust, look for a Blender
    /// again on the next call: one may have been started on another port since (when the port
    /// was not fixed by flag, env or config), or with `--spawn` one is started.
    pub async fn after_error(&self, err: &ClientError) {
        let unfixed = self.options.port.is_none() && self.app.config.port.is_none();
        let look_again = matches!(err, ClientError::NotListening { .. }) || err.is_untrusted_peer();
        if look_again && (unfixed || self.options.spawn || self.options.worker.is_some()) {
            self.current.lock().await.target = None;
        }
    }

    /// The Blender that answered `clients` right now, if it is another than the one that
    /// answered this session (`link`) before: then the session's scene and variables are gone,
    /// and it must be told (the text to tell it).
    pub async fn note_new_blender(&self, link: &Link, clients: &Clients) -> Option<String> {
        if !link.connection_changed(&clients.exec) {
            return None;
        }
        let hello = clients.exec.server().await.ok()?;
        let id = instance_of(&hello);
        let mut state = self.current.lock().await;
        state.last_seen = Some((id.clone(), hello.pid));
        match link.saw(id.clone(), hello.pid) {
            Some((before, pid)) if before != id => {
                let why = state
                    .gone
                    .iter()
                    .rev()
                    .find(|gone| gone.instance == before)
                    .map(|gone| format!(" ({})", first_line(&gone.report)))
                    .unwrap_or_else(|| format!(" (the one before, pid {pid}, is gone)"));
                Some(format!(
                    "new Blender (pid {}){why}: the scene and session variables from before are gone",
                    hello.pid
                ))
            }
            _ => None,
        }
    }

    /// A call failed because Blender closed the connection: what happened to it, as far as
    /// can be told, and what the next call does. Remembers it for later questions about the
    /// jobs of that Blender.
    pub async fn explain_lost(&self, clients: &Clients) -> String {
        let mut state = self.current.lock().await;
        let last_seen = state.last_seen.clone();
        let spawned_here = state
            .spawned
            .as_ref()
            .filter(|spawned| spawned.record.port == clients.port);
        let report = match spawned_here {
            Some(spawned) => {
                let ending = spawned.wait_ending(EXIT_WAIT).await;
                let mut report = exit_report::report(
                    spawned.record.pid,
                    ending,
                    spawned.record.log.as_deref(),
                    spawned.record.temp_dir.as_deref(),
                );
                if ending.is_some() {
                    report.push_str(
                        "\nThe next call starts a new Blender (--spawn): the scene and session \
                         variables from before are gone.",
                    );
                } else {
                    report = format!(
                        "Blender (pid {}) closed the connection and is still running (its server stopped?)",
                        spawned.record.pid
                    );
                }
                report
            }
            None => match &last_seen {
                Some((_, pid)) if !crate::process::is_alive(*pid) => format!(
                    "Blender (pid {pid}) is gone: it exited, crashed or was killed; its scene and \
                     variables are lost. {}",
                    self.next_step()
                ),
                _ => "Blender closed the connection (it exited, or its server was stopped)"
                    .to_owned(),
            },
        };
        if let Some((instance, _)) = last_seen {
            if !state.gone.iter().any(|gone| gone.instance == instance) {
                state.gone.push(Gone {
                    instance,
                    report: report.clone(),
                });
            }
        }
        report
    }

    /// What the next call does when no Blender answers.
    pub fn next_step(&self) -> &'static str {
        if self.options.spawn {
            "The next call starts a new headless Blender (--spawn)."
        } else {
            "Start one with `bld-remote start` (or enable the addon in Blender); the next call connects."
        }
    }

    /// Why a job id is unknown, when it belonged to a Blender that is gone.
    pub async fn lost_job(&self, job_id: &str) -> Option<String> {
        let state = self.current.lock().await;
        let instance = job_instance(job_id)?;
        let gone = state
            .gone
            .iter()
            .rev()
            .find(|gone| gone.instance == instance)?;
        Some(format!(
            "job {job_id} is lost: it belonged to a Blender that is gone. {}",
            gone.report
        ))
    }

    /// The code called `sys.exit`: Blender is exiting. Wait until the Blender this session
    /// started has (so the next call starts a new one instead of reaching a dying one).
    pub async fn expect_exit(&self, clients: &Clients) {
        let mut state = self.current.lock().await;
        let Some(spawned) = state
            .spawned
            .as_ref()
            .filter(|spawned| spawned.record.port == clients.port)
        else {
            state.target = None;
            return;
        };
        let ending = spawned.wait_ending(Duration::from_secs(10)).await;
        if let Some((instance, _)) = state.last_seen.clone() {
            let report = exit_report::report(spawned.record.pid, ending, None, None);
            state.gone.push(Gone {
                instance,
                report: format!("{report} (sys.exit in the agent's code)"),
            });
        }
        state.target = None;
    }

    /// Code outlived its timeout inside a C call on the Blender at `port`. If this session
    /// started that Blender (always headless) and `--on-stuck restart`, stop it (SIGKILL if it
    /// must) and start a fresh one; says what was done. Any other Blender is left alone.
    pub async fn recover_stuck(&self, port: u16) -> Option<String> {
        if !self.options.restart_stuck {
            return None;
        }
        let mut state = self.current.lock().await;
        let spawned = state
            .spawned
            .take_if(|spawned| spawned.record.port == port)?;
        state.target = None;
        self.replaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let record = &spawned.record;
        let outcome = stopper::stop(record, Duration::from_secs(1)).await;
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
        if let Some((instance, _)) = state.last_seen.clone() {
            state.gone.push(Gone {
                instance,
                report: format!("Blender (pid {}) was stuck and was stopped", record.pid),
            });
        }
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
                    fresh.record.pid, fresh.record.port
                );
                state.spawned = Some(fresh);
                Some(note)
            }
            Err(err) => Some(format!(
                "{stopped}. Starting a fresh one failed ({err}); the next call tries again."
            )),
        }
    }

    /// The server is ending: stops the Blender it started, if any, and never starts another
    /// (a start under way finishes first, under the lock, and is then stopped here).
    pub async fn close(&self, grace: Duration) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.shutdown_within(grace).await;
    }

    /// [`Self::shutdown`], killing it if it has not exited `grace` after being asked to.
    pub async fn shutdown_within(&self, grace: Duration) {
        let spawned = {
            let mut state = self.current.lock().await;
            state.target = None;
            state.spawned.take()
        };
        if let Some(spawned) = spawned {
            let record = &spawned.record;
            let outcome = stopper::stop(record, grace).await;
            self.app.registry.remove(record.port, record.pid);
            tracing::info!(
                port = record.port,
                pid = record.pid,
                outcome = outcome.describe(),
                "spawned Blender stopped"
            );
        }
    }

    /// Whether a bld-remote addon answers there (`connect` completes the handshake).
    async fn answers(&self, host: &str, port: u16) -> bool {
        Client::connect(self.app.probe_options(host, port))
            .await
            .is_ok()
    }

    /// Starts a headless Blender (`start_blender`) and keeps it as this supervisor's: its
    /// address.
    async fn start_kept(&self, state: &mut State) -> Result<(String, u16), String> {
        let spawned = self.start_blender().await?;
        let address = (spawned.record.host.clone(), spawned.record.port);
        state.spawned = Some(spawned);
        Ok(address)
    }

    /// Starts a headless Blender as a child of this server, on the fixed port if there is one,
    /// else on a free one; a task keeps its exit status.
    async fn start_blender(&self) -> Result<Spawned, String> {
        let worker = self.options.worker.as_ref();
        let request = launcher::Request {
            mode: BlenderMode::Background,
            host: self.app.host(self.options.host.clone()),
            // A pool worker always on a free port: the fixed one is the user's Blender's.
            port: match worker {
                Some(_) => 0,
                None => self.options.port.or(self.app.config.port).unwrap_or(0),
            },
            blender: self.options.blender.clone(),
            file: worker.and_then(|worker| worker.file.clone()),
            label: worker.map(|worker| worker.label.clone()),
            pool_of: worker.map(|_| std::process::id()),
            no_auth: false,
            guard: false,
            guard_allow: Vec::new(),
            log_to_file: true,
            // Not in the MCP client's process group: its signals are for this server, which
            // then stops Blender itself.
            own_session: true,
            ready_timeout: Duration::from_secs_f64(
                self.app.config.ready_timeout.unwrap_or(120.0).max(1.0),
            ),
        };
        tracing::info!(
            port = request.port,
            "no Blender answers: starting a headless one (--spawn)"
        );
        // This server's own stop signals are watched by `mcp::run`; a start is not interrupted.
        let mut no_signals = crate::signals::StopSignals::none();
        let started = launcher::start(&self.app, &request, &mut no_signals)
            .await
            .map_err(|err| format!("could not start Blender (--spawn): {err:#}"))?;
        let exit = Arc::new(Mutex::new(None));
        let exited = Arc::new(tokio::sync::Notify::new());
        let mut child = started.child;
        tokio::spawn({
            let (exit, exited) = (Arc::clone(&exit), Arc::clone(&exited));
            async move {
                let status = child.wait().await;
                tracing::debug!(?status, "spawned Blender ended");
                if let Ok(status) = status {
                    *exit.lock().expect("exit lock") = Some(status);
                }
                exited.notify_waiters();
            }
        });
        Ok(Spawned {
            record: started.record,
            exit,
            exited,
        })
    }
}

/// Which Blender a hello is from: its instance id (addon 0.2+), else its pid and port.
fn instance_of(hello: &Hello) -> String {
    hello
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("pid{}-port{}", hello.pid, hello.port))
}

/// The instance part of a job id (`job-<instance>-<n>`).
pub fn job_instance(job_id: &str) -> Option<&str> {
    let rest = job_id.strip_prefix("job-")?;
    let (instance, number) = rest.rsplit_once('-')?;
    number.parse::<u64>().ok()?;
    Some(instance)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text).trim_end_matches('.')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_name_their_blender() {
        assert_eq!(job_instance("job-k3x9ab-7"), Some("k3x9ab"));
        assert_eq!(
            job_instance("job-7"),
            None,
            "protocol 1 ids carry no instance"
        );
        assert_eq!(job_instance("job-k3-x"), None);
        assert_eq!(job_instance("task-a-1"), None);
    }
}
