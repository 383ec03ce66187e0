"""checkpoints.py: where checkpoints go and how many are kept."""

import os

from bld_remote_mcp.blender import checkpoints


def test_paths_name_the_file_the_time_and_the_job(tmp_path):
    path = checkpoints.path_for(str(tmp_path), os.path.join("projects", "my shot?.blend"), "job-7", now=0)
    assert path == os.path.join(str(tmp_path), "checkpoints", "my_shot_-19700101-000000-job-7.blend")
    assert os.path.basename(checkpoints.path_for(str(tmp_path), "", "job-1", now=0)).startswith("untitled-")


def test_prune_keeps_the_newest(tmp_path):
    folder = tmp_path / "checkpoints"
    assert checkpoints.prune(str(folder)) == []  # nothing yet
    folder.mkdir()
    for i in range(25):
        path = folder / f"c{i:02}.blend"
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
    (folder / "notes.txt").write_text("not a checkpoint")
    deleted = checkpoints.prune(str(folder), keep=20)
    assert sorted(os.path.basename(p) for p in deleted) == [f"c{i:02}.blend" for i in range(5)]
    assert len(list(folder.glob("*.blend"))) == 20 and (folder / "notes.txt").exists()
