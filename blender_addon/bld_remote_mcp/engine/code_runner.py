"""Compiles and runs user code like a REPL cell, and shapes its errors.

Pure module (no bpy).

* The value of a final expression statement is returned (as in a REPL or notebook), unless the
  code assigned ``_result``, which wins.
* Every call gets its own pseudo file name (``<bld-remote:N>``) registered in ``linecache``, so
  tracebacks show the user's lines with their numbers, and functions defined in one call still
  show their source when they fail in a later one.
* Tracebacks start at the user's first frame: the addon's own frames are noise to the reader.
"""

import ast
import collections
import itertools
import linecache
import os
import threading
import traceback

from ..wire import errors

FILENAME_PREFIX = "<bld-remote:"
# The whole addon (this file is in its engine/ subpackage): its frames are cut from tracebacks.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_MISSING = object()
_counter = itertools.count(1)
_lock = threading.Lock()
# Sources kept for tracebacks; bounded so that a long session does not keep every call's code.
_MAX_SOURCES = 200
_sources = collections.OrderedDict()


def _register_source(filename, source):
    with _lock:
        _sources[filename] = True
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        while len(_sources) > _MAX_SOURCES:
            old, _ = _sources.popitem(last=False)
            linecache.cache.pop(old, None)


class CompiledCode:
    __slots__ = ("filename", "body", "last_expr")

    def __init__(self, filename, body, last_expr):
        self.filename = filename
        self.body = body  # code object of all statements but a final expression
        self.last_expr = last_expr  # code object evaluating the final expression, or None


# Agents resend the same snippets often: the same source compiles to the same code objects
# (and may share one pseudo file name, since its lines are the same).
_MAX_COMPILED = 256
_compiled = collections.OrderedDict()


def compile_user_code(source):
    """Compile ``source``. Raises SyntaxError (with the user's line and column)."""
    with _lock:
        cached = _compiled.get(source)
        if cached is not None:
            _compiled.move_to_end(source)
            if cached.filename in linecache.cache:
                return cached
    filename = f"{FILENAME_PREFIX}{next(_counter)}>"
    _register_source(filename, source)
    tree = ast.parse(source, filename=filename, mode="exec")
    last_expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = tree.body.pop()
        last_expr = compile(ast.Expression(expr.value), filename, "eval")
    body = compile(tree, filename, "exec")
    compiled = CompiledCode(filename, body, last_expr)
    if len(source) <= 65536:  # keep big one-off scripts out of the cache
        with _lock:
            _compiled[source] = compiled
            while len(_compiled) > _MAX_COMPILED:
                _compiled.popitem(last=False)
    return compiled


def run(compiled, namespace):
    """Run compiled code in ``namespace``; returns the call's value (``_result`` or last expression)."""
    namespace.pop("_result", None)
    exec(compiled.body, namespace)
    value = None
    if compiled.last_expr is not None:
        value = eval(compiled.last_expr, namespace)
    result = namespace.get("_result", _MISSING)
    return value if result is _MISSING else result


def _trim_to_user_frames(tb):
    """Drop the leading frames that are not user code (the addon's own)."""
    first = tb
    while first is not None and not first.tb_frame.f_code.co_filename.startswith(FILENAME_PREFIX):
        first = first.tb_next
    return first if first is not None else tb


def format_exception(exc):
    """Traceback text of ``exc`` from the user's code on, without the addon's own frames.

    Leading frames (the executor calling the code) are cut, and so are trailing frames of this
    package (the signal handler that raised a timeout inside the user's loop).
    """
    tb = exc.__traceback__
    if tb is not None:
        exc = exc.with_traceback(_trim_to_user_frames(tb))
    summary = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    while len(summary.stack) > 1 and summary.stack[-1].filename.startswith(_PACKAGE_DIR):
        summary.stack.pop()
    return "".join(summary.format())


def user_line(exc):
    """Line number in the user's code where ``exc`` was raised (innermost user frame), or None."""
    if isinstance(exc, SyntaxError):
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(FILENAME_PREFIX):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe_error(exc):
    """The structured ``error`` object of an envelope for an exception raised by user code."""
    error = {
        "code": errors.EXECUTION_ERROR,
        "type": type(exc).__name__,
        "message": str(exc) if not isinstance(exc, SyntaxError) else exc.msg,
        "line": user_line(exc),
    }
    if isinstance(exc, SyntaxError):
        error["column"] = exc.offset
        error["text"] = (exc.text or "").rstrip("\n")
    return error
