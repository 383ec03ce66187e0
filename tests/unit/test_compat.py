"""blender/compat.py: the decisions that depend on the Blender version, given fake versions and
modules (no bpy), and the rule that the rest of the addon leaves those decisions to it."""

import ast
import types
from pathlib import Path

import pytest

from bld_remote_mcp.blender import compat

PACKAGE = Path(__file__).resolve().parents[2] / "blender_addon" / "bld_remote_mcp"

# The versions of the e2e matrix (tests/e2e/harness.py), and one past it.
BEFORE_5 = [(3, 4, 1), (4, 2, 23), (4, 5, 15)]
FROM_5 = [(5, 0, 1), (5, 3, 0), (6, 0, 0)]


class _Material:
    def __init__(self, use_nodes):
        self._use_nodes = use_nodes
        self.reads = 0

    @property
    def use_nodes(self):
        self.reads += 1
        return self._use_nodes


@pytest.mark.parametrize("version", BEFORE_5)
def test_before_5_a_material_uses_nodes_when_it_says_so(version):
    assert compat.material_uses_nodes(_Material(True), version) is True
    assert compat.material_uses_nodes(_Material(False), version) is False


@pytest.mark.parametrize("version", FROM_5)
def test_from_5_every_material_uses_nodes_and_the_deprecated_flag_is_not_read(version):
    material = _Material(False)  # what 5.x would never say; were it read, the answer would be False
    assert compat.material_uses_nodes(material, version) is True
    assert material.reads == 0


def test_the_version_may_be_any_sequence():
    assert compat.material_uses_nodes(_Material(False), [5, 0, 0]) is True
    assert compat.material_uses_nodes(_Material(False), [4, 5, 99]) is False


def test_a_headless_wireframe_is_a_solid_render_on_every_version():
    # Never the 3D view's WIREFRAME type: a final render ignores it (3.4) or draws nothing (4.x+).
    assert compat.wireframe_render_shading_type() == "SOLID"


@pytest.mark.parametrize("cycles,expected", [
    (types.SimpleNamespace(with_openimagedenoise=False), False),  # Debian's 3.4
    (types.SimpleNamespace(with_openimagedenoise=True), True),  # the PyPI builds
    (types.SimpleNamespace(), True),  # a build that does not say
    (None, True),  # no Cycles
])
def test_openimagedenoise_is_what_the_cycles_module_says(cycles, expected):
    assert compat.has_openimagedenoise(cycles) is expected


def test_openimagedenoise_without_blender_is_nothing_to_guard():
    # Plain Python has no _cycles module: the running "Blender" has no Cycles.
    assert compat.has_openimagedenoise() is True


@pytest.mark.parametrize("package,expected", [
    ("bld_remote_mcp.blender", "bld_remote_mcp"),  # an addon (3.4; --addons; a legacy install)
    ("bl_ext.user_default.bld_remote_mcp.blender", "bl_ext.user_default.bld_remote_mcp"),  # an extension, 4.2+
])
def test_the_addon_module_is_the_package_of_the_blender_subpackage(package, expected):
    assert compat.addon_module(package) == expected


# -- callers use compat ------------------------------------------------------------------------
# What only compat may read: Blender's version (``….app.version``), and the API it decides about.
VERSION_DEPENDENT = {"use_nodes", "with_openimagedenoise"}


def _is_app_version(node):
    return node.attr == "version" and isinstance(node.value, ast.Attribute) and node.value.attr == "app"


def _version_dependent_uses(source, filename="<source>"):
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Attribute) and (node.attr in VERSION_DEPENDENT or _is_app_version(node)):
            found.append((node.lineno, node.attr))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found.extend((node.lineno, name) for name in names if name == "_cycles")
    return found


def test_only_compat_reads_the_version_or_the_api_that_differs():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = str(path.relative_to(PACKAGE))
        if relative == "blender/compat.py" or "__pycache__" in path.parts:
            continue
        found = _version_dependent_uses(path.read_text(encoding="utf-8"), relative)
        if found:
            offenders[relative] = found
    assert offenders == {}, "ask blender/compat.py (add the difference there) instead"


def test_the_scan_sees_what_it_looks_for():
    sample = (
        "import _cycles\n"
        "if bpy.app.version >= (5, 0) and m.use_nodes:\n"
        "    ok = _c.with_openimagedenoise\n"
        "s = bpy.app.version_string\n"  # the version shown to clients is no decision
        "v = hello.version\n"  # nor is a protocol's version
    )
    assert sorted(_version_dependent_uses(sample)) == [
        (1, "_cycles"), (2, "use_nodes"), (2, "version"), (3, "with_openimagedenoise")]
    assert _version_dependent_uses((PACKAGE / "blender" / "compat.py").read_text()) != []
