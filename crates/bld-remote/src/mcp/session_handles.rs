//! Session handles: server-minted names for Python namespaces in Blender, shared by every MCP
//! session of this process (stdio, HTTP sessions, stateless HTTP requests).
//!
//! Why: a namespace used to hang off the transport's session (one exec connection per stdio
//! process or `Mcp-Session-Id`), but the 2026-07-28 protocol has no sessions: each request is
//! served on its own. A client that wants its variables kept asks `new_session` for a handle and
//! passes it as `session`; calls with the same handle share one namespace (the addon's named
//! namespace of that name, docs/protocol.md §5 "Namespaces"), on the handle's own exec
//! connection (so a long call of one handle never holds up another's).
//!
//! A handle is a name, not a credential: whoever passes it shares the namespace (they are already
//! authenticated by the transport). It is random only so that two clients never pick the same one
//! by accident. A handle idle for the idle timeout expires: using it then says so (a bounded list
//! of expired names tells "expired" from "never existed"), and the reaper (`mcp::run`) has Blender
//! forget its namespace. A handle with a call in flight never expires.

use super::seat::Seat;
use bld_remote_protocol::Command;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How handles are spelled: this prefix, then 24 lowercase hex digits (96 random bits).
const PREFIX: &str = "s-";
const RANDOM_HEX_DIGITS: usize = 24;
/// Live handles at most: each may hold a connection to Blender (whose addon takes 256 by
/// default), and a client minting in a loop must meet a limit, not exhaust Blender.
pub const MAX_LIVE: usize = 128;
/// Expired names remembered, to answer "expired" rather than "unknown".
const REMEMBERED_EXPIRED: usize = 4096;
/// The default idle timeout (`--handle-idle-timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

pub struct SessionHandles {
    idle_timeout: Duration,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    live: HashMap<String, Arc<Handle>>,
    expired: VecDeque<String>,
    expired_names: HashSet<String>,
    /// Of the expired names, those ended by their caller (`reset_session` with `end`).
    ended_names: HashSet<String>,
}

/// One handle: its name (the namespace's name in Blender) and its own seat (its links to the
/// Blenders it used, its pool worker, the Blender it sticks to).
pub struct Handle {
    pub name: String,
    pub seat: Arc<Seat>,
    activity: Mutex<Activity>,
}

struct Activity {
    last_used: Instant,
    calls: usize,
}

/// A call using a handle: while it lives the handle cannot expire; when it ends, the handle's
/// idle time starts again.
pub struct InUse(Arc<Handle>);

impl Default for SessionHandles {
    fn default() -> SessionHandles {
        SessionHandles::new(DEFAULT_IDLE_TIMEOUT)
    }
}

impl SessionHandles {
    pub fn new(idle_timeout: Duration) -> SessionHandles {
        SessionHandles {
            idle_timeout,
            registry: Mutex::default(),
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// A new handle, or why not (the live limit).
    pub fn mint(&self) -> Result<Arc<Handle>, String> {
        let name = random_name()?;
        let mut registry = self.registry();
        self.expire_idle(&mut registry);
        if registry.live.len() >= MAX_LIVE {
            return Err(format!(
                "too many sessions ({MAX_LIVE} live): reuse one you have (pass it as `session`); \
                 idle ones expire after {} s",
                self.idle_timeout.as_secs_f64()
            ));
        }
        let handle = Arc::new(Handle {
            name: name.clone(),
            seat: Arc::new(Seat::new(name.clone())),
            activity: Mutex::new(Activity {
                last_used: Instant::now(),
                calls: 0,
            }),
        });
        registry.live.insert(name, Arc::clone(&handle));
        Ok(handle)
    }

    /// The handle named `name` for a call, or what is wrong with the name (never made here,
    /// expired), in words the agent can act on.
    pub fn enter(&self, name: &str) -> Result<InUse, String> {
        let mut registry = self.registry();
        self.expire_idle(&mut registry);
        if let Some(handle) = registry.live.get(name) {
            handle.activity().calls += 1;
            return Ok(InUse(Arc::clone(handle)));
        }
        Err(if registry.ended_names.contains(name) {
            format!("session {name} was ended: call new_session for a new one")
        } else if registry.expired_names.contains(name) {
            format!(
                "session {name} expired after {} s without a call: its Python variables are gone. \
                 Call new_session for a new one",
                self.idle_timeout.as_secs_f64()
            )
        } else if !looks_like_a_handle(name) {
            format!(
                "`session` takes a handle from new_session (like s-0123456789abcdef01234567), \
                 not {name:?}"
            )
        } else {
            format!(
                "no session {name} on this server: handles come from new_session and do not \
                 outlive the bld-remote mcp process that made them"
            )
        })
    }

    /// Moves the handles idle for the timeout to the expired list and returns them, so their
    /// namespaces in Blender can be dropped.
    pub fn take_expired(&self) -> Vec<Arc<Handle>> {
        let mut registry = self.registry();
        self.expire_idle(&mut registry)
    }

    pub fn live_count(&self) -> usize {
        self.registry().live.len()
    }

    fn expire_idle(&self, registry: &mut Registry) -> Vec<Arc<Handle>> {
        let now = Instant::now();
        let idle: Vec<String> = registry
            .live
            .values()
            .filter(|handle| {
                let activity = handle.activity();
                activity.calls == 0 && now.duration_since(activity.last_used) >= self.idle_timeout
            })
            .map(|handle| handle.name.clone())
            .collect();
        let mut expired = Vec::with_capacity(idle.len());
        for name in idle {
            if let Some(handle) = registry.live.remove(&name) {
                expired.push(handle);
            }
            if registry.expired.len() >= REMEMBERED_EXPIRED
                && let Some(oldest) = registry.expired.pop_front()
            {
                registry.expired_names.remove(&oldest);
                registry.ended_names.remove(&oldest);
            }
            registry.expired_names.insert(name.clone());
            registry.expired.push_back(name);
        }
        expired
    }

    /// Ends the handle `name` now, as if it had expired (its namespaces are dropped, its pool
    /// worker released once its calls in flight end); later use says it was ended.
    pub fn end(&self, name: &str) -> Result<Arc<Handle>, String> {
        let mut registry = self.registry();
        let Some(handle) = registry.live.remove(name) else {
            return Err(format!("no live session {name} to end"));
        };
        if registry.expired.len() >= REMEMBERED_EXPIRED
            && let Some(oldest) = registry.expired.pop_front()
        {
            registry.expired_names.remove(&oldest);
            registry.ended_names.remove(&oldest);
        }
        registry.expired_names.insert(name.to_owned());
        registry.ended_names.insert(name.to_owned());
        registry.expired.push_back(name.to_owned());
        Ok(handle)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().expect("session handle registry lock")
    }
}

impl Handle {
    /// Whether `job_id` was started with this handle (among the last its seat remembers).
    pub fn has_job(&self, job_id: &str) -> bool {
        self.seat.job_route(job_id).is_some()
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().expect("handle activity lock")
    }
}

impl InUse {
    pub fn handle(&self) -> &Arc<Handle> {
        &self.0
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut activity = self.0.activity();
        activity.calls -= 1;
        activity.last_used = Instant::now();
    }
}

/// Expires idle handles as they come due and has Blender forget their namespaces; runs for the
/// life of the server. Expiry itself does not wait for this (`enter` checks the time): the
/// reaper only frees what expired handles held.
pub async fn reap(handles: Arc<SessionHandles>) {
    let every =
        (handles.idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for handle in handles.take_expired() {
            forget(&handle).await;
        }
    }
}

/// Drops an expired handle's namespace in each Blender it used, through its own exec
/// connections (never starting a Blender for it). A handle that never ran anything has nothing
/// to drop. Its pool worker, if it held one, is reset when the handle is dropped.
pub async fn forget(handle: &Handle) {
    let command = Command::ResetSession {
        session: Some(handle.name.clone()),
    };
    for exec in handle.seat.exec_clients().await {
        match exec.call(&command).await {
            Ok(_) => tracing::debug!(session = %handle.name, "expired: namespace dropped"),
            Err(err) => {
                tracing::debug!(session = %handle.name, %err, "expired; namespace not dropped")
            }
        }
    }
}

fn random_name() -> Result<String, String> {
    let mut bytes = [0u8; RANDOM_HEX_DIGITS / 2];
    getrandom::fill(&mut bytes).map_err(|err| format!("no random bytes for a session: {err}"))?;
    let mut name = String::with_capacity(PREFIX.len() + RANDOM_HEX_DIGITS);
    name.push_str(PREFIX);
    for byte in bytes {
        name.push_str(&format!("{byte:02x}"));
    }
    Ok(name)
}

pub fn looks_like_a_handle(name: &str) -> bool {
    name.strip_prefix(PREFIX).is_some_and(|random| {
        random.len() == RANDOM_HEX_DIGITS
            && random
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::seat::{REMEMBERED_JOBS, Route};

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn handles_are_random_well_formed_and_distinct() {
        let handles = SessionHandles::new(IDLE);
        let (a, b) = (handles.mint().unwrap(), handles.mint().unwrap());
        assert!(looks_like_a_handle(&a.name), "{}", a.name);
        assert_ne!(a.name, b.name);
        assert!(
            !Arc::ptr_eq(&a.seat, &b.seat),
            "each handle has its own seat"
        );
        assert_eq!(handles.live_count(), 2);
    }

    #[test]
    fn unknown_and_malformed_names_are_told_apart() {
        let handles = SessionHandles::new(IDLE);
        let unknown = handles.enter("s-0123456789abcdef01234567").err().unwrap();
        assert!(
            unknown.contains("no session s-0123456789abcdef01234567"),
            "{unknown}"
        );
        let malformed = handles.enter("main").err().unwrap();
        assert!(malformed.contains("not \"main\""), "{malformed}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_handle_expires_and_says_so() {
        let handles = SessionHandles::new(IDLE);
        let name = handles.mint().unwrap().name.clone();
        tokio::time::advance(IDLE - Duration::from_secs(1)).await;
        drop(handles.enter(&name).expect("used within the timeout"));
        // Idle time counts from the end of the last call.
        tokio::time::advance(IDLE - Duration::from_secs(1)).await;
        assert!(handles.take_expired().is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        let expired = handles.take_expired();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].name, name);
        let told = handles.enter(&name).err().unwrap();
        assert!(told.contains("expired after 60 s"), "{told}");
        assert!(told.contains("new_session"), "{told}");
        assert_eq!(handles.live_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handle_with_a_call_in_flight_never_expires() {
        let handles = SessionHandles::new(IDLE);
        let name = handles.mint().unwrap().name.clone();
        let call = handles.enter(&name).unwrap();
        tokio::time::advance(IDLE * 3).await;
        assert!(handles.take_expired().is_empty());
        let second = handles.enter(&name).expect("still live while a call runs");
        drop((call, second));
        tokio::time::advance(IDLE).await;
        // Expiry is decided when the handle is asked for, not only by the reaper.
        assert!(handles.enter(&name).err().unwrap().contains("expired"));
    }

    #[tokio::test(start_paused = true)]
    async fn live_handles_are_capped_and_expired_ones_free_their_place() {
        let handles = SessionHandles::new(IDLE);
        for _ in 0..MAX_LIVE {
            handles.mint().unwrap();
        }
        let refused = handles.mint().err().unwrap();
        assert!(
            refused.contains("too many sessions (128 live)"),
            "{refused}"
        );
        tokio::time::advance(IDLE).await;
        handles.mint().expect("the idle ones expired");
        assert_eq!(handles.live_count(), 1);
    }

    #[test]
    fn an_ended_handle_says_so() {
        let handles = SessionHandles::new(IDLE);
        let name = handles.mint().unwrap().name.clone();
        handles.end(&name).unwrap();
        assert_eq!(handles.live_count(), 0);
        let told = handles.enter(&name).err().unwrap();
        assert!(told.contains("was ended"), "{told}");
        assert!(handles.end(&name).is_err(), "ended once");
    }

    #[test]
    fn jobs_are_remembered_per_handle_boundedly() {
        let handles = SessionHandles::new(IDLE);
        let (a, b) = (handles.mint().unwrap(), handles.mint().unwrap());
        a.seat.remember_job("job-abc123-1", Route::Default);
        assert!(a.has_job("job-abc123-1"));
        assert!(!b.has_job("job-abc123-1"));
        for n in 2..=(REMEMBERED_JOBS + 1) {
            a.seat
                .remember_job(&format!("job-abc123-{n}"), Route::Default);
        }
        assert!(!a.has_job("job-abc123-1"), "the oldest is forgotten");
        assert!(a.has_job(&format!("job-abc123-{}", REMEMBERED_JOBS + 1)));
    }
}
