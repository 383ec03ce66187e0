"""The addon's layout keeps Blender at the edge: only the modules listed here may import bpy,
mathutils or bmesh (at the top or inside a function), and they live in ``blender/`` or are the
entry script. Everything else (``wire/``, ``engine/``, ``commands/``, the pure helpers in
``blender/``) is unit-tested with plain Python, which only holds while none of it needs Blender.

Read from the source (an AST scan), not by importing: an import inside a function that no unit
test happens to call would go unseen otherwise.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "blender_addon" / "bld_remote_mcp"
BLENDER_MODULES = ("bpy", "mathutils", "bmesh")
PURE_LAYERS = ("wire", "engine", "commands")

# The Blender-facing modules, by path inside the package: the only ones allowed Blender's modules.
BLENDER_FACING = frozenset((
    "keepalive.py",  # opens --blend with bpy.ops before serving
    "blender/api.py",
    "blender/baseline.py",  # reset_blender's load, the open file's path for status
    "blender/compat.py",  # reads bpy.app.version
    "blender/gui_pump.py",
    "blender/panel.py",
    "blender/preferences.py",
    "blender/render_guards.py",
    "blender/scene_queries.py",
    "blender/scene_state.py",
    "blender/screenshot.py",
    "blender/ui.py",  # registers the panel and preferences classes
))
ENTRY_SCRIPTS = ("keepalive.py", "gui_start.py")  # run by path (bld-remote, the e2e harness): package root


def _modules():
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _blender_imports(relative):
    return _blender_imports_in((PACKAGE / relative).read_text(encoding="utf-8"), relative)


def _blender_imports_in(source, filename="<source>"):
    """(line, module) of every import of bpy, mathutils or bmesh in ``source``, wherever it is:
    import statements, ``from`` imports, ``__import__("bpy")`` and ``importlib.import_module``."""
    tree = ast.parse(source, filename=filename)
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] in BLENDER_MODULES:
                found.append((node.lineno, name))
    return found


def test_only_the_blender_facing_modules_import_blender():
    offenders = {m: _blender_imports(m) for m in _modules() if m not in BLENDER_FACING}
    offenders = {m: found for m, found in offenders.items() if found}
    assert offenders == {}, (
        "these modules import Blender's modules but are not Blender-facing (move the bpy part to "
        f"blender/, or hand it in as the service's scene probe, preload, ... do): {offenders}")


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_the_pure_layers_hold_no_blender_facing_module(layer):
    modules = [m for m in _modules() if m.startswith(layer + "/")]
    assert modules, f"no modules under {layer}/"
    assert [m for m in modules if m in BLENDER_FACING] == []


def test_the_blender_facing_modules_are_in_blender_or_entry_scripts():
    misplaced = [m for m in BLENDER_FACING if not m.startswith("blender/") and m not in ENTRY_SCRIPTS]
    assert misplaced == []


def test_the_list_is_not_stale():
    """Each listed module exists and does import Blender: a module that stopped needing it is pure
    again and comes off the list (so that the scan holds it to that)."""
    modules = set(_modules())
    assert sorted(BLENDER_FACING - modules) == []
    assert [m for m in sorted(BLENDER_FACING) if not _blender_imports(m)] == []


def test_the_scan_sees_every_way_of_importing():
    sample = (
        "import os\n"
        "def f():\n"
        "    import bpy.ops\n"
        "    from mathutils import Vector\n"
        "    return __import__('bmesh'), importlib.import_module('bpy')\n"
        "import sys; sys.modules.get('bpy')\n"  # a lookup of a module Blender loaded is not an import
        "from .blender import api\n"  # nor is a module of ours named like a layer
    )
    found = sorted(_blender_imports_in(sample))
    assert found == [(3, "bpy.ops"), (4, "mathutils"), (5, "bmesh"), (5, "bpy")]


def test_the_entry_scripts_stay_at_the_package_root():
    """``bld-remote`` (crates/bld-remote/src/blender.rs) and the e2e harness run them by path."""
    for script in ENTRY_SCRIPTS:
        assert (PACKAGE / script).is_file(), script
