//! The addon compiled into the binary: written out to the cache dir to run Blender with it, and
//! zipped for installing into a user's Blender.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

mod files {
    include!(concat!(env!("OUT_DIR"), "/addon_files.rs"));
}

/// The Python package name, and the folder name Blender expects.
pub const PACKAGE: &str = "bld_remote_mcp";

pub fn files() -> &'static [(&'static str, &'static [u8])] {
    files::FILES
}

/// The addon version, read from the embedded `version.py` so there is one source of truth.
pub fn version() -> &'static str {
    let (_, bytes) = files()
        .iter()
        .find(|(path, _)| *path == "version.py")
        .expect("version.py is embedded");
    let text = std::str::from_utf8(bytes).expect("version.py is UTF-8");
    text.lines()
        .find_map(|line| line.strip_prefix("ADDON_VERSION = "))
        .map(|quoted| quoted.trim().trim_matches('"'))
        .expect("version.py defines ADDON_VERSION")
}

/// A short content hash, so each build's addon gets its own directory.
fn fingerprint() -> String {
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (path, bytes) in files() {
        for byte in path.as_bytes().iter().chain(bytes.iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")[..12].to_owned()
}

/// Writes the addon under `cache_root` (once per build) and returns the package directory.
pub fn extract(cache_root: &Path) -> Result<PathBuf> {
    // Blender runs this code: the cache must be a directory nobody else can write to (checked,
    // like the state dir, also when the addon is there already), or another user could change
    // the addon before it is loaded.
    bld_remote_client::private_fs::ensure_private_tree(cache_root, &[])?;
    let target = cache_root.join(format!("addon-{}-{}", version(), fingerprint()));
    let package = target.join(PACKAGE);
    if package.join("__init__.py").is_file() {
        return Ok(package);
    }
    // Write to a private directory and rename it into place, so concurrent starts never see a
    // half-written addon.
    let staging = tempfile::Builder::new()
        .prefix(".addon-")
        .tempdir_in(cache_root)?;
    for (relative, bytes) in files() {
        let path = staging.path().join(PACKAGE).join(relative);
        std::fs::create_dir_all(path.parent().expect("file has a parent"))?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    match std::fs::rename(staging.path(), &target) {
        Ok(()) => {
            // The directory now lives at `target`; don't let the guard delete it.
            let _ = staging.keep();
        }
        Err(_) if package.join("__init__.py").is_file() => {} // another start won the race
        Err(err) => {
            return Err(err).with_context(|| format!("moving the addon to {}", target.display()));
        }
    }
    Ok(package)
}

/// A zip with one top-level `bld_remote_mcp/` folder: what Blender's "Install from Disk" takes,
/// both as a legacy add-on (3.x–4.1) and as an extension (4.2+, via `blender_manifest.toml`).
pub fn zip_bytes() -> Result<Vec<u8>> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut cursor);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(0o644);
        for (relative, bytes) in files() {
            zip.start_file(format!("{PACKAGE}/{relative}"), options)?;
            zip.write_all(bytes)?;
        }
        zip.finish()?;
    }
    Ok(cursor.into_inner())
}

/// The zip's file name for this version.
pub fn zip_name() -> String {
    format!("{PACKAGE}-{}.zip", version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_package_is_embedded_without_bytecode() {
        let names: Vec<&str> = files().iter().map(|(path, _)| *path).collect();
        for expected in [
            "__init__.py",
            "keepalive.py",
            "gui_start.py",
            "blender_manifest.toml",
            "commands/execute.py",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(
            names
                .iter()
                .all(|name| !name.contains("__pycache__") && !name.ends_with(".pyc"))
        );
    }

    #[test]
    fn the_version_comes_from_version_py() {
        let version = version();
        assert_eq!(version.split('.').count(), 3, "{version}");
        assert!(
            version.split('.').all(|part| part.parse::<u32>().is_ok()),
            "{version}"
        );
    }

    #[test]
    fn extraction_writes_every_file_once_and_is_reused() {
        let cache = tempfile::tempdir().unwrap();
        let package = extract(cache.path()).unwrap();
        for (relative, bytes) in files() {
            assert_eq!(
                std::fs::read(package.join(relative)).unwrap(),
                *bytes,
                "{relative}"
            );
        }
        let marker = package.join("marker");
        std::fs::write(&marker, b"x").unwrap();
        assert_eq!(extract(cache.path()).unwrap(), package);
        assert!(marker.exists(), "second extraction reused the directory");
        let leftovers: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory left behind");
    }

    #[test]
    fn the_zip_holds_one_top_level_package_folder() {
        let bytes = zip_bytes().unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), files().len());
        for i in 0..archive.len() {
            let entry = archive.by_index(i).unwrap();
            let name = entry.name().unwrap().to_string();
            assert!(name.starts_with("bld_remote_mcp/"), "{name}");
        }
        assert!(
            archive
                .by_name("bld_remote_mcp/blender_manifest.toml")
                .is_ok()
        );
        assert!(zip_name().starts_with("bld_remote_mcp-") && zip_name().ends_with(".zip"));
    }
}
