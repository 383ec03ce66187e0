//! Typed `result`s of the commands whose shape the tools rely on (`docs/protocol.md` §4, §6).
//! Unknown fields are ignored, so a newer addon adding fields still decodes.

use crate::envelope::{Envelope, ExecStatus};
use crate::request::ExecutionMode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a Blender runs: headless (`blender -b`, or the `bpy` module), or with a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlenderMode {
    Background,
    Gui,
}

impl BlenderMode {
    /// The wire spelling: `background` or `gui`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlenderMode::Background => "background",
            BlenderMode::Gui => "gui",
        }
    }
}

impl fmt::Display for BlenderMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is in its life (§6): `queued` → `running` → `finished`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Finished,
}

impl JobState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Finished => "finished",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub server: String,
    pub addon_version: String,
    pub blender_version: String,
    pub mode: BlenderMode,
    pub pid: u32,
    pub port: u16,
    #[serde(default)]
    pub connection_id: Option<u64>,
    /// Whether the addon requires a token, and whether this connection presented it.
    #[serde(default)]
    pub auth_required: Option<bool>,
    #[serde(default)]
    pub authenticated: Option<bool>,
    /// Random per server start: tells two Blenders on one port apart, and is the middle part of
    /// every job id of that server (`job-<instance_id>-<n>`).
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    pub mode: BlenderMode,
    pub port: u16,
    pub pid: u32,
    pub blender_version: String,
    pub addon_version: String,
    /// Seconds since the server started.
    pub uptime: f64,
    pub connections: u64,
    pub queue_length: u64,
    pub jobs: JobsCount,
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    /// Whether token authentication is on.
    #[serde(default)]
    pub auth: Option<bool>,
    /// The open .blend's absolute path, `""` when it was never saved (`None`: an addon from
    /// before the field).
    #[serde(default)]
    pub blend_file: Option<String>,
}

/// `reset_blender`: what the reset dropped, and the scene it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlenderReset {
    pub reset: bool,
    /// The .blend loaded (absolute), or `None` for Blender's factory startup scene.
    pub file: Option<String>,
    pub namespaces_dropped: u64,
    pub persist_keys_dropped: u64,
    pub jobs_cancelled: u64,
    /// Finished jobs whose records were dropped (the cancelled ones among them).
    #[serde(default)]
    pub jobs_forgotten: u64,
    /// `len(bpy.data.objects)` once loaded.
    pub objects: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsCount {
    pub queued: u64,
    pub running: u64,
    pub finished: u64,
}

/// The reply to an async `execute_code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub job_id: String,
    /// Usually `queued`; a quick job may already be further.
    pub state: JobState,
}

/// An entry of `list_jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job_id: String,
    pub state: JobState,
    /// `sync` for a job whose caller waits for its result (an async submission with `wait`
    /// included), `async` otherwise.
    pub mode: ExecutionMode,
    pub status: Option<ExecStatus>,
    pub created: Option<f64>,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    pub timeout: Option<f64>,
    #[serde(default)]
    pub code_preview: String,
}

/// `get_job` / `cancel_job`: the summary plus the envelope once finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub envelope: Option<Envelope>,
    /// Only in `cancel_job` replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_accepted: Option<bool>,
    /// Only when `get_job` was asked with `stdout_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StdoutSince>,
}

/// `get_viewport_screenshot` (§4): the fields a caller acts on (the rest, e.g. `format` and
/// `mime_type`, are ignored here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub source: Option<CaptureSource>,
    /// Headless: which camera the render looked through; null in the GUI.
    #[serde(default)]
    pub camera: Option<CaptureCamera>,
    /// The image, unless it was written to `filepath`.
    #[serde(default)]
    pub image_base64: Option<String>,
    #[serde(default)]
    pub filepath: Option<String>,
}

/// Where a screenshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureSource {
    /// A Workbench (or Cycles) render: a headless Blender.
    Render,
    /// The first open 3D view of a Blender with a window.
    Viewport,
}

/// The camera a headless capture looked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureCamera {
    /// The scene's own camera.
    Scene,
    /// A temporary camera framing the visible objects.
    Framing,
}

/// The part of a job's stdout past the offset the caller had reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdoutSince {
    pub text: String,
    /// Where the next poll starts.
    pub offset: u64,
}

impl JobView {
    pub fn is_finished(&self) -> bool {
        self.summary.state == JobState::Finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_and_states_keep_their_wire_spelling() {
        for mode in [BlenderMode::Background, BlenderMode::Gui] {
            let text = serde_json::to_string(&mode).unwrap();
            assert_eq!(text, format!("\"{mode}\""));
            assert_eq!(serde_json::from_str::<BlenderMode>(&text).unwrap(), mode);
        }
        for state in [JobState::Queued, JobState::Running, JobState::Finished] {
            let text = serde_json::to_string(&state).unwrap();
            assert_eq!(text, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<JobState>(&text).unwrap(), state);
        }
        assert!(serde_json::from_str::<JobState>("\"paused\"").is_err());
        assert!(serde_json::from_str::<BlenderMode>("\"GUI\"").is_err());
    }

    #[test]
    fn hello_from_the_protocol_example() {
        let hello: Hello =
            serde_json::from_value(json!({"protocol_version": 1, "server": "bld-remote",
            "addon_version": "0.1.0", "blender_version": "3.4.1", "mode": "background", "pid": 9834,
            "port": 6688, "connection_id": 1}))
            .unwrap();
        assert_eq!(hello.protocol_version, 1);
        assert_eq!(hello.port, 6688);
        assert_eq!(hello.mode, BlenderMode::Background);
        let back: Hello = serde_json::from_value(serde_json::to_value(&hello).unwrap()).unwrap();
        assert_eq!(back, hello);
    }

    #[test]
    fn status_ignores_fields_it_does_not_know() {
        let status: Status =
            serde_json::from_value(json!({"running": true, "mode": "gui", "port": 1, "pid": 2,
            "blender_version": "5.0.1", "addon_version": "0.1.0", "uptime": 3.5, "connections": 1,
            "queue_length": 0, "jobs": {"queued": 0, "running": 1, "finished": 4},
            "sessions": {"connections": 1, "named": []}, "rss_bytes": null, "future_field": 1}))
            .unwrap();
        assert_eq!(status.jobs.finished, 4);
        assert_eq!(status.mode, BlenderMode::Gui);
        assert_eq!(status.rss_bytes, None);
        assert_eq!(status.blend_file, None, "an addon from before blend_file");
    }

    #[test]
    fn status_names_the_open_file_and_reset_blender_what_it_dropped() {
        let status: Status =
            serde_json::from_value(json!({"running": true, "mode": "background", "port": 1,
            "pid": 2, "blender_version": "3.4.1", "addon_version": "0.1.0", "uptime": 3.5,
            "connections": 1, "queue_length": 0, "jobs": {"queued": 0, "running": 0, "finished": 0},
            "blend_file": ""}))
            .unwrap();
        assert_eq!(status.blend_file.as_deref(), Some(""), "unsaved");
        let reset: BlenderReset = serde_json::from_value(json!({"reset": true,
            "file": "/srv/base.blend", "namespaces_dropped": 3, "persist_keys_dropped": 1,
            "jobs_cancelled": 0, "objects": 4}))
        .unwrap();
        assert_eq!(reset.file.as_deref(), Some("/srv/base.blend"));
        assert_eq!(
            (
                reset.namespaces_dropped,
                reset.persist_keys_dropped,
                reset.objects
            ),
            (3, 1, 4)
        );
        let factory: BlenderReset = serde_json::from_value(json!({"reset": true, "file": null,
            "namespaces_dropped": 0, "persist_keys_dropped": 0, "jobs_cancelled": 2,
            "objects": 3}))
        .unwrap();
        assert_eq!((factory.file, factory.jobs_cancelled), (None, 2));
    }

    #[test]
    fn screenshots_say_where_they_came_from() {
        let headless: Screenshot = serde_json::from_value(json!({"width": 32, "height": 18,
            "format": "png", "mime_type": "image/png", "source": "render", "camera": "framing",
            "image_base64": "iVBO"}))
        .unwrap();
        assert_eq!(
            (headless.source, headless.camera),
            (Some(CaptureSource::Render), Some(CaptureCamera::Framing))
        );
        let gui: Screenshot = serde_json::from_value(json!({"success": true, "width": 8,
            "height": 8, "filepath": "/tmp/x.png", "format": "png", "source": "viewport",
            "camera": null}))
        .unwrap();
        assert_eq!(
            (gui.source, gui.camera),
            (Some(CaptureSource::Viewport), None)
        );
        assert_eq!(gui.image_base64, None);
    }

    #[test]
    fn job_view_with_and_without_envelope() {
        let running: JobView =
            serde_json::from_value(json!({"job_id": "job-3", "state": "running",
            "mode": "async", "status": null, "created": 1.0, "started": 1.5, "finished": null,
            "timeout": 30.0, "code_preview": "import time", "envelope": null}))
            .unwrap();
        assert!(!running.is_finished());
        assert_eq!(running.envelope, None);
        let finished: JobView = serde_json::from_value(json!({"job_id": "job-3", "state": "finished",
            "mode": "async", "status": "success", "created": 1.0, "started": 1.5, "finished": 2.0,
            "timeout": 30.0, "code_preview": "42", "cancel_accepted": false,
            "envelope": {"status": "success", "result": 42, "output": {"stdout": "", "stderr": "", "logs": []},
                         "duration": 0.1, "error": null, "traceback": null, "metadata": {}}})).unwrap();
        assert!(finished.is_finished());
        assert_eq!(finished.summary.mode, ExecutionMode::Async);
        assert_eq!(finished.summary.status, Some(ExecStatus::Success));
        assert_eq!(finished.cancel_accepted, Some(false));
        assert_eq!(finished.envelope.unwrap().result, json!(42));
    }
}
