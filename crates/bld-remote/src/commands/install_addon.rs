//! `bld-remote install-addon`: install and enable the embedded addon in the user's Blender, the
//! way Blender's preferences window does it (Blender itself runs the install operator and saves
//! the preferences), and write the zip for "Install from Disk".

use crate::app::App;
use crate::blender::{Blender, RESULT_MARKER};
use crate::cli::InstallAddonArgs;
use crate::style::Painter;
use crate::{embedded_addon, exit};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::Duration;

/// Runs inside Blender. 4.2+ installs an extension into the user repository; older versions
/// install a legacy add-on into the user scripts dir. Either way the preferences are saved so
/// the addon is enabled the next time Blender starts.
const INSTALL_SCRIPT: &str = r#"
import json, os, sys, traceback
import bpy
zip_path = os.environ["BLD_REMOTE_ADDON_ZIP"]
result = {"blender_version": bpy.app.version_string}
try:
    if bpy.app.version >= (4, 2, 0):
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True, overwrite=True)
        module = "bl_ext.user_default.bld_remote_mcp"
        result["kind"] = "extension"
    else:
        bpy.ops.preferences.addon_install(filepath=zip_path, overwrite=True)
        module = "bld_remote_mcp"
        bpy.ops.preferences.addon_enable(module=module)
        result["kind"] = "add-on"
    bpy.ops.wm.save_userpref()
    result["module"] = module
    result["enabled"] = module in bpy.context.preferences.addons
    installed = sys.modules.get(module)
    result["path"] = os.path.dirname(installed.__file__) if installed else None
except Exception as exc:
    result["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
print("BLD_REMOTE_RESULT " + json.dumps(result), flush=True)
"#;

pub async fn run(app: &App, args: InstallAddonArgs) -> Result<u8> {
    let zip_path = args
        .zip
        .clone()
        .unwrap_or_else(|| app.paths.cache_dir.join(embedded_addon::zip_name()));
    write_zip(&zip_path)?;
    let paint = Painter::stdout();
    println!(
        "{} wrote {} (for Blender's Preferences > Add-ons > Install from Disk)",
        paint.ok("✓"),
        zip_path.display()
    );
    if args.zip_only {
        return Ok(exit::SUCCESS);
    }
    let found = app.find_blender(args.blender.clone())?;
    let blender = Blender::new(found.path.clone());
    let zip_text = zip_path.canonicalize()?.display().to_string();
    debug_assert!(INSTALL_SCRIPT.contains(RESULT_MARKER.trim()));
    let result = blender
        .run_script(
            INSTALL_SCRIPT,
            &[("BLD_REMOTE_ADDON_ZIP", &zip_text)],
            Duration::from_secs(180),
        )
        .await
        .with_context(|| format!("installing the addon with {}", found.path.display()))?;
    if let Some(error) = result.get("error").and_then(|e| e.as_str()) {
        bail!("Blender could not install the addon: {error}");
    }
    if result.get("enabled").and_then(|e| e.as_bool()) != Some(true) {
        bail!("Blender installed the addon but did not enable it: {result}");
    }
    let text = |key: &str| {
        result
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    println!(
        "{} installed bld_remote_mcp {} as {} in Blender {} ({}) and enabled it; preferences saved",
        paint.ok("✓"),
        embedded_addon::version(),
        if text("kind") == "extension" {
            "an extension"
        } else {
            "an add-on"
        },
        text("blender_version"),
        found.path.display()
    );
    println!("  installed at: {}", text("path"));
    println!(
        "  in Blender's Python console, `import bld_remote; bld_remote.start_mcp_service()` starts the server;\n  \
         or set BLD_REMOTE_MCP_START_NOW=1 before starting Blender; or use `bld-remote start --gui`"
    );
    Ok(exit::SUCCESS)
}

fn write_zip(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, embedded_addon::zip_bytes()?)
        .with_context(|| format!("writing {}", path.display()))
}
