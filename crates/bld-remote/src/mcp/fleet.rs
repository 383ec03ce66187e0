//! Every Blender one server can reach, and how a `blender` argument picks one.
//!
//! Three kinds: the default Blender (today's behaviour without `blender`: `--port`, the only
//! running one, or the one `--spawn` started), the Blenders this user runs (instance records
//! of `bld-remote start`, and the default port, where a GUI with the addon enabled listens),
//! each reached through a supervisor of its own made on first use (never spawning, never
//! stopping: they are the user's), and the pool's workers (`pool.rs`), which are leased, not
//! picked by name.
//!
//! A name is matched against, in order of cost: the records' labels, pids and ports (a file
//! read, no network), then each Blender's live status (instance id, open .blend file, pid).
//! One match is the answer; none or several is an error listing what exists.

use super::pool::{Pool, PoolStatus};
use super::supervisor::{BlenderSupervisor, SupervisorOptions};
use crate::app::App;
use crate::instances::Record;
use bld_remote_client::Client;
use bld_remote_protocol::{Command, DEFAULT_PORT};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `blender` values with a meaning of their own.
pub const ANY: &str = "any";
pub const POOL: &str = "pool";

pub struct Fleet {
    app: Arc<App>,
    /// The Blender calls without `blender` go to (without a pool).
    pub default: Arc<BlenderSupervisor>,
    pub pool: Option<Arc<Pool>>,
    /// Supervisors of the user's Blenders picked by name, by address.
    routed: Mutex<HashMap<(String, u16), Arc<BlenderSupervisor>>>,
}

/// One Blender as `list_blenders` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BlenderEntry {
    /// Its instance id (changes with every start).
    pub id: Option<String>,
    pub label: Option<String>,
    pub port: u16,
    pub pid: Option<u32>,
    pub mode: Option<String>,
    pub version: Option<String>,
    /// The open .blend ("" when unsaved).
    pub file: Option<String>,
    /// Code running or queued.
    pub busy: Option<bool>,
    /// `bld-remote start`, or `addon` (enabled in a Blender started otherwise).
    pub started_by: &'static str,
    /// Where calls without `blender` go.
    pub default: bool,
    /// Why it could not be asked, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    host: String,
}

impl Fleet {
    pub fn new(app: Arc<App>, default: Arc<BlenderSupervisor>, pool: Option<Arc<Pool>>) -> Fleet {
        Fleet {
            app,
            default,
            pool,
            routed: Mutex::default(),
        }
    }

    /// The supervisor for the user's Blender at `host:port` (made on first use; it never
    /// starts or stops a Blender).
    pub fn supervisor_at(&self, host: &str, port: u16) -> Arc<BlenderSupervisor> {
        let mut routed = self.routed.lock().expect("routed lock");
        Arc::clone(routed.entry((host.to_owned(), port)).or_insert_with(|| {
            Arc::new(BlenderSupervisor::new(
                Arc::clone(&self.app),
                SupervisorOptions {
                    port: Some(port),
                    host: Some(host.to_owned()),
                    spawn: false,
                    blender: None,
                    restart_stuck: false,
                    worker: None,
                },
            ))
        }))
    }

    /// Whether `host:port` is where the default supervisor's calls go now.
    pub fn is_default(&self, host: &str, port: u16) -> bool {
        self.default
            .address()
            .is_some_and(|(default_host, default_port)| {
                default_port == port && default_host == host
            })
    }

    pub fn pool_status(&self) -> Option<PoolStatus> {
        self.pool.as_ref().map(|pool| pool.status())
    }

    /// Every Blender of this user that can be named, asked for its live status.
    pub async fn list(&self) -> Vec<BlenderEntry> {
        let records = self.app.registry.user_blenders();
        let host = self.app.host(None);
        let mut probes = tokio::task::JoinSet::new();
        for (index, record) in records.iter().enumerate() {
            let options = self.app.trusting(record.probe_options());
            probes.spawn(async move { (index, probe(options).await) });
        }
        let default_recorded = records.iter().any(|record| record.port == DEFAULT_PORT);
        if !default_recorded {
            let options = self.app.probe_options(host.clone(), DEFAULT_PORT);
            probes.spawn(async move { (usize::MAX, probe(options).await) });
        }
        let mut answers = probes.join_all().await;
        answers.sort_by_key(|(index, _)| *index);
        let mut entries = Vec::new();
        for (index, answer) in answers {
            let record = records.get(index);
            if record.is_none() && answer.is_err() {
                // Nobody on the default port: nothing to list.
                continue;
            }
            let mut entry = match record {
                Some(record) => entry_of_record(record),
                None => BlenderEntry {
                    id: None,
                    label: None,
                    port: DEFAULT_PORT,
                    pid: None,
                    mode: None,
                    version: None,
                    file: None,
                    busy: None,
                    started_by: "addon",
                    default: false,
                    error: None,
                    host: host.clone(),
                },
            };
            match answer {
                Ok(status) => fill(&mut entry, &status),
                Err(err) => entry.error = Some(err),
            }
            entry.default = self.is_default(&entry.host, entry.port);
            entries.push(entry);
        }
        entries
    }

    /// The Blender `name` picks: its address, or why none (listing what exists).
    pub async fn find(&self, name: &str) -> Result<(String, u16), String> {
        // What the records know (label, pid, port) answers without a network call.
        let recorded: Vec<BlenderEntry> = self
            .app
            .registry
            .user_blenders()
            .iter()
            .map(entry_of_record)
            .filter(|entry| entry.answers_to(name))
            .collect();
        if let [only] = recorded.as_slice() {
            return Ok((only.host.clone(), only.port));
        }
        let entries = self.list().await;
        let matches: Vec<&BlenderEntry> = entries
            .iter()
            .filter(|entry| entry.error.is_none() && entry.answers_to(name))
            .collect();
        match matches.as_slice() {
            [only] => Ok((only.host.clone(), only.port)),
            [] => Err(format!(
                "no Blender is named {name:?}. {}",
                describe_choices(&entries, self.pool.is_some())
            )),
            several => Err(format!(
                "{name:?} names {} Blenders ({}): pick one by id, label or pid",
                several.len(),
                several
                    .iter()
                    .map(|entry| entry.short())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
}

impl BlenderEntry {
    /// Whether `name` is its id, label, pid, port (`6688` or `port:6688`), or its .blend file
    /// (the path, the file name, or the name without `.blend`).
    fn answers_to(&self, name: &str) -> bool {
        let file_matches = self.file.as_deref().is_some_and(|file| {
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            !file.is_empty()
                && (file == name || base == name || base.strip_suffix(".blend") == Some(name))
        });
        self.id.as_deref() == Some(name)
            || self.label.as_deref() == Some(name)
            || self.pid.is_some_and(|pid| pid.to_string() == name)
            || self.port.to_string() == name
            || format!("port:{}", self.port) == name
            || file_matches
    }

    fn short(&self) -> String {
        let mut parts = vec![format!("port {}", self.port)];
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id {id}"));
        }
        if let Some(label) = &self.label {
            parts.push(format!("label {label}"));
        }
        if let Some(file) = self.file.as_deref().filter(|file| !file.is_empty()) {
            parts.push(format!("file {file}"));
        }
        if let Some(mode) = &self.mode {
            parts.push(mode.clone());
        }
        parts.join(", ")
    }
}

/// What a wrong name is told: the Blenders there are, and the special names.
fn describe_choices(entries: &[BlenderEntry], pool: bool) -> String {
    let reachable: Vec<String> = entries
        .iter()
        .filter(|entry| entry.error.is_none())
        .map(BlenderEntry::short)
        .collect();
    let mut text = if reachable.is_empty() {
        "No Blender of yours is running (start one with `bld-remote start --label NAME`)".to_owned()
    } else {
        format!(
            "There are: {} (name one by id, label, pid, port or .blend file; list_blenders \
             shows them)",
            reachable.join("; ")
        )
    };
    if pool {
        text.push_str(". `pool` is this session's pool worker, `any` a free one for one call");
    }
    text
}

fn entry_of_record(record: &Record) -> BlenderEntry {
    BlenderEntry {
        id: None,
        label: record.label.clone(),
        port: record.port,
        pid: Some(record.pid),
        mode: Some(record.mode.to_string()),
        version: Some(record.blender_version.clone()),
        file: None,
        busy: None,
        started_by: "bld-remote start",
        default: false,
        error: None,
        host: record.host.clone(),
    }
}

fn fill(entry: &mut BlenderEntry, status: &Value) {
    let text = |key: &str| status.get(key).and_then(Value::as_str).map(str::to_owned);
    let count = |key: &str| {
        status
            .get("jobs")
            .and_then(|jobs| jobs.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    entry.id = text("instance_id");
    entry.pid = status
        .get("pid")
        .and_then(Value::as_u64)
        .and_then(|pid| u32::try_from(pid).ok())
        .or(entry.pid);
    entry.mode = text("mode").or(entry.mode.take());
    entry.version = text("blender_version").or(entry.version.take());
    entry.file = text("blend_file");
    let queued = status
        .get("queue_length")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    entry.busy = Some(queued + count("running") + count("queued") > 0);
}

/// A Blender's `status`, or why it could not be had.
async fn probe(options: bld_remote_client::ClientOptions) -> Result<Value, String> {
    let client = Client::connect(options)
        .await
        .map_err(|err| err.to_string())?;
    client
        .call(&Command::Status)
        .await
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> BlenderEntry {
        BlenderEntry {
            id: Some("k3x9ab".into()),
            label: Some("gui".into()),
            port: 6688,
            pid: Some(4242),
            mode: Some("gui".into()),
            version: Some("3.4.1".into()),
            file: Some("shots/robot.blend".into()),
            busy: Some(false),
            started_by: "bld-remote start",
            default: false,
            error: None,
            host: "127.0.0.1".into(),
        }
    }

    #[test]
    fn a_blender_answers_to_its_id_label_pid_port_and_file() {
        let entry = entry();
        for name in [
            "k3x9ab",
            "gui",
            "4242",
            "6688",
            "port:6688",
            "robot.blend",
            "robot",
            "shots/robot.blend",
        ] {
            assert!(entry.answers_to(name), "{name}");
        }
        for name in ["", "robo", "k3x9", "headless", "4243", "shots"] {
            assert!(!entry.answers_to(name), "{name}");
        }
    }

    #[test]
    fn an_unsaved_file_matches_nothing() {
        let mut entry = entry();
        entry.file = Some(String::new());
        assert!(!entry.answers_to(""));
        assert!(!entry.answers_to(".blend"));
    }

    #[test]
    fn a_wrong_name_is_told_what_exists() {
        let mut gone = entry();
        gone.error = Some("nothing listening".into());
        gone.port = 7000;
        let text = describe_choices(&[entry(), gone], true);
        assert!(
            text.contains("port 6688, pid 4242, id k3x9ab, label gui"),
            "{text}"
        );
        assert!(
            !text.contains("7000"),
            "unreachable ones are not offered: {text}"
        );
        assert!(text.contains("`any`"), "{text}");
        let none = describe_choices(&[], false);
        assert!(none.contains("bld-remote start --label"), "{none}");
    }

    #[test]
    fn status_fills_what_records_do_not_know() {
        let mut entry = entry_of_record(&Record {
            port: 7001,
            host: "127.0.0.1".into(),
            pid: 1,
            process_start: None,
            mode: bld_remote_protocol::BlenderMode::Background,
            blender_version: "3.4.1".into(),
            addon_version: "0.2.0".into(),
            blender_path: "blender".into(),
            started_at: 0,
            log: None,
            detached: true,
            auth: true,
            temp_dir: None,
            label: Some("bake".into()),
            pool_of: None,
        });
        fill(
            &mut entry,
            &serde_json::json!({"instance_id": "ab12", "pid": 99, "mode": "background",
                "blend_file": "/tmp/x.blend", "queue_length": 0,
                "jobs": {"queued": 0, "running": 1, "finished": 3}}),
        );
        assert_eq!(entry.id.as_deref(), Some("ab12"));
        assert_eq!(entry.pid, Some(99));
        assert_eq!(entry.file.as_deref(), Some("/tmp/x.blend"));
        assert_eq!(entry.busy, Some(true));
        assert_eq!(entry.label.as_deref(), Some("bake"));
    }
}
