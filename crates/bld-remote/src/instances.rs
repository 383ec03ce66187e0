//! Records of the Blenders `bld-remote start` launched, one JSON file per port under the state
//! dir, so that `status`, `stop` and the MCP server find them without being told the port. A
//! record whose process is gone is stale and removed when seen.

use crate::process;
use anyhow::{Context, Result};
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
    /// `background` or `gui`.
    pub mode: String,
    pub blender_version: String,
    pub addon_version: String,
    pub blender_path: PathBuf,
    /// Unix seconds.
    pub started_at: u64,
    /// Where Blender's output goes when detached.
    #[serde(default)]
    pub log: Option<PathBuf>,
    pub detached: bool,
}

impl Record {
    pub fn is_alive(&self) -> bool {
        process::is_same_process(self.pid, self.process_start)
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

    pub fn save(&self, record: &Record) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path(record.port);
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(record)?)?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn get(&self, port: u16) -> Option<Record> {
        let bytes = std::fs::read(self.path(port)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes the record of `port` if it is still the one of `pid` (a newer start may own it).
    pub fn remove(&self, port: u16, pid: u32) {
        if self.get(port).is_some_and(|record| record.pid == pid) {
            let _ = std::fs::remove_file(self.path(port));
        }
    }

    /// Every record whose process is alive, by port; stale and unreadable records are deleted.
    pub fn live(&self) -> Vec<Record> {
        self.scan().0
    }

    /// Live records, and how many stale ones were removed.
    pub fn scan(&self) -> (Vec<Record>, usize) {
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
            let record = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
            match record {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(port: u16, pid: u32) -> Record {
        Record {
            port,
            host: "127.0.0.1".into(),
            pid,
            process_start: process::start_identity(pid),
            mode: "background".into(),
            blender_version: "3.4.1".into(),
            addon_version: "0.1.0".into(),
            blender_path: "/usr/bin/blender".into(),
            started_at: 1,
            log: None,
            detached: true,
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
    fn stale_and_corrupt_records_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        registry.save(&record(7002, gone)).unwrap();
        registry.save(&record(7003, std::process::id())).unwrap();
        std::fs::write(registry.dir().join("7004.json"), b"{not json").unwrap();
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
