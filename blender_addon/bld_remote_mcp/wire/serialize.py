"""Turns any Python value into strict JSON (no NaN, string keys), bounded in size.

Pure module: bpy, mathutils and numpy are recognised by duck typing or looked up in
``sys.modules`` at call time, never imported here, so the rules are testable without Blender.

Markers (documented in docs/protocol.md):
* ``{"__type__": T, ...}`` stands for a value JSON has no type for (bytes, bpy data, NaN, ...);
  values with no better form carry ``"repr"``.
* ``{"__truncated__": true, ...}`` stands where something was cut to respect the size budget.
  Nothing is ever cut without one.
"""

import base64
import math
import sys

TYPE_KEY = "__type__"
TRUNCATED_KEY = "__truncated__"

_INT_LIMIT = 2**63
_REPR_LIMIT = 2000
_PREVIEW_CHARS = 1000


class _Budget:
    """Approximate number of output characters still allowed."""

    __slots__ = ("remaining",)

    def __init__(self, limit):
        self.remaining = limit

    def take(self, amount):
        self.remaining -= amount
        return self.remaining >= 0


def _qualname(value):
    cls = type(value)
    module = getattr(cls, "__module__", None) or ""
    return f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__


def _repr_marker(value, budget):
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the reply
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    marker = {TYPE_KEY: _qualname(value), "repr": text[:_REPR_LIMIT]}
    if len(text) > _REPR_LIMIT:
        marker[TRUNCATED_KEY] = True
        marker["repr_length"] = len(text)
    budget.take(len(marker["repr"]) + 40)
    return marker


def _truncated_string(text, budget):
    preview = text[: max(0, min(_PREVIEW_CHARS, budget.remaining))]
    budget.take(len(preview) + 60)
    return {TRUNCATED_KEY: True, TYPE_KEY: "str", "length": len(text), "preview": preview}


def _float(value):
    if math.isfinite(value):
        return value
    return {TYPE_KEY: "float", "value": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


_MATHUTILS_TYPES = ("Vector", "Matrix", "Euler", "Quaternion", "Color")


def _is_mathutils(value):
    # Blender reports these types' module as "builtins", so check against the live module.
    mathutils = sys.modules.get("mathutils")
    if mathutils is None:
        return False
    return isinstance(value, tuple(getattr(mathutils, name) for name in _MATHUTILS_TYPES if hasattr(mathutils, name)))


def _bpy_id_type():
    bpy = sys.modules.get("bpy")
    types = getattr(bpy, "types", None)
    return getattr(types, "ID", None)


def _bpy_struct(value, budget):
    """bpy data: ID blocks as (type, name, data path); other structs as type + repr."""
    id_type = _bpy_id_type()
    type_name = "bpy.types." + type(value).__name__
    if id_type is not None and isinstance(value, id_type):
        marker = {TYPE_KEY: type_name, "name": value.name, "data_path": repr(value)}
        id_code = getattr(value, "id_type", None)
        if id_code:
            marker["id_type"] = id_code
        budget.take(len(marker["data_path"]) + len(value.name) + 60)
        return marker
    marker = _repr_marker(value, budget)
    marker[TYPE_KEY] = type_name
    return marker


def _key_text(key):
    """Non-string dict keys become strings the way json.dumps spells them (True -> "true")."""
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    if isinstance(key, (int, float)):
        return str(key)
    return repr(key)


class Serializer:
    def __init__(self, max_bytes, max_depth=32):
        self.budget = _Budget(max_bytes)
        self.max_depth = max_depth
        self._active = set()  # ids of containers on the current path, to catch cycles

    def convert(self, value, depth=0):
        # Fast paths first: most results are small primitives.
        if value is None or value is True or value is False:
            self.budget.take(5)
            return value
        cls = type(value)
        if cls is str:
            # Check before charging: a string that does not fit is replaced by a small marker and
            # must not use up the budget of its siblings.
            if len(value) + 2 > self.budget.remaining:
                return _truncated_string(value, self.budget)
            self.budget.take(len(value) + 2)
            return value
        if cls is int:
            self.budget.take(20)
            return value if -_INT_LIMIT <= value < _INT_LIMIT else {TYPE_KEY: "int", "value": str(value)}
        if cls is float:
            self.budget.take(24)
            return _float(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):  # int subclasses (enums, numpy ints register as Integral only)
            return self.convert(int(value), depth)
        if isinstance(value, float):
            return self.convert(float(value), depth)
        if isinstance(value, str):
            return self.convert(str(value), depth)
        if depth >= self.max_depth:
            marker = _repr_marker(value, self.budget)
            marker[TRUNCATED_KEY] = True
            marker["reason"] = f"nested deeper than {self.max_depth} levels"
            return marker
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._bytes(bytes(value))
        if isinstance(value, dict):
            return self._guarded(value, depth, self._dict)
        if isinstance(value, (list, tuple)):
            return self._guarded(value, depth, self._sequence)
        if isinstance(value, (set, frozenset)):
            return self._guarded(value, depth, self._set)
        if _is_mathutils(value):
            return self._mathutils(value, depth)
        if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy arrays and scalars
            return self._numpy(value, depth)
        type_name = cls.__name__
        if type_name in ("bpy_prop_collection", "bpy_prop_array", "bpy_prop_collection_idprop"):
            return self._guarded(value, depth, self._sequence)
        if hasattr(value, "bl_rna"):
            return _bpy_struct(value, self.budget)
        return _repr_marker(value, self.budget)

    def _guarded(self, value, depth, convert):
        key = id(value)
        if key in self._active:
            return {TYPE_KEY: "cycle", "repr": f"<cycle to {_qualname(value)}>"}
        self._active.add(key)
        try:
            return convert(value, depth + 1)
        finally:
            self._active.discard(key)

    def _bytes(self, data):
        cost = len(data) * 4 // 3 + 60
        if cost > self.budget.remaining:
            self.budget.take(60)
            return {TRUNCATED_KEY: True, TYPE_KEY: "bytes", "length": len(data)}
        self.budget.take(cost)
        return {TYPE_KEY: "bytes", "length": len(data), "base64": base64.b64encode(data).decode("ascii")}

    def _dict(self, value, depth):
        out = {}
        items = list(value.items())
        for index, (key, item) in enumerate(items):
            if self.budget.remaining <= 0:
                out[TRUNCATED_KEY] = {"omitted_items": len(items) - index, "total_items": len(items)}
                break
            if not isinstance(key, str):
                text = _key_text(key)
                # 1 and "1" both become "1": never let one silently replace the other.
                key = text if text not in out else f"{text} ({type(key).__name__})"
            elif key in out:  # a converted non-string key took this spelling first
                key = f"{key} (str)"
            self.budget.take(len(key) + 4)
            out[key] = self.convert(item, depth)
        return out

    def _sequence(self, value, depth):
        out = []
        total = len(value)
        for index, item in enumerate(value):
            if self.budget.remaining <= 0:
                out.append({TRUNCATED_KEY: True, "omitted_items": total - index, "total_items": total})
                break
            self.budget.take(1)
            out.append(self.convert(item, depth))
        return out

    def _set(self, value, depth):
        try:
            items = sorted(value)
        except TypeError:  # mixed types: keep a stable-enough order
            items = sorted(value, key=repr)
        return self._sequence(items, depth)

    def _mathutils(self, value, depth):
        type_name = type(value).__name__
        if type_name == "Matrix":
            return self._sequence([list(row) for row in value], depth)
        try:
            return self._sequence(list(value), depth)
        except TypeError:  # BVHTree, KDTree, ...: not sequences
            return _repr_marker(value, self.budget)

    def _numpy(self, value, depth):
        size = getattr(value, "size", 1)
        if getattr(value, "ndim", 0) == 0:
            return self.convert(value.item(), depth)
        if size * 8 > self.budget.remaining:
            # Convert only what fits, flat, and say so: never silently drop elements.
            flat = value.reshape(-1)
            keep = max(0, self.budget.remaining // 8)
            return {
                TRUNCATED_KEY: True,
                TYPE_KEY: "numpy.ndarray",
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                "head": self._sequence(flat[:keep].tolist(), depth),
            }
        return self.convert(value.tolist(), depth)


def to_json_safe(value, max_bytes=64 * 1024 * 1024, max_depth=32):
    """Convert ``value`` to something ``json.dumps(allow_nan=False)`` accepts, within ~max_bytes."""
    return Serializer(max_bytes, max_depth).convert(value)
