"""private_files.py: bld-remote's directories are its user's only, whatever was found on disk.

Another user is played by pretending to be someone else (``os.getuid`` patched): the files this
test made then belong to "another user". The two-real-users tests are in tests/e2e/test_local_users.py.
"""

import os
import stat

import pytest

from bld_remote_mcp.wire import private_files
from bld_remote_mcp.wire.private_files import UnsafePath


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_missing_directories_are_made_private(tmp_path):
    base = tmp_path / "a" / "b" / "state"
    assert private_files.ensure_private_tree(str(base), "tokens", "logs") == str(base)
    for path in (base, base / "tokens", base / "logs", tmp_path / "a", tmp_path / "a" / "b"):
        assert _mode(path) == 0o700, path


def test_own_directories_readable_by_others_are_narrowed(tmp_path):
    base = tmp_path / "state"
    (base / "logs").mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(base / "logs", 0o750)
    private_files.ensure_private_tree(str(base), "logs")
    assert _mode(base) == 0o700 and _mode(base / "logs") == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_own_directories_writable_by_others_are_refused(tmp_path, mode):
    base = tmp_path / "state"
    (base / "tokens").mkdir(parents=True)
    os.chmod(base, 0o700)
    os.chmod(base / "tokens", mode)
    with pytest.raises(UnsafePath, match=rf"{base / 'tokens'} can be written by other users .*chmod 700"):
        private_files.ensure_private_tree(str(base), "tokens")


def test_an_ancestor_writable_by_others_without_sticky_bit_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(UnsafePath, match=rf"{shared} can be written by other users \(mode 0777, no sticky bit\)"):
        private_files.ensure_private_tree(str(shared / "state"), "tokens")
    assert not (shared / "state").exists(), "nothing is made below it"


def test_a_sticky_shared_ancestor_such_as_tmp_is_fine(tmp_path):
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_files.ensure_private_tree(str(shared / "state"), "tokens")
    assert _mode(shared / "state" / "tokens") == 0o700


def test_directories_of_another_user_are_refused(tmp_path, monkeypatch):
    planted = tmp_path / "state"
    (planted / "tokens").mkdir(parents=True)
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 4242)
    with pytest.raises(UnsafePath, match="belongs to .* not to you: someone else may have planted it"):
        private_files.ensure_private_tree(str(planted), "tokens")


def test_an_ancestor_of_another_user_is_refused(tmp_path, monkeypatch):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    real_uid = os.getuid()
    if real_uid == 0:
        os.chown(theirs, 4243, 4243)  # root's own dirs are trusted by everyone: give it away
    else:
        monkeypatch.setattr(os, "getuid", lambda: real_uid + 4242)
    with pytest.raises(UnsafePath, match=r"who could replace bld-remote's files below it"):
        private_files.ensure_private_tree(str(theirs / "state"))


def test_a_link_or_a_file_where_a_directory_belongs_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    base = tmp_path / "state"
    base.mkdir(mode=0o700)
    os.symlink(target, base / "tokens")
    with pytest.raises(UnsafePath, match="must be a directory, not a link or a file"):
        private_files.ensure_private_tree(str(base), "tokens")
    (base / "logs").write_text("")
    with pytest.raises(UnsafePath, match="must be a directory"):
        private_files.ensure_private_tree(str(base), "logs")


def test_a_private_file_is_0600_and_replaces_what_was_there(tmp_path):
    base = tmp_path / "state"
    private_files.ensure_private_tree(str(base))
    path = base / "secret"
    path.write_text("old")
    os.chmod(path, 0o644)
    private_files.write_private_file(str(path), b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o600
    assert sorted(os.listdir(base)) == ["secret"]


def test_a_failed_write_leaves_no_temp_file(tmp_path):
    base = tmp_path / "state"
    private_files.ensure_private_tree(str(base))
    with pytest.raises(TypeError):
        private_files.write_private_file(str(base / "x"), "not bytes")
    assert os.listdir(base) == []
