"""Everything that faces Blender: the ``bld_remote`` module (``api``), the GUI timer, the panel
and preferences, scene snapshots and queries, screenshots, render fixes, checkpoints, and what
differs between the supported Blender versions (``compat``, the one place that knows).

The only modules of the addon that import bpy, mathutils or bmesh are here (and the
``keepalive.py`` entry script); ``tests/unit/test_layout.py`` holds the list. Their pure
helpers (``ui_model``, ``views``, ``checkpoints``) sit beside the code they serve and import no
bpy, so they are unit-tested without Blender. bpy is imported inside functions, except by
``panel`` and ``preferences`` (classes that subclass bpy types), which ``register()`` imports.
"""
