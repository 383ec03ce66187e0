//! What one caller of tools holds across its calls: an MCP session has one, and so has each
//! session handle. Its links to the Blenders it used (each link is an exec connection, so a
//! Python namespace, in that Blender), its pool lease, the Blender it chose to stick to, and
//! on which Blender each of its jobs runs (so `get_job` finds it without being told).
//!
//! Dropping a seat (the MCP session ended, the handle expired) closes its links, and so its
//! namespaces, and returns its pool worker to be reset.

use super::link::Link;
use super::pool::{Lease, Pool};
use super::supervisor::BlenderSupervisor;
use bld_remote_client::Client;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Job routes remembered per seat (also what `list_jobs` / `get_job` with `session` know of a
/// handle's jobs).
pub(super) const REMEMBERED_JOBS: usize = 256;

/// Which Blender a call goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The server's default Blender (`--port`, the only running one, `--spawn`).
    Default,
    /// This seat's pool worker.
    Pool,
    /// A free pool worker for one call (`blender: "any"`).
    Any,
    /// A Blender of the user's, by address.
    At(String, u16),
}

pub struct Seat {
    /// Shown as a lease's holder: the session handle, or `mcp-<n>` for an MCP session.
    pub name: String,
    default_link: Arc<Link>,
    links: Mutex<HashMap<(String, u16), Arc<Link>>>,
    lease: tokio::sync::Mutex<Option<Lease>>,
    /// The `blender` this seat's calls go to when they name none (`new_session`).
    sticky: Mutex<Option<String>>,
    jobs: Mutex<VecDeque<(String, Route)>>,
}

impl Seat {
    pub fn new(name: String) -> Seat {
        Seat {
            name,
            default_link: Arc::new(Link::new()),
            links: Mutex::default(),
            lease: tokio::sync::Mutex::new(None),
            sticky: Mutex::new(None),
            jobs: Mutex::default(),
        }
    }

    pub fn default_link(&self) -> &Arc<Link> {
        &self.default_link
    }

    /// This seat's link to the Blender at `host:port`.
    pub fn link_at(&self, host: &str, port: u16) -> Arc<Link> {
        let mut links = self.links.lock().expect("seat links lock");
        Arc::clone(
            links
                .entry((host.to_owned(), port))
                .or_insert_with(|| Arc::new(Link::new())),
        )
    }

    /// This seat's pool worker, leased on first use (waiting in the pool's queue if it must):
    /// its supervisor, this seat's link to it, and its name.
    pub async fn leased(
        &self,
        pool: &Arc<Pool>,
    ) -> Result<(Arc<BlenderSupervisor>, Arc<Link>, String), String> {
        let mut lease = self.lease.lock().await;
        if lease.is_none() {
            *lease = Some(pool.lease(&self.name).await?);
        }
        let lease = lease.as_ref().expect("leased above");
        Ok((
            Arc::clone(lease.supervisor()),
            Arc::clone(&lease.link),
            lease.worker(),
        ))
    }

    /// The pool worker this seat holds, if any (not waiting for one).
    pub fn worker(&self) -> Option<String> {
        self.lease.try_lock().ok()?.as_ref().map(Lease::worker)
    }

    pub fn sticky(&self) -> Option<String> {
        self.sticky.lock().expect("sticky lock").clone()
    }

    pub fn stick_to(&self, blender: Option<String>) {
        *self.sticky.lock().expect("sticky lock") = blender;
    }

    /// Notes where a job started by this seat runs.
    pub fn remember_job(&self, job_id: &str, route: Route) {
        let mut jobs = self.jobs.lock().expect("seat jobs lock");
        if jobs.len() >= REMEMBERED_JOBS {
            jobs.pop_front();
        }
        jobs.push_back((job_id.to_owned(), route));
    }

    /// Where a job this seat started runs.
    pub fn job_route(&self, job_id: &str) -> Option<Route> {
        self.jobs
            .lock()
            .expect("seat jobs lock")
            .iter()
            .rev()
            .find(|(id, _)| id == job_id)
            .map(|(_, route)| route.clone())
    }

    /// The exec clients of every link this seat made (their namespaces may exist in Blender).
    pub async fn exec_clients(&self) -> Vec<Client> {
        let mut links = vec![Arc::clone(&self.default_link)];
        links.extend(
            self.links
                .lock()
                .expect("seat links lock")
                .values()
                .cloned(),
        );
        if let Some(lease) = self.lease.lock().await.as_ref() {
            links.push(Arc::clone(&lease.link));
        }
        links.iter().filter_map(|link| link.exec_client()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_keeps_one_link_per_blender() {
        let seat = Seat::new("mcp-1".into());
        let a = seat.link_at("127.0.0.1", 7000);
        assert!(Arc::ptr_eq(&a, &seat.link_at("127.0.0.1", 7000)));
        assert!(!Arc::ptr_eq(&a, &seat.link_at("127.0.0.1", 7001)));
        assert!(!Arc::ptr_eq(&a, seat.default_link()));
    }

    #[test]
    fn job_routes_are_remembered_boundedly() {
        let seat = Seat::new("mcp-1".into());
        seat.remember_job("job-a-1", Route::At("127.0.0.1".into(), 7000));
        assert_eq!(
            seat.job_route("job-a-1"),
            Some(Route::At("127.0.0.1".into(), 7000))
        );
        assert_eq!(seat.job_route("job-a-2"), None);
        for n in 2..=(REMEMBERED_JOBS + 1) {
            seat.remember_job(&format!("job-a-{n}"), Route::Pool);
        }
        assert_eq!(seat.job_route("job-a-1"), None, "the oldest is forgotten");
        assert_eq!(
            seat.job_route(&format!("job-a-{}", REMEMBERED_JOBS + 1)),
            Some(Route::Pool)
        );
    }

    #[test]
    fn the_sticky_choice_is_kept() {
        let seat = Seat::new("s-1".into());
        assert_eq!(seat.sticky(), None);
        seat.stick_to(Some("gui".into()));
        assert_eq!(seat.sticky().as_deref(), Some("gui"));
    }
}
