//! `bld-remote doctor`: checks the setup one item at a time, each failing line with its fix.

use crate::app::App;
use crate::blender::{Blender, major_minor};
use crate::cli::DoctorArgs;
use crate::style::Painter;
use crate::{embedded_addon, exit};
use anyhow::Result;
use bld_remote_client::{Client, ClientError};
use std::time::Duration;

/// Runs inside Blender: is the addon installed, enabled, which version?
const ADDON_CHECK_SCRIPT: &str = r#"
import json
import addon_utils, bpy
enabled = [name for name in bpy.context.preferences.addons.keys() if name.split(".")[-1] == "bld_remote_mcp"]
found = [m for m in addon_utils.modules() if m.__name__.split(".")[-1] == "bld_remote_mcp"]
version = ".".join(str(p) for p in found[0].bl_info.get("version", ())) if found else None
try:
    import _cycles
    oidn = bool(getattr(_cycles, "with_openimagedenoise", True))
except ImportError:
    oidn = None
# The traps of the reference platform, tried rather than guessed: Debian's Blender 3.4 has no
# denoiser, and its glTF importer fails with the system numpy.
gltf = None
try:
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "probe.glb")
    bpy.ops.export_scene.gltf(filepath=path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=path)
except Exception as exc:
    lines = [l.strip() for l in str(exc).splitlines() if "Error" in l and not l.strip().startswith("Location")]
    gltf = (lines[-1] if lines else type(exc).__name__)[:200]
# A line of its own: Blender's own error output may have left the last line unfinished.
print("\nBLD_REMOTE_RESULT " + json.dumps({"blender_version": bpy.app.version_string, "installed": bool(found),
      "enabled": enabled[0] if enabled else None, "version": version, "oidn": oidn,
      "gltf_import_error": gltf}), flush=True)
"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    paint: Painter,
    failed: bool,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, fix: Option<&str>) {
        let mark = match level {
            Level::Ok => self.paint.ok("✓"),
            Level::Warn => self.paint.warn("!"),
            Level::Fail => self.paint.error("✗"),
        };
        self.failed |= level == Level::Fail;
        println!("{mark} {what}");
        if let Some(fix) = fix {
            println!("    fix: {fix}");
        }
    }
}

pub async fn run(app: &App, args: DoctorArgs) -> Result<u8> {
    let mut report = Report {
        paint: Painter::stdout(),
        failed: false,
    };
    match &app.paths.config_file {
        Some(config) => {
            let state = if config.is_file() {
                "read"
            } else {
                "none; defaults apply"
            };
            report.line(
                Level::Ok,
                &format!("config file {} ({state})", config.display()),
                None,
            );
        }
        None => report.line(
            Level::Warn,
            "no config dir (no home directory): no config file is read",
            Some("set BLD_REMOTE_CONFIG, or HOME"),
        ),
    }
    report.line(
        Level::Ok,
        &format!(
            "bld-remote {}, addon {} built in",
            env!("CARGO_PKG_VERSION"),
            embedded_addon::version()
        ),
        None,
    );

    match app.find_blender(args.blender.clone()) {
        Err(err) => report.line(Level::Fail, "Blender not found", Some(&err.to_string())),
        Ok(found) => {
            let blender = Blender::new(found.path.clone());
            report.line(
                Level::Ok,
                &format!(
                    "Blender at {} (from {})",
                    found.path.display(),
                    found.source.describe()
                ),
                None,
            );
            check_blender(&mut report, &blender).await;
        }
    }
    check_server(&mut report, app, &args).await;

    let (live, stale) = app.registry.scan();
    let stale = if stale > 0 {
        format!("; removed {stale} stale record(s)")
    } else {
        String::new()
    };
    report.line(
        Level::Ok,
        &format!(
            "{} Blender(s) started by bld-remote running{stale}",
            live.len()
        ),
        None,
    );
    Ok(if report.failed {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

async fn check_blender(report: &mut Report, blender: &Blender) {
    match blender.version().await {
        Err(err) => {
            report.line(
                Level::Fail,
                &format!("{err:#}"),
                Some("pass a Blender executable with --blender or BLENDER_PATH"),
            );
            return;
        }
        Ok(version) => match major_minor(&version) {
            Some(v) if v >= (3, 4) => report.line(
                Level::Ok,
                &format!("Blender {version} (3.4 or newer is supported)"),
                None,
            ),
            _ => report.line(
                Level::Fail,
                &format!("Blender {version} is older than 3.4"),
                Some("install Blender 3.4 or newer"),
            ),
        },
    }
    match blender
        .run_script(ADDON_CHECK_SCRIPT, &[], Duration::from_secs(120))
        .await
    {
        Err(err) => report.line(
            Level::Warn,
            &format!("could not ask Blender about the addon: {err:#}"),
            None,
        ),
        Ok(state) => {
            if state.get("oidn") == Some(&serde_json::Value::Bool(false)) {
                report.line(
                    Level::Warn,
                    "this Blender has no OpenImageDenoise: Cycles renders with denoising on fail \
                     (bld-remote turns denoising off for renders in the headless Blenders it serves)",
                    Some("in your own scripts set scene.cycles.use_denoising = False, or use an official Blender build"),
                );
            }
            if let Some(error) = state.get("gltf_import_error").and_then(|v| v.as_str()) {
                report.line(
                    Level::Warn,
                    &format!("this Blender's glTF importer fails ({error}); Debian's 3.4 with the system numpy does"),
                    Some("use an official Blender build (it bundles a numpy its importer works with)"),
                );
            }
            let enabled = state.get("enabled").and_then(|v| v.as_str());
            let version = state.get("version").and_then(|v| v.as_str()).unwrap_or("?");
            let install = "bld-remote install-addon (needed only for Blender's window without `bld-remote start --gui`)";
            match (state.get("installed").and_then(|v| v.as_bool()), enabled) {
                (_, Some(module)) => report.line(
                    Level::Ok,
                    &format!("addon {version} installed and enabled ({module})"),
                    None,
                ),
                (Some(true), None) => report.line(
                    Level::Warn,
                    &format!("addon {version} installed but not enabled"),
                    Some(install),
                ),
                _ => report.line(
                    Level::Warn,
                    "addon not installed in this Blender's preferences",
                    Some(install),
                ),
            }
        }
    }
}

async fn check_server(report: &mut Report, app: &App, args: &DoctorArgs) {
    let (host, port) = match app.target(args.target.port, args.target.host.clone()) {
        Ok(target) => target,
        Err(err) => return report.line(Level::Warn, &err.to_string(), None),
    };
    match Client::connect(app.client_options(host.clone(), port)).await {
        Ok(client) => match client.server().await {
            Ok(hello) => {
                let auth = if hello.auth_required == Some(false) {
                    Level::Warn
                } else {
                    Level::Ok
                };
                report.line(
                    auth,
                    &format!(
                        "bld-remote addon {} answers on {host}:{port}: Blender {}, {}, pid {}, protocol {}, {}",
                        hello.addon_version,
                        hello.blender_version,
                        hello.mode,
                        hello.pid,
                        hello.protocol_version,
                        if auth == Level::Ok {
                            "token proved both ways"
                        } else {
                            "authentication off (any local program can run code in it)"
                        }
                    ),
                    (auth == Level::Warn).then_some(
                        "restart it without --no-auth (or tick 'Require token' in the addon's preferences)",
                    ),
                )
            }
            Err(err) => report.line(Level::Fail, &err.to_string(), None),
        },
        Err(ClientError::NotListening { addr }) => report.line(
            Level::Warn,
            &format!("no Blender listening on {addr}"),
            Some("bld-remote start --background --detach (or enable the addon in Blender)"),
        ),
        Err(err) if err.is_untrusted_peer() => report.line(
            Level::Fail,
            &err.to_string(),
            Some("stop what holds that port (`bld-remote status` names it), or use another port with --port"),
        ),
        Err(err @ (ClientError::IncompatibleProtocol { .. } | ClientError::NotBldRemote { .. })) => {
            report.line(Level::Fail, &err.to_string(), Some("bld-remote install-addon, then restart that Blender"))
        }
        Err(err) => report.line(Level::Fail, &err.to_string(), None),
    }
}
