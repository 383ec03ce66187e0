"""The addon's UI in a Blender with a window: the 3D view's "BLD Remote" panel with its
operators (see and cancel the agent's calls, start/stop, copy the MCP config) and the addon
preferences, registered once per Blender whichever way the addon was loaded: enabled as an
addon (the package's ``register()``) or loaded by path by ``bld-remote start --gui``
(gui_start.py), where nothing else would register it.

bpy-facing.
"""

import bpy

from . import panel, preferences


def registered():
    """Whether the panel is registered in this Blender: by this copy of the addon, or by a copy
    installed and enabled in the user's Blender (whose classes have the same names)."""
    return hasattr(bpy.types, panel.VIEW3D_PT_bld_remote.__name__)


def register():
    preferences.register()
    panel.register()


def unregister():
    panel.unregister()
    preferences.unregister()


def register_unless_present():
    """Registers the UI unless a copy already is (an enabled install registered its own); True
    when this call registered it. The preferences then exist as a registered class, but
    Edit > Preferences lists only addons enabled in the user's preferences, which a start by
    path leaves untouched (enabling it there would be saved and then missing next time)."""
    if registered():
        return False
    register()
    return True
