"""Directories only this user can change and files only this user can read. Pure module (no bpy).

bld-remote keeps a secret (the token) and agent output (logs) under its state dir, which may be
placed anywhere (``BLD_REMOTE_STATE_DIR``), shared places included. So nothing found on disk is
trusted as it is:

* every existing directory above ours must belong to this user or root and, if others may
  write to it, carry the sticky bit (as ``/tmp`` does), or another user could swap our directory
  for theirs;
* our own directories (the state dir and its subdirectories) must belong to this user and not be
  writable by anyone else; if they are merely readable by others (made by an older version) they
  are narrowed to 0700; missing ones are made 0700;
* files are written under a fresh name made with ``O_EXCL`` and mode 0600 (``mkstemp``), then
  renamed into place, so a planted file or link is never written through.

A path that fails is refused with a message naming it and the fix. The Rust side
(``bld-remote-client``'s ``private_fs.rs``) applies the same rules to the directories it keeps.
"""

import os
import stat
import tempfile


class UnsafePath(OSError):
    """A directory another user could change, or a path that is not what it should be."""


def _checks_apply():
    return hasattr(os, "getuid")  # POSIX permissions (not Windows)


def _describe_owner(uid):
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _check_ancestor(path):
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{path} is not a directory")
    me = os.getuid()
    if info.st_uid not in (me, 0):
        raise UnsafePath(
            f"{path} belongs to {_describe_owner(info.st_uid)}, who could replace bld-remote's files "
            "below it; keep bld-remote's state in a directory of your own (BLD_REMOTE_STATE_DIR)")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        raise UnsafePath(
            f"{path} can be written by other users (mode {stat.S_IMODE(info.st_mode):04o}, no sticky bit), "
            f"who could replace bld-remote's files below it; fix: chmod go-w {path}")


def _check_own(path):
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{path} must be a directory, not a link or a file; remove it and try again")
    if info.st_uid != os.getuid():
        raise UnsafePath(
            f"{path} belongs to {_describe_owner(info.st_uid)}, not to you: someone else may have "
            f"planted it; remove it (or choose another BLD_REMOTE_STATE_DIR) and try again")
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath(
            f"{path} can be written by other users (mode {mode:04o}); files in it may have been "
            f"planted: remove it, or check it and run chmod 700 {path}")
    if mode & 0o077:
        os.chmod(path, 0o700)


def ensure_private_tree(base, *subdirs):
    """Makes or reuses ``base`` and ``base/<subdir>`` as private directories (0700, ours) after
    checking every directory above ``base``; returns the absolute path of ``base``.
    Raises ``UnsafePath`` naming the offending directory and the fix."""
    base = os.path.abspath(base)
    if not _checks_apply():
        for sub in ("",) + subdirs:
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        return base
    parent = os.path.dirname(base)
    chain = []
    while True:
        chain.append(parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    for ancestor in reversed(chain):
        if not os.path.isdir(ancestor):
            try:
                os.mkdir(ancestor, 0o700)
            except FileExistsError:
                pass
        _check_ancestor(ancestor)
    for directory in [base] + [os.path.join(base, sub) for sub in subdirs]:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        _check_own(directory)
    return base


def write_private_file(path, data):
    """Writes ``data`` (bytes) to ``path`` readable by its owner only (0600), atomically: a fresh
    file made with O_EXCL in the same directory, renamed over ``path``."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
