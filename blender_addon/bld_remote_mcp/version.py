"""Versions: of this addon, and of the wire protocol it speaks (docs/protocol.md)."""

ADDON_VERSION = "0.1.0"
ADDON_VERSION_TUPLE = (0, 1, 0)
