"""The in-memory key/value store behind the persist-data commands and ``bld_remote.persist``.

Pure module (no bpy). Values live as long as the Blender process; they are shared by every
connection and by code running inside Blender.
"""

import threading


class PersistStore:
    def __init__(self):
        self._lock = threading.Lock()
        self._data = {}

    def put(self, key, value):
        with self._lock:
            self._data[key] = value

    def get(self, key, default=None):
        with self._lock:
            if key in self._data:
                return self._data[key], True
            return default, False

    def remove(self, key):
        with self._lock:
            return self._data.pop(key, _MISSING) is not _MISSING

    def keys(self):
        with self._lock:
            return list(self._data)

    def clear(self):
        """Forget every key; returns how many there were."""
        with self._lock:
            dropped = len(self._data)
            self._data.clear()
            return dropped

    # 1.3.3's `bld_remote.persist` API names.
    put_data = put

    def get_data(self, key, default=None):
        return self.get(key, default)[0]

    def remove_data(self, key):
        return self.remove(key)


_MISSING = object()
