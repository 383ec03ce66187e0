"""What differs between the Blender versions the addon supports: 3.4 (Debian's binary), 4.2 LTS,
4.5 LTS, 5.0 and 5.3 (PyPI ``bpy``), the matrix of tests/e2e.

One function per difference, each saying which versions differ and how; the rest of the addon
asks these instead of testing ``bpy.app.version`` or probing for attributes itself, so that a
new Blender is supported (or a difference dropped with an old one) here and nowhere else.

* ``material_uses_nodes``: ``Material.use_nodes`` is deprecated from 5.0 (always on).
* ``wireframe_render_shading_type``: a final Workbench render draws no WIREFRAME shading
  (3.4 ignores it, 4.x and later draw nothing).
* ``has_openimagedenoise``: Debian's 3.4 is built without OpenImageDenoise; the PyPI builds have it.
* ``addon_module``: the name Blender keys the addon (its preferences) by: an extension's
  ``bl_ext.<repo>.bld_remote_mcp`` (4.2 and later) or a legacy addon's ``bld_remote_mcp``.

bpy-facing, but only ``blender_version()`` reads bpy: every decision takes the version (or the
module it probes) as an argument when given one, so tests/unit/test_compat.py checks them with
fakes, without Blender.
"""

# The first Blender whose materials always use nodes (Material.use_nodes deprecated).
MATERIALS_ALWAYS_USE_NODES = (5, 0)

_RUNNING = object()  # "probe the running Blender" (None is a meaningful value for modules)


def blender_version():
    """The running Blender's ``(major, minor, patch)``."""
    import bpy

    return tuple(bpy.app.version)


def material_uses_nodes(material, version=None):
    """Whether a material renders through its node tree (so its node colours are what it looks like).

    3.4, 4.2, 4.5: only when ``use_nodes`` is on; a new material has it off and no node tree.
    5.0 and later: always. ``use_nodes`` is deprecated (reading or setting it warns that it is
    "expected to be removed in Blender 6.0"; setting it off does nothing), and a new material
    comes with a node tree: it is not read at all there.
    """
    if (blender_version() if version is None else tuple(version)) >= MATERIALS_ALWAYS_USE_NODES:
        return True
    return bool(material.use_nodes)


def wireframe_render_shading_type():
    """The Workbench shading type for a headless (final) render meant to show wires.

    A final render does not draw the WIREFRAME shading type the 3D view uses: 3.4 ignores it (the
    image is solid), 4.2 and later draw nothing with it (a blank image). The one way that works on
    every version is a SOLID render of temporary Wireframe modifiers
    (screenshot._wireframe_modifiers), so this is SOLID whatever the version.
    """
    return "SOLID"


def has_openimagedenoise(cycles=_RUNNING):
    """Whether Cycles can denoise (``cycles``: the ``_cycles`` module, None for a Blender without
    Cycles; by default the running Blender's).

    Debian's 3.4 is built without OpenImageDenoise: ``_cycles.with_openimagedenoise`` is False and
    any render with denoising on (Cycles' default) fails ("Build without OpenImageDenoiser").
    The PyPI builds (4.2 to 5.3) have it. No Cycles at all, or a build too old to say: nothing to
    guard, True.
    """
    if cycles is _RUNNING:
        try:
            import _cycles as cycles
        except ImportError:
            cycles = None
    if cycles is None:
        return True
    return bool(getattr(cycles, "with_openimagedenoise", True))


def addon_module(blender_package):
    """The addon's own module name, which Blender keys its preferences (``addons``, an
    ``AddonPreferences``' ``bl_idname``) by, from the ``__package__`` of its ``blender/`` subpackage.

    4.2 and later install it as an extension: ``bl_ext.<repo>.bld_remote_mcp``. 3.4 (and a legacy
    install, or ``--addons`` in any version) know it as ``bld_remote_mcp``. Either way it is the
    package this subpackage is in.
    """
    return blender_package.rpartition(".")[0]
