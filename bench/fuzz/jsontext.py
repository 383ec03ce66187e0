"""JSON text with control over every byte: raw fragments, key order, duplicate keys."""

import json


class Raw(str):
    """JSON text inserted as is (NaN, 1e400, a 5000-digit number, a lone surrogate escape)."""


class Obj(list):
    """A JSON object as a list of (key, value) pairs: order kept, duplicates allowed."""


def dumps(value, sep=(",", ":"), ascii_only=True):
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        value = Obj(value.items())
    if isinstance(value, Obj):
        items = (dumps(k, sep, ascii_only) + sep[1] + dumps(v, sep, ascii_only) for k, v in value)
        return "{" + sep[0].join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + sep[0].join(dumps(v, sep, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(value, rng=None):
    """Bytes of a JSON value; with rng, a random but valid spacing and escaping style."""
    sep, ascii_only = (",", ":"), True
    if rng is not None:
        sep = rng.choice(((",", ":"), (", ", ": "), (",", ":"), (" ,\t", " :\r")))
        ascii_only = rng.random() < 0.6
    # surrogatepass: a lone surrogate in a non-ASCII dump becomes (invalid) CESU bytes, on purpose.
    return dumps(value, sep, ascii_only).encode("utf-8", "surrogatepass")


def obj_get(obj, key):
    for k, v in obj:
        if k == key:
            return v
    return None


def obj_set(obj, key, value):
    for i, (k, _) in enumerate(obj):
        if k == key:
            obj[i] = (key, value)
            return obj
    obj.append((key, value))
    return obj


def obj_without(obj, key):
    return Obj((k, v) for k, v in obj if k != key)


def printable(rng, size, alphabet=b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./"):
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rng.randbytes(size).translate(table)


def whitespace(rng, size):
    """JSON whitespace (what the decoder skips between messages), ``size`` bytes."""
    return printable(rng, size, b" \t\r\n")
