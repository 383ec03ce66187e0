"""Checkpoints: a copy of the open .blend saved before a risky call (``checkpoint: true``).

Pure module (no bpy): where a checkpoint goes and how many are kept. ``api.py`` does the
saving with ``bpy.ops.wm.save_as_mainfile(copy=True)``, which leaves the open file's own path
and dirty state alone.

They live in ``<state dir>/checkpoints`` rather than next to the user's file: an agent's calls
must not litter the project folder, and an unsaved file has no folder at all.
"""

import os
import re
import time

KEEP = 20  # newest checkpoints kept; older ones are deleted as new ones are made
SUFFIX = ".blend"


def folder(state_dir):
    return os.path.join(state_dir, "checkpoints")


def path_for(state_dir, blend_path, job_id, now=None):
    """``<state>/checkpoints/<file stem or untitled>-<UTC time>-<job id>.blend``."""
    stem = os.path.splitext(os.path.basename(blend_path or ""))[0] or "untitled"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return os.path.join(folder(state_dir), f"{stem}-{stamp}-{job_id}{SUFFIX}")


def prune(directory, keep=KEEP):
    """Delete all but the ``keep`` newest checkpoints in ``directory``. Returns what was deleted."""
    try:
        entries = [os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(SUFFIX)]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda path: (os.path.getmtime(path), path), reverse=True)
    deleted = []
    for path in entries[keep:]:
        try:
            os.remove(path)
            deleted.append(path)
        except OSError:
            pass
    return deleted
