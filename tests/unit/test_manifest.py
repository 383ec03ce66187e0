"""The extension manifest (Blender 4.2+) agrees with bl_info and version.py."""

import pathlib
import tomllib

import bld_remote_mcp
from bld_remote_mcp import version

MANIFEST = pathlib.Path(bld_remote_mcp.__file__).with_name("blender_manifest.toml")


def test_manifest_version_matches_the_addon():
    manifest = tomllib.loads(MANIFEST.read_text())
    assert manifest["version"] == version.ADDON_VERSION
    assert tuple(int(p) for p in manifest["version"].split(".")) == bld_remote_mcp.bl_info["version"]
    assert manifest["id"] == "bld_remote_mcp" == MANIFEST.parent.name


def test_manifest_follows_blenders_rules():
    manifest = tomllib.loads(MANIFEST.read_text())
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["type"] == "add-on"
    # Blender refuses taglines over 64 characters or ending in punctuation.
    assert len(manifest["tagline"]) <= 64 and manifest["tagline"][-1].isalnum()
    assert all(len(reason) <= 64 and reason[-1].isalnum() for reason in manifest["permissions"].values())
    assert manifest["blender_version_min"] == "4.2.0"
