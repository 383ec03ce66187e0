//! A managed pool of headless Blenders (`bld-remote mcp --pool N`), for parallel agents and
//! evaluation harnesses that each need a Blender of their own.
//!
//! The pool has N slots; each slot is a [`BlenderSupervisor`] in worker mode, which starts its
//! own Blender when first used (never one it finds on a port), restarts it when it died, and
//! stops it when stuck, exactly as `--spawn` does for the one Blender of a plain server. So a
//! crash or a stuck call in a worker is told to the session that holds it, and its next call
//! gets a fresh worker in the same slot.
//!
//! A session (an MCP session, or a session handle) leases one slot for its lifetime, on its
//! first call: its namespace and scene live there. Leases are counted by a fair semaphore of N
//! permits: when all are taken, a new session waits, at most `queue` of them and at most `wait`
//! each, then is told why it got nothing. A permit is held from the lease until the slot is
//! reset after it (`reset_blender`: every namespace and the persist store dropped, factory
//! startup or `--pool-blend` loaded), so a slot is always free and clean when a permit is got:
//! one agent never sees another's scene or variables. A worker that cannot be reset is stopped
//! (the next lease starts a fresh one).
//!
//! Workers are started on demand; `warm` are kept started ahead of demand; a started, unleased
//! worker idle past `idle` beyond the warm ones is stopped. Only Blenders the pool started are
//! ever stopped, by PID and start time (the supervisor's records).

use super::link::Link;
use super::supervisor::{BlenderSupervisor, SupervisorOptions, WorkerSpec};
use crate::app::App;
use bld_remote_protocol::Command;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long a reset may take before the worker is stopped instead.
const RESET_LIMIT: Duration = Duration::from_secs(60);
/// How long a stopped worker has to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Workers at most (N).
    pub size: usize,
    /// Workers kept started while not leased (K).
    pub warm: usize,
    /// The baseline .blend of a worker, else factory startup.
    pub blend: Option<PathBuf>,
    /// How long a session waits for a worker when all are leased.
    pub wait: Duration,
    /// How many sessions may wait at once.
    pub queue: usize,
    /// A started worker not leased for this long (beyond the warm ones) is stopped.
    pub idle: Duration,
    /// The Blender workers run (else discovered).
    pub blender: Option<PathBuf>,
    pub host: Option<String>,
    /// Stop and replace a worker stuck in a C call past its timeout.
    pub restart_stuck: bool,
}

pub struct Pool {
    options: PoolOptions,
    slots: Vec<Slot>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Told whenever a slot is free again after a reset.
    freed: tokio::sync::Notify,
    stats: Stats,
}

struct Slot {
    /// 1-based, as shown (`pool-1`).
    number: usize,
    supervisor: Arc<BlenderSupervisor>,
    state: Mutex<SlotState>,
}

#[derive(Debug, Clone)]
enum SlotState {
    /// Not leased, clean; since when.
    Free {
        since: Instant,
    },
    Leased {
        holder: String,
        since: Instant,
    },
    /// Being reset after a lease, or stopped as idle.
    Cleaning,
}

#[derive(Default)]
struct Stats {
    leases: AtomicU64,
    resets: AtomicU64,
    reset_failures: AtomicU64,
    timed_out: AtomicU64,
    refused_queue_full: AtomicU64,
    reaped: AtomicU64,
}

/// One session's hold on a worker: the worker's supervisor and this lease's own link to it
/// (its exec connection, so its namespace). Dropping it resets the worker and frees the slot.
pub struct Lease {
    pool: Arc<Pool>,
    slot: usize,
    pub link: Arc<Link>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Pool {
    pub fn new(app: Arc<App>, options: PoolOptions) -> Arc<Pool> {
        let slots = (1..=options.size)
            .map(|number| Slot {
                number,
                supervisor: Arc::new(BlenderSupervisor::new(
                    Arc::clone(&app),
                    SupervisorOptions {
                        port: None,
                        host: options.host.clone(),
                        spawn: true,
                        blender: options.blender.clone(),
                        restart_stuck: options.restart_stuck,
                        worker: Some(WorkerSpec {
                            file: options.blend.clone(),
                            label: format!("pool-{number}"),
                        }),
                    },
                )),
                state: Mutex::new(SlotState::Free {
                    since: Instant::now(),
                }),
            })
            .collect();
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(options.size)),
            options,
            slots,
            waiting: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
            stats: Stats::default(),
        })
    }

    /// A worker for `holder` (a name shown in the pool's status): a free slot, started ahead
    /// if possible; else a place in the queue until one is released and reset. The error says
    /// why there is none, in words an agent can act on.
    pub async fn lease(self: &Arc<Pool>, holder: &str) -> Result<Lease, String> {
        self.wait_for_a_reset_rather_than_a_cold_start().await;
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.wait_in_queue().await?,
        };
        let slot = self.take_free_slot(holder);
        self.stats.leases.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(slot = slot + 1, holder, "pool worker leased");
        self.keep_warm();
        Ok(Lease {
            pool: Arc::clone(self),
            slot,
            link: Arc::new(Link::new()),
            permit: Some(permit),
        })
    }

    /// When no started worker is free but one is being reset, waits for that reset (a few
    /// milliseconds) instead of leasing a slot whose Blender must start first (most of a
    /// second, and one process more).
    async fn wait_for_a_reset_rather_than_a_cold_start(&self) {
        loop {
            let freed = self.freed.notified();
            let started_free = self
                .slots
                .iter()
                .any(|slot| slot.free_since().is_some() && slot.started());
            let started_resetting = self
                .slots
                .iter()
                .any(|slot| slot.is_cleaning() && slot.started());
            if started_free || !started_resetting {
                return;
            }
            if tokio::time::timeout(RESET_LIMIT, freed).await.is_err() {
                return;
            }
        }
    }

    async fn wait_in_queue(&self) -> Result<OwnedSemaphorePermit, String> {
        // A worker being reset is as good as free in a moment: waiting for it is not queueing.
        let resetting = self.slots.iter().any(Slot::is_cleaning);
        let position = self.waiting.fetch_add(1, Ordering::AcqRel);
        if position >= self.options.queue && !resetting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.stats
                .refused_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "all {} pool workers are leased and {} sessions already wait (the queue's limit, \
                 --pool-queue): try again later, or end a session you no longer need",
                self.options.size, self.options.queue
            ));
        }
        let acquired =
            tokio::time::timeout(self.options.wait, Arc::clone(&self.permits).acquire_owned())
                .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err("the pool is shutting down".to_owned()),
            Err(_elapsed) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(format!(
                    "all {} pool workers are leased: waited {} s in the queue (--pool-wait) and \
                     none was released. Sessions release theirs when they end (or their handle \
                     expires); try again later",
                    self.options.size,
                    self.options.wait.as_secs_f64()
                ))
            }
        }
    }

    /// With a permit in hand, a free slot: one with a Blender already started if there is one.
    fn take_free_slot(&self, holder: &str) -> usize {
        // Every slot not free holds a permit (leased, or being cleaned with its lease's
        // permit, or reaped with one of its own), and we hold one: a free slot exists.
        let free = || {
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.free_since().is_some())
        };
        let index = free()
            .find(|(_, slot)| slot.started())
            .or_else(|| free().next())
            .map(|(index, _)| index)
            .expect("a free pool slot for every permit");
        *self.slots[index].state() = SlotState::Leased {
            holder: holder.to_owned(),
            since: Instant::now(),
        };
        index
    }

    /// The supervisor of a leased slot.
    pub fn supervisor(&self, slot: usize) -> &Arc<BlenderSupervisor> {
        &self.slots[slot].supervisor
    }

    /// Starts workers ahead of demand until `warm` free ones run (never more than N in all).
    pub fn keep_warm(self: &Arc<Pool>) {
        if self.permits.is_closed() {
            return;
        }
        let (mut warm_now, mut cold) = (0, Vec::new());
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.free_since().is_none() {
                continue;
            }
            if slot.started() {
                warm_now += 1;
            } else {
                cold.push(index);
            }
        }
        cold.truncate(self.options.warm.saturating_sub(warm_now));
        for index in cold {
            let pool = Arc::clone(self);
            tokio::spawn(async move {
                let slot = &pool.slots[index];
                // A lease may take the slot meanwhile: its first call then waits for this
                // start (the supervisor's lock) instead of starting one of its own.
                if let Err(err) = slot.supervisor.target().await {
                    tracing::warn!(slot = slot.number, %err, "could not start a warm pool worker");
                }
            });
        }
    }

    /// Back from a lease: reset the worker, then free the slot and its permit.
    fn release(self: &Arc<Pool>, slot: usize, permit: OwnedSemaphorePermit) {
        *self.slots[slot].state() = SlotState::Cleaning;
        let pool = Arc::clone(self);
        let reset = async move {
            pool.reset(slot).await;
            pool.set_free(slot, permit);
            pool.keep_warm();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(reset);
            }
            // No runtime: the process is ending, and the pool's shutdown stops every worker.
            Err(_) => tracing::debug!(slot = slot + 1, "released while shutting down"),
        }
    }

    /// Resets a worker to the baseline, or stops it when that fails (the next lease starts a
    /// fresh one). A worker that is not running needs nothing.
    async fn reset(&self, slot: usize) {
        let supervisor = &self.slots[slot].supervisor;
        if !self.slots[slot].started() || self.permits.is_closed() {
            return;
        }
        let command = Command::ResetBlender {
            file: self
                .options
                .blend
                .as_ref()
                .map(|file| file.to_string_lossy().into_owned()),
        };
        let outcome = tokio::time::timeout(RESET_LIMIT, async {
            let target = supervisor.target().await?;
            target
                .control
                .call(&command)
                .await
                .map_err(|err| err.to_string())
        })
        .await;
        match outcome {
            Ok(Ok(_)) => {
                self.stats.resets.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(slot = slot + 1, "pool worker reset");
            }
            failed => {
                let why = match failed {
                    Ok(Err(err)) => err,
                    _ => format!("no answer within {} s", RESET_LIMIT.as_secs()),
                };
                self.stats.reset_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(slot = slot + 1, %why, "pool worker could not be reset: stopping it");
                supervisor.shutdown_within(STOP_GRACE).await;
            }
        }
    }

    /// A slot free again (reset, or stopped as idle), and the permit held meanwhile given back.
    fn set_free(&self, slot: usize, permit: OwnedSemaphorePermit) {
        *self.slots[slot].state() = SlotState::Free {
            since: Instant::now(),
        };
        drop(permit);
        self.freed.notify_waiters();
    }

    /// Stops started workers that nobody leased for `idle`, beyond the warm ones. Runs for the
    /// life of the server.
    pub async fn reap(self: Arc<Pool>) {
        let every =
            (self.options.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.reap_once().await;
        }
    }

    async fn reap_once(&self) {
        let now = Instant::now();
        let mut started_free: Vec<(usize, Instant)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.started())
            .filter_map(|(index, slot)| Some((index, slot.free_since()?)))
            .collect();
        // The most recently used stay warm.
        started_free.sort_by_key(|(_, since)| std::cmp::Reverse(*since));
        for (index, since) in started_free.into_iter().skip(self.options.warm) {
            if now.duration_since(since) < self.options.idle {
                continue;
            }
            // A permit of its own while it stops, so a lease never finds no free slot.
            let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
                return;
            };
            let slot = &self.slots[index];
            {
                let mut state = slot.state();
                if !matches!(*state, SlotState::Free { since: now_since } if now_since == since) {
                    continue;
                }
                *state = SlotState::Cleaning;
            }
            tracing::info!(slot = slot.number, "idle pool worker stopped");
            slot.supervisor.shutdown_within(STOP_GRACE).await;
            self.stats.reaped.fetch_add(1, Ordering::Relaxed);
            self.set_free(index, permit);
        }
    }

    /// Stops every worker (the server is ending).
    pub async fn shutdown(&self) {
        self.permits.close();
        let mut stops = tokio::task::JoinSet::new();
        for slot in &self.slots {
            let supervisor = Arc::clone(&slot.supervisor);
            stops.spawn(async move { supervisor.close(Duration::from_secs(5)).await });
        }
        stops.join_all().await;
    }

    /// What `blender://pool` and `check_connection_status` show.
    pub fn status(&self) -> PoolStatus {
        let now = Instant::now();
        let workers = self
            .slots
            .iter()
            .map(|slot| {
                let record = slot.supervisor.started_record();
                let (state, holder, for_s) = match slot.state().clone() {
                    SlotState::Free { since } => ("free", None, now.duration_since(since)),
                    SlotState::Leased { holder, since } => {
                        ("leased", Some(holder), now.duration_since(since))
                    }
                    SlotState::Cleaning => ("resetting", None, Duration::ZERO),
                };
                WorkerStatus {
                    worker: format!("pool-{}", slot.number),
                    state,
                    // Started and answering its supervisor (one still starting is not yet).
                    running: record.is_some(),
                    pid: record.as_ref().map(|record| record.pid),
                    port: record.as_ref().map(|record| record.port),
                    leased_by: holder,
                    for_s: (for_s.as_secs_f64() * 10.0).round() / 10.0,
                    replaced: slot.supervisor.replaced(),
                }
            })
            .collect::<Vec<_>>();
        let stats = &self.stats;
        PoolStatus {
            size: self.options.size,
            warm: self.options.warm,
            running: workers.iter().filter(|w| w.running).count(),
            leased: workers.iter().filter(|w| w.state == "leased").count(),
            waiting: self.waiting.load(Ordering::Acquire),
            queue_limit: self.options.queue,
            wait_s: self.options.wait.as_secs_f64(),
            idle_s: self.options.idle.as_secs_f64(),
            baseline: self
                .options
                .blend
                .as_ref()
                .map(|file| file.to_string_lossy().into_owned())
                .unwrap_or_else(|| "factory startup".to_owned()),
            leases: stats.leases.load(Ordering::Relaxed),
            resets: stats.resets.load(Ordering::Relaxed),
            reset_failures: stats.reset_failures.load(Ordering::Relaxed),
            replaced: workers.iter().map(|w| w.replaced).sum(),
            reaped: stats.reaped.load(Ordering::Relaxed),
            timed_out: stats.timed_out.load(Ordering::Relaxed),
            refused_queue_full: stats.refused_queue_full.load(Ordering::Relaxed),
            workers,
        }
    }
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().expect("pool slot lock")
    }

    /// Since when it is free (not leased, not being reset or stopped), if it is.
    fn free_since(&self) -> Option<Instant> {
        match *self.state() {
            SlotState::Free { since } => Some(since),
            _ => None,
        }
    }

    fn is_cleaning(&self) -> bool {
        matches!(*self.state(), SlotState::Cleaning)
    }

    /// Whether its Blender is started (or it is busy with it, so probably).
    fn started(&self) -> bool {
        self.supervisor.has_started_one()
    }
}

impl Lease {
    pub fn supervisor(&self) -> &Arc<BlenderSupervisor> {
        self.pool.supervisor(self.slot)
    }

    /// `pool-<n>`.
    pub fn worker(&self) -> String {
        format!("pool-{}", self.slot + 1)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.pool.release(self.slot, permit);
        }
    }
}

/// The pool as `blender://pool` shows it.
#[derive(Debug, Serialize)]
pub struct PoolStatus {
    pub size: usize,
    pub warm: usize,
    pub running: usize,
    pub leased: usize,
    pub waiting: usize,
    pub queue_limit: usize,
    pub wait_s: f64,
    pub idle_s: f64,
    pub baseline: String,
    pub leases: u64,
    pub resets: u64,
    pub reset_failures: u64,
    /// Workers that crashed, were killed or were stuck, and were replaced.
    pub replaced: u64,
    pub reaped: u64,
    pub timed_out: u64,
    pub refused_queue_full: u64,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Debug, Serialize)]
pub struct WorkerStatus {
    pub worker: String,
    /// `free`, `leased` or `resetting`.
    pub state: &'static str,
    /// Whether its Blender is started.
    pub running: bool,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub leased_by: Option<String>,
    /// Seconds in this state.
    pub for_s: f64,
    pub replaced: u64,
}
