"""Checks request params, so every wrong type gets an error naming the param.

Pure module (no bpy).
"""

from . import errors
from .replies import CommandError

REQUIRED = object()

_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", dict: "an object",
               list: "an array"}


def _describe(types):
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _json_type(value):
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "array"}.get(
        type(value), type(value).__name__
    )


def get(params, name, types, default=REQUIRED, allow_none=False):
    """``params[name]`` checked against ``types`` (a tuple). bool never counts as a number."""
    if name not in params or (params[name] is None and not allow_none and default is not REQUIRED):
        if default is REQUIRED:
            raise CommandError(errors.INVALID_PARAMS, f"missing required param '{name}'", param=name)
        return default
    value = params[name]
    if value is None and allow_none:
        return None
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise CommandError(
            errors.INVALID_PARAMS,
            f"param '{name}' must be {_describe(types)}, got {_json_type(value)}",
            param=name,
        )
    return value


def number(params, name, default=REQUIRED, minimum=None, maximum=None):
    value = get(params, name, (int, float), default)
    if value is None or value is default:
        return value
    if minimum is not None and value < minimum:
        raise CommandError(errors.INVALID_PARAMS, f"param '{name}' must be >= {minimum}, got {value}", param=name)
    if maximum is not None and value > maximum:
        raise CommandError(errors.INVALID_PARAMS, f"param '{name}' must be <= {maximum}, got {value}", param=name)
    return value


def choice(params, name, choices, default=REQUIRED):
    value = get(params, name, (str,), default)
    if value not in choices:
        raise CommandError(
            errors.INVALID_PARAMS, f"param '{name}' must be one of {', '.join(map(repr, choices))}, got {value!r}",
            param=name,
        )
    return value
