"""The addon's error codes are one list (``wire/errors.py``), and that list is the table of
docs/protocol.md §3, in its order (the Rust side holds its ErrorCode to the same table in
crates/bld-remote-protocol/src/error_code.rs).

Every error the addon sends names its code by a constant of ``errors``: the scan below reads the
package's source (AST, not imports, so a code in a function no test calls is still seen) and
finds every place a code is given to an error (``CommandError``, ``replies.failure``,
``FramingError``, ``cancelled_before_start``, a ``"code"`` key or a ``code=`` argument, a
comparison with an error's code). A bare string there, or a constant ``errors`` does not define,
fails.
"""

import ast
from pathlib import Path

from bld_remote_mcp.wire import errors
from bld_remote_mcp.wire.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "blender_addon" / "bld_remote_mcp"
PROTOCOL = ROOT / "docs" / "protocol.md"

# Callables that take an error code, and the position of the code among their arguments.
CODE_ARGUMENT = {"CommandError": 0, "failure": 1, "FramingError": 1, "cancelled_before_start": 1}


def section(text, heading):
    """The body of the section whose heading line starts with ``heading`` (e.g. ``"## 3."``), up
    to the next heading of the same level."""
    start = text.index("\n" + heading) + 1
    body = text[text.index("\n", start) + 1:]
    level = heading.split(" ")[0]
    end = body.find("\n" + level + " ")
    return body if end < 0 else body[:end + 1]


def cells(line):
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        return []
    return [cell.strip() for cell in line[1:-1].split("|")]


def table(text, header):
    """The rows (lists of trimmed cells) of the first table in ``text`` with this header row."""
    lines = iter(text.splitlines())
    for line in lines:
        if cells(line) == header:
            break
    else:
        raise AssertionError(f"no table with header {header!r}")
    next(lines)  # |---|---|
    rows = []
    for line in lines:
        if not line.lstrip().startswith("|"):
            break
        rows.append(cells(line))
    return rows


def documented_codes():
    rows = table(section(PROTOCOL.read_text(encoding="utf-8"), "## 3."), ["code", "when"])
    return [row[0].strip("`") for row in rows]


def test_the_list_is_the_table_of_the_protocol_document_in_its_order():
    documented = documented_codes()
    assert len(documented) >= 17, documented  # the table was found and read whole
    assert list(ERROR_CODES) == documented


def test_the_list_is_its_constants():
    """Each constant of ``errors`` is in the list and each code of the list has its constant
    (named after it), so that code naming a code can only name a listed one."""
    constants = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
    assert sorted(constants.values()) == sorted(ERROR_CODES)
    assert all(constants[code.upper()] == code for code in ERROR_CODES)
    assert len(set(ERROR_CODES)) == len(ERROR_CODES)


# -- every code the addon sends ---------------------------------------------------------------
def _name(func):
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _reads_a_code(node):
    """``x.code``, ``x["code"]`` or ``x.get("code")``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "code"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "code"
    if isinstance(node, ast.Call) and _name(node.func) == "get" and node.args:
        return isinstance(node.args[0], ast.Constant) and node.args[0].value == "code"
    return False


def code_positions(source, filename="<source>"):
    """(line, node) of every expression that gives or compares an error code in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            position = CODE_ARGUMENT.get(_name(node.func))
            if position is not None and len(node.args) > position:
                found.append(node.args[position])
            found.extend(kw.value for kw in node.keywords if kw.arg == "code")
        elif isinstance(node, ast.Dict):
            found.extend(v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant) and k.value == "code")
        elif isinstance(node, ast.Assign):
            if any(_reads_a_code(target) for target in node.targets):
                found.append(node.value)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_reads_a_code(side) for side in sides):
                found.extend(side for side in sides if not _reads_a_code(side))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args[len(node.args.args) - len(node.args.defaults):]
            found.extend(d for a, d in zip(args, node.args.defaults) if a.arg == "code")
            found.extend(d for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if a.arg == "code" and d)
    return [(n.lineno, n) for n in found]


def offences(source, filename="<source>"):
    """What is wrong with the codes in ``source``: a bare string, or ``errors.NAME`` naming no code."""
    wrong = []
    for line, node in code_positions(source, filename):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            wrong.append((line, f"bare code {node.value!r}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors":
            if getattr(errors, node.attr, None) not in ERROR_CODES:
                wrong.append((line, f"errors.{node.attr} is no code"))
    for node in ast.walk(ast.parse(source, filename=filename)):  # wherever it is used
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors":
            if node.attr.isupper() and getattr(errors, node.attr, None) not in ERROR_CODES:
                wrong.append((node.lineno, f"errors.{node.attr} is no code"))
    return sorted(set(wrong))


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_code_the_addon_sends_is_a_constant_of_the_list():
    found = {}
    named = set()
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        relative = str(path.relative_to(PACKAGE))
        wrong = offences(source, relative)
        if wrong:
            found[relative] = wrong
        for _line, node in code_positions(source, relative):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors":
                named.add(node.attr)
    assert found == {}, "name error codes by their constant in wire/errors.py (one listed there)"
    # The scan does see the addon's errors: most codes are sent from more than one place, and the
    # only ones not named at a code position travel through a variable (FramingError.code).
    assert {"PARSE_ERROR", "INVALID_PARAMS", "NOT_FOUND", "TIMEOUT", "UNAUTHORIZED", "GUARD_REFUSED",
            "CHECKPOINT_FAILED", "INTERNAL_ERROR"} <= named, named


def test_the_scan_sees_every_way_of_giving_a_code():
    sample = (
        "def f(exc, job, reply, event, code='cancelled'):\n"  # 1
        "    raise CommandError('made_up', 'm')\n"  # 2
        "    replies.failure(None, 'busy', 'm')\n"  # 3
        "    FramingError(V1, 'parse_error', 'm')\n"  # 4
        "    cancelled_before_start(job, 'shutting_down', 'm')\n"  # 5
        "    err = {'code': 'timeout', 'message': 'm'}\n"  # 6
        "    reply['error']['code'] = 'guard_refused'\n"  # 7
        "    if reply['error'].get('code') == 'execution_error' or event.code == 'x':\n"  # 8
        "        return errors.NO_SUCH_CODE, errors.BUSY, CommandError(errors.BUSY, 'm')\n"  # 9
        "    return envelope('timeout', error={'code': err['code']}), status == 'cancelled'\n"  # 10
    )
    assert offences(sample) == [
        (1, "bare code 'cancelled'"), (2, "bare code 'made_up'"), (3, "bare code 'busy'"),
        (4, "bare code 'parse_error'"), (5, "bare code 'shutting_down'"), (6, "bare code 'timeout'"),
        (7, "bare code 'guard_refused'"), (8, "bare code 'execution_error'"), (8, "bare code 'x'"),
        (9, "errors.NO_SUCH_CODE is no code"),
    ]
