"""Persistent Python namespaces: one per connection, or shared under a session name.

Pure module (no bpy): the names pre-loaded into every namespace (bpy, mathutils, bmesh inside
Blender) come from a ``preload`` callable given by the service.
"""

import builtins
import threading


class SessionStore:
    def __init__(self, preload=None):
        self._preload = preload or (lambda: {})
        self._lock = threading.Lock()
        self._connections = {}  # connection id -> namespace
        self._named = {}  # session name -> namespace

    def _new_namespace(self):
        namespace = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
        namespace.update(self._preload())
        return namespace

    def namespace(self, connection_id, session=None):
        """The namespace for a call: the named session if given, else the connection's own."""
        with self._lock:
            table, key = (self._named, session) if session else (self._connections, connection_id)
            namespace = table.get(key)
            if namespace is None:
                namespace = table[key] = self._new_namespace()
            return namespace

    def reset(self, connection_id, session=None):
        """Forget a namespace; the next call starts fresh. Returns whether one existed."""
        with self._lock:
            table, key = (self._named, session) if session else (self._connections, connection_id)
            return table.pop(key, None) is not None

    def clear(self):
        """Forget every namespace, the connections' and the named ones (``reset_blender``).
        Returns how many there were."""
        with self._lock:
            dropped = len(self._connections) + len(self._named)
            self._connections.clear()
            self._named.clear()
            return dropped

    def drop_connection(self, connection_id):
        with self._lock:
            self._connections.pop(connection_id, None)

    def stats(self):
        with self._lock:
            return {"connections": len(self._connections), "named": sorted(self._named)}
