//! Directories only this user can change and files only this user can read: the token files
//! the client trusts, and the records, logs and run files `bld-remote` keeps.
//!
//! The same rules as the addon's `private_files.py` (`docs/protocol.md` §1a):
//! * every existing directory above ours belongs to this user or root and, if others may write
//!   to it, has the sticky bit (as `/tmp` does);
//! * our own directories belong to this user and nobody else may write to them; missing ones are
//!   made 0700, ones others may only read are narrowed to 0700;
//! * files are created new (`O_EXCL`) with mode 0600; a file we read must belong to this user
//!   and be readable by nobody else.
//!
//! On Windows there are no POSIX modes to check: directories are only created.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A path another user could read or change, or that is not what it should be; the message names
/// it and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsafePath(pub String);

impl UnsafePath {
    fn io(path: &Path, err: std::io::Error) -> UnsafePath {
        UnsafePath(format!("{}: {err}", path.display()))
    }
}

/// Makes or reuses `base` and `base/<sub>` for each of `subdirs` as private directories, after
/// checking every directory above `base`. Returns `base`.
pub fn ensure_private_tree(base: &Path, subdirs: &[&str]) -> Result<PathBuf, UnsafePath> {
    let base = std::path::absolute(base).map_err(|err| UnsafePath::io(base, err))?;
    #[cfg(unix)]
    {
        let ancestors: Vec<&Path> = base.ancestors().skip(1).collect();
        for ancestor in ancestors.into_iter().rev() {
            if !ancestor.is_dir() {
                make_dir(ancestor)?;
            }
            unix::check_ancestor(ancestor)?;
        }
    }
    for dir in std::iter::once(base.clone()).chain(subdirs.iter().map(|sub| base.join(sub))) {
        make_dir(&dir)?;
        #[cfg(unix)]
        unix::check_own_dir(&dir)?;
    }
    Ok(base)
}

fn make_dir(dir: &Path) -> Result<(), UnsafePath> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(UnsafePath::io(dir, err)),
    }
}

/// A new file at `path`, mode 0600, failing if anything exists there (a planted file or link
/// is never written through).
pub fn create_private_file(path: &Path) -> Result<File, UnsafePath> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|err| UnsafePath::io(path, err))
}

/// Writes `bytes` to `path` atomically: a fresh 0600 file in the same directory, renamed over it.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), UnsafePath> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".bld-remote-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|err| UnsafePath::io(dir, err))?;
    file.write_all(bytes)
        .map_err(|err| UnsafePath::io(file.path(), err))?;
    file.persist(path)
        .map_err(|err| UnsafePath::io(path, err.error))?;
    Ok(())
}

/// Checks a directory we are about to read trusted files from: it belongs to this user and
/// nobody else can read or change it, nor any directory above it (the ancestor rule above).
pub fn check_private_dir(dir: &Path) -> Result<(), UnsafePath> {
    #[cfg(unix)]
    {
        let dir = std::path::absolute(dir).map_err(|err| UnsafePath::io(dir, err))?;
        for ancestor in dir.ancestors().skip(1) {
            unix::check_ancestor(ancestor)?;
        }
        unix::check_own_dir_strict(&dir)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Checks a file we are about to trust (a token): it and its directory belong to this user, and
/// nobody else can read or change them or any directory above.
pub fn check_private_file(path: &Path) -> Result<(), UnsafePath> {
    #[cfg(unix)]
    {
        if let Some(dir) = path.parent() {
            check_private_dir(dir)?;
        }
        unix::check_own_file(path)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(unix)]
mod unix {
    use super::UnsafePath;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    const GROUP_OTHER_WRITE: u32 = 0o022;
    const GROUP_OTHER_ANY: u32 = 0o077;
    const STICKY: u32 = 0o1000;

    pub(super) fn my_uid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    fn owner_name(uid: u32) -> String {
        format!("uid {uid}")
    }

    fn meta(path: &Path, follow: bool) -> Result<std::fs::Metadata, UnsafePath> {
        let result = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        result.map_err(|err| UnsafePath::io(path, err))
    }

    pub(super) fn check_ancestor(path: &Path) -> Result<(), UnsafePath> {
        let meta = meta(path, true)?;
        if !meta.is_dir() {
            return Err(UnsafePath(format!("{} is not a directory", path.display())));
        }
        if meta.uid() != my_uid() && meta.uid() != 0 {
            return Err(UnsafePath(format!(
                "{} belongs to {}, who could replace bld-remote's files below it; keep \
                 bld-remote's state in a directory of your own (BLD_REMOTE_STATE_DIR)",
                path.display(),
                owner_name(meta.uid())
            )));
        }
        let mode = meta.mode();
        if mode & GROUP_OTHER_WRITE != 0 && mode & STICKY == 0 {
            return Err(UnsafePath(format!(
                "{} can be written by other users (mode {:04o}, no sticky bit), who could replace \
                 bld-remote's files below it; fix: chmod go-w {}",
                path.display(),
                mode & 0o7777,
                path.display()
            )));
        }
        Ok(())
    }

    fn check_owned_dir(path: &Path) -> Result<u32, UnsafePath> {
        let meta = meta(path, false)?;
        if !meta.is_dir() {
            return Err(UnsafePath(format!(
                "{} must be a directory, not a link or a file; remove it and try again",
                path.display()
            )));
        }
        if meta.uid() != my_uid() {
            return Err(UnsafePath(format!(
                "{} belongs to {}, not to you: someone else may have planted it; remove it (or \
                 choose another BLD_REMOTE_STATE_DIR) and try again",
                path.display(),
                owner_name(meta.uid())
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & GROUP_OTHER_WRITE != 0 {
            return Err(UnsafePath(format!(
                "{} can be written by other users (mode {mode:04o}); files in it may have been \
                 planted: remove it, or check it and run chmod 700 {}",
                path.display(),
                path.display()
            )));
        }
        Ok(mode)
    }

    pub(super) fn check_own_dir(path: &Path) -> Result<(), UnsafePath> {
        let mode = check_owned_dir(path)?;
        if mode & GROUP_OTHER_ANY != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
                .map_err(|err| UnsafePath::io(path, err))?;
        }
        Ok(())
    }

    /// For reading: a directory others can list is reported, not changed.
    pub(super) fn check_own_dir_strict(path: &Path) -> Result<(), UnsafePath> {
        let mode = check_owned_dir(path)?;
        if mode & GROUP_OTHER_ANY != 0 {
            return Err(UnsafePath(format!(
                "{} can be read by other users (mode {mode:04o}); fix: chmod 700 {}",
                path.display(),
                path.display()
            )));
        }
        Ok(())
    }

    pub(super) fn check_own_file(path: &Path) -> Result<(), UnsafePath> {
        let meta = meta(path, false)?;
        if !meta.is_file() {
            return Err(UnsafePath(format!(
                "{} is not a regular file (a link?); remove it",
                path.display()
            )));
        }
        if meta.uid() != my_uid() {
            return Err(UnsafePath(format!(
                "{} belongs to {}, not to you: it was not written by your Blender; remove it",
                path.display(),
                owner_name(meta.uid())
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & GROUP_OTHER_ANY != 0 {
            return Err(UnsafePath(format!(
                "{} can be read or changed by other users (mode {mode:04o}): the token in it may \
                 be known to others; remove it and restart that Blender",
                path.display()
            )));
        }
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn missing_directories_are_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("a/b/state");
        assert_eq!(
            ensure_private_tree(&base, &["instances", "logs"]).unwrap(),
            base
        );
        for path in [
            &base,
            &base.join("instances"),
            &base.join("logs"),
            &dir.path().join("a"),
        ] {
            assert_eq!(mode(path), 0o700, "{}", path.display());
        }
    }

    #[test]
    fn own_directories_readable_by_others_are_narrowed_and_writable_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("state");
        std::fs::create_dir_all(base.join("logs")).unwrap();
        chmod(&base, 0o755);
        chmod(&base.join("logs"), 0o750);
        ensure_private_tree(&base, &["logs"]).unwrap();
        assert_eq!((mode(&base), mode(&base.join("logs"))), (0o700, 0o700));
        chmod(&base.join("logs"), 0o777);
        let err = ensure_private_tree(&base, &["logs"]).unwrap_err();
        assert!(
            err.0.contains("can be written by other users (mode 0777)"),
            "{err}"
        );
    }

    #[test]
    fn a_shared_ancestor_needs_the_sticky_bit() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o777);
        let err = ensure_private_tree(&shared.join("state"), &[]).unwrap_err();
        assert!(
            err.0.contains("no sticky bit") && err.0.contains("chmod go-w"),
            "{err}"
        );
        assert!(!shared.join("state").exists());
        chmod(&shared, 0o1777);
        ensure_private_tree(&shared.join("state"), &[]).unwrap();
    }

    #[test]
    fn links_and_files_where_a_directory_belongs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("state");
        std::fs::create_dir(&base).unwrap();
        std::os::unix::fs::symlink(dir.path(), base.join("logs")).unwrap();
        let err = ensure_private_tree(&base, &["logs"]).unwrap_err();
        assert!(err.0.contains("must be a directory"), "{err}");
    }

    #[test]
    fn a_token_file_is_trusted_only_when_private() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ensure_private_tree(&dir.path().join("state"), &["tokens"])
            .unwrap()
            .join("tokens");
        let file = tokens.join("1.token");
        write_private_file(&file, b"secret").unwrap();
        assert_eq!(mode(&file), 0o600);
        check_private_file(&file).unwrap();
        chmod(&file, 0o644);
        let err = check_private_file(&file).unwrap_err();
        assert!(
            err.0
                .contains("can be read or changed by other users (mode 0644)"),
            "{err}"
        );
        chmod(&file, 0o600);
        chmod(&tokens, 0o755);
        let err = check_private_file(&file).unwrap_err();
        assert!(
            err.0.contains("can be read by other users (mode 0755)"),
            "{err}"
        );
        chmod(&tokens, 0o700);
        let link = tokens.join("2.token");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(
            check_private_file(&link)
                .unwrap_err()
                .0
                .contains("not a regular file")
        );
    }

    #[test]
    fn new_files_are_0600_and_never_written_through_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let planted = dir.path().join("log");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(create_private_file(&planted).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let fresh = dir.path().join("fresh");
        create_private_file(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        write_private_file(&planted, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read(&planted).unwrap(), b"new");
        assert_eq!(mode(&planted), 0o600);
    }
}
