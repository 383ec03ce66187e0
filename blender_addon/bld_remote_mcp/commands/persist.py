"""The three persist-data commands (1.3.3 names and shapes): a process-wide key/value store."""

from ..wire import errors, params
from . import command


@command("put_persist_data")
def put_persist_data(ctx, p):
    key = params.get(p, "key", (str,))
    if "data" not in p:
        raise params.CommandError(errors.INVALID_PARAMS, "missing required param 'data'", param="data")
    ctx.service.persist.put(key, p["data"])
    return f"Data stored with key: {key}"


@command("get_persist_data")
def get_persist_data(ctx, p):
    key = params.get(p, "key", (str,))
    data, found = ctx.service.persist.get(key, p.get("default"))
    return {"data": data, "found": found}


@command("remove_persist_data")
def remove_persist_data(ctx, p):
    key = params.get(p, "key", (str,))
    return {"removed": ctx.service.persist.remove(key)}
