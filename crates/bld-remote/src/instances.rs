//! Records of the Blenders `bld-remote start` launched, one JSON file per port under the state
//! dir, so that `status`, `stop` and the MCP server find them without being told the port. A
//! record whose process is gone is stale and removed when seen.

use crate::process;
use anyhow::{Context, Result};
use bld_remote_client::ClientOptions;
use bld_remote_client::private_fs;
use bld_remote_protocol::BlenderMode;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub port: u16,
    pub host: String,
    /// Blender's own pid (from `hello`), the process `stop` may signal.
    pub pid: u32,
    /// Start time of `pid` (see `process::start_identity`), guarding against pid reuse.
    #[serde(default)]
    pub process_start: Option<u64>,
    pub mode: BlenderMode,
    pub blender_version: String,
    pub addon_version: String,
    pub blender_path: PathBuf,
    /// Unix seconds.
    pub started_at: u64,
    /// Where Blender's output goes when detached.
    #[serde(default)]
    pub log: Option<PathBuf>,
    pub detached: bool,
    /// Whether its server requires authentication (false: started with `--no-auth`).
    #[serde(default = "auth_default")]
    pub auth: bool,
    /// Its private temp dir (`TMPDIR`): its session files and crash report; removed with the
    /// record.
    #[serde(default)]
    pub temp_dir: Option<PathBuf>,
    /// A name to pick it by (`start --label`; `blender` on MCP tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The pid of the `bld-remote mcp` whose pool started it (`--pool`): that server leases it
    /// to its sessions and resets it between them, so nothing else may pick it as "the"
    /// Blender to talk to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_of: Option<u32>,
}

fn auth_default() -> bool {
    true
}

impl Record {
    pub fn is_alive(&self) -> bool {
        process::is_same_process(self.pid, self.process_start)
    }

    /// Dead or dying (its main thread has exited); it may still hold its port for a moment.
    pub fn has_exited(&self) -> bool {
        process::has_exited(self.pid) || !self.is_alive()
    }

    /// Options for a quick check on this Blender: one we started without a token is accepted
    /// as such (its process is ours, by pid and start time).
    pub fn probe_options(&self) -> ClientOptions {
        ClientOptions {
            allow_no_auth: !self.auth,
            ..ClientOptions::probe(self.host.clone(), self.port)
        }
    }
}

/// The directory of instance records.
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    pub fn new(state_dir: &Path) -> Registry {
        Registry {
            dir: state_dir.join("instances"),
        }
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, port: u16) -> PathBuf {
        self.dir.join(format!("{port}.json"))
    }

    /// Writes the record 0600 in a private directory (`private_fs`): records name the processes
    /// `stop` signals, so nobody else may write them, and they hold paths others need not see.
    pub fn save(&self, record: &Record) -> Result<()> {
        let state_dir = self
            .dir
            .parent()
            .expect("the records dir is under the state dir");
        private_fs::ensure_private_tree(state_dir, &["instances"])?;
        let path = self.path(record.port);
        private_fs::write_private_file(&path, &serde_json::to_vec_pretty(record)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn get(&self, port: u16) -> Option<Record> {
        read_record(&self.path(port))
    }

    /// Removes the record of `port` if it is still the one of `pid` (a newer start may own it),
    /// and the temp dir bld-remote made for that Blender.
    pub fn remove(&self, port: u16, pid: u32) {
        if let Some(record) = self.get(port).filter(|record| record.pid == pid) {
            let _ = std::fs::remove_file(self.path(port));
            self.remove_temp_dir(&record);
        }
    }

    /// A record's temp dir, only if it is one bld-remote made (under its own run dir).
    fn remove_temp_dir(&self, record: &Record) {
        let run = self.dir.parent().map(|state| state.join("run"));
        if let (Some(dir), Some(run)) = (&record.temp_dir, run) {
            if dir.parent() == Some(run.as_path())
                && dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("tmp-"))
            {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// Every record whose process is alive, by port; stale and unreadable records are deleted.
    pub fn live(&self) -> Vec<Record> {
        self.scan().0
    }

    /// The live Blenders a user picks from (`bld-remote exec`, `stop`, `mcp` without a port,
    /// `blender` on MCP tools): every live one except pool workers, which belong to the
    /// sessions of the server that started them.
    pub fn user_blenders(&self) -> Vec<Record> {
        let mut live = self.live();
        live.retain(|record| record.pool_of.is_none());
        live
    }

    /// Live records, and how many stale ones were removed.
    pub fn scan(&self) -> (Vec<Record>, usize) {
        if let Err(unsafe_dir) = private_fs::check_private_dir(&self.dir) {
            if self.dir.exists() {
                tracing::warn!("instance records ignored: {unsafe_dir}");
            }
            return (Vec::new(), 0);
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (Vec::new(), 0);
        };
        let mut live = Vec::new();
        let mut stale = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            if let Err(err) = private_fs::check_private_file(&path) {
                // Not acted upon, and not deleted either: that is for its owner to look at.
                tracing::warn!("instance record ignored: {err}");
                continue;
            }
            match read_record(&path) {
                Some(record) if record.is_alive() => live.push(record),
                _ => {
                    stale += 1;
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        live.sort_by_key(|record| record.port);
        (live, stale)
    }
}

/// A record, if it is one and private: a record names a pid `stop` may signal, so one another
/// user could have written is never read.
fn read_record(path: &Path) -> Option<Record> {
    if let Err(err) = private_fs::check_private_file(path) {
        if path.exists() {
            tracing::warn!("instance record ignored: {err}");
        }
        return None;
    }
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(port: u16, pid: u32) -> Record {
        Record {
            port,
            host: "127.0.0.1".into(),
            pid,
            process_start: process::start_identity(pid),
            mode: BlenderMode::Background,
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

    #[test]
    fn a_saved_record_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let me = record(7001, std::process::id());
        registry.save(&me).unwrap();
        assert_eq!(registry.get(7001), Some(me.clone()));
        assert_eq!(registry.live(), vec![me]);
    }

    #[test]
    fn pool_workers_are_not_among_the_users_blenders() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut worker = record(7010, std::process::id());
        worker.pool_of = Some(1);
        worker.label = Some("pool-1".into());
        registry.save(&worker).unwrap();
        let mut mine = record(7011, std::process::id());
        mine.label = Some("gui".into());
        registry.save(&mine).unwrap();
        assert_eq!(registry.live().len(), 2);
        assert_eq!(registry.user_blenders(), vec![mine]);
    }

    #[test]
    fn records_without_label_or_pool_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut old = serde_json::to_value(record(7012, std::process::id())).unwrap();
        assert!(old.get("label").is_none() && old.get("pool_of").is_none());
        old.as_object_mut().unwrap().remove("temp_dir");
        private_fs::ensure_private_tree(dir.path(), &["instances"]).unwrap();
        private_fs::write_private_file(
            &registry.dir().join("7012.json"),
            old.to_string().as_bytes(),
        )
        .unwrap();
        let read = registry.get(7012).unwrap();
        assert_eq!((read.label, read.pool_of), (None, None));
    }

    #[test]
    fn stale_and_corrupt_records_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        registry.save(&record(7002, gone)).unwrap();
        registry.save(&record(7003, std::process::id())).unwrap();
        private_fs::write_private_file(&registry.dir().join("7004.json"), b"{not json").unwrap();
        let (live, stale) = registry.scan();
        assert_eq!(live.iter().map(|r| r.port).collect::<Vec<_>>(), vec![7003]);
        assert_eq!(stale, 2);
        assert!(registry.get(7002).is_none() && !registry.dir().join("7004.json").exists());
    }

    #[test]
    fn a_reused_pid_makes_the_record_stale() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut reused = record(7005, std::process::id());
        reused.process_start = reused.process_start.map(|t| t + 1).or(Some(1));
        registry.save(&reused).unwrap();
        if cfg!(target_os = "linux") {
            assert!(registry.live().is_empty());
        }
    }

    #[test]
    fn remove_only_deletes_the_record_of_that_pid() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        registry.save(&record(7006, std::process::id())).unwrap();
        registry.remove(7006, 1);
        assert!(registry.get(7006).is_some());
        registry.remove(7006, std::process::id());
        assert!(registry.get(7006).is_none());
    }
}
