import linecache

import pytest

from bld_remote_mcp.engine import code_runner
from bld_remote_mcp.engine.code_runner import FILENAME_PREFIX, compile_user_code, describe_error


def run(source, namespace=None):
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    return code_runner.run(compile_user_code(source), namespace)


def failure(source, namespace=None):
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    compiled = compile_user_code(source)
    try:
        code_runner.run(compiled, namespace)
    except BaseException as exc:
        return exc
    pytest.fail("no exception")


# -- values ------------------------------------------------------------------------------------
def test_last_expression_is_the_value():
    assert run("x = 2\nx * 21") == 42


def test_no_final_expression_gives_none():
    assert run("x = 2") is None
    assert run("") is None
    assert run("# just a comment\n") is None
    assert run("if True:\n    5") is None


def test_final_call_runs_once():
    ns = {"calls": []}
    assert run("calls.append(1)\nlen(calls)", ns) == 1
    assert run("calls.append(1) or 'x'", ns) == "x"
    assert ns["calls"] == [1, 1]


def test_result_variable_wins_over_the_last_expression():
    assert run("_result = {'a': 1}\n'ignored'") == {"a": 1}


def test_result_variable_set_to_none_wins():
    assert run("_result = None\n5") is None


def test_result_from_a_previous_call_does_not_leak():
    ns = {}
    assert run("_result = 'first'", ns) == "first"
    assert run("y = 1", ns) is None
    assert "_result" not in ns


def test_namespace_persists_between_calls():
    ns = {}
    run("def f(a):\n    return a + 1\ncounter = 10", ns)
    assert run("counter = f(counter)\ncounter", ns) == 11


def test_each_compile_gets_its_own_filename_and_linecache_entry():
    a, b = compile_user_code("1"), compile_user_code("2")
    assert a.filename != b.filename
    assert a.filename.startswith(FILENAME_PREFIX) and a.filename.endswith(">")
    assert linecache.getline(a.filename, 1) == "1"


def test_linecache_is_bounded():
    first = compile_user_code("first_source = 1\n")
    for i in range(code_runner._MAX_SOURCES):
        compile_user_code(f"x = {i}  # linecache bound\n")
    assert linecache.getline(first.filename, 1) == ""


def test_same_source_compiled_again_still_runs_and_reports_correct_lines():
    source = "a = 1\nb = a + 1\nb * 10"
    assert run(source) == 20
    assert run(source) == 20
    exc = failure("x = 1\nraise KeyError('again')")
    exc2 = failure("x = 1\nraise KeyError('again')")
    for e in (exc, exc2):
        assert code_runner.user_line(e) == 2
        assert "raise KeyError('again')" in code_runner.format_exception(e)


def test_source_evicted_from_linecache_is_recompiled_with_its_lines():
    source = "def boom():\n    raise ValueError('evicted')\n"
    compile_user_code(source)
    for i in range(code_runner._MAX_SOURCES + 5):
        compile_user_code(f"y = {i}  # evict\n")
    ns = {}
    run(source, ns)
    exc = failure("boom()", ns)
    assert "raise ValueError('evicted')" in code_runner.format_exception(exc)


# -- errors ------------------------------------------------------------------------------------
def test_traceback_starts_at_user_code_and_shows_the_source_line():
    exc = failure("a = 1\nb = 0\nprint('x')\nraise ValueError('bad value')\n")
    text = code_runner.format_exception(exc)
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{FILENAME_PREFIX}') and "line 4" in lines[1]
    assert "raise ValueError('bad value')" in text
    assert lines[-1] == "ValueError: bad value"
    assert "code_runner.py" not in text and "test_code_runner.py" not in text


def test_error_in_the_final_expression_has_the_right_line():
    exc = failure("x = 1\n\n1 / 0")
    assert isinstance(exc, ZeroDivisionError)
    assert code_runner.user_line(exc) == 3
    assert "1 / 0" in code_runner.format_exception(exc)


def test_function_defined_in_an_earlier_call_shows_its_source_when_it_fails_later():
    ns = {}
    run("def explode():\n    return {}['missing_key']\n", ns)
    exc = failure("y = 1\nexplode()", ns)
    text = code_runner.format_exception(exc)
    assert "explode()" in text
    assert "return {}['missing_key']" in text
    assert code_runner.user_line(exc) == 2  # innermost user frame: line 2 of the first call


def test_user_line_is_the_innermost_user_frame():
    exc = failure("def f():\n    g()\ndef g():\n    raise KeyError('k')\nf()")
    assert code_runner.user_line(exc) == 4


def test_user_line_when_library_code_raises():
    exc = failure("import json\njson.loads('{bad')")
    assert code_runner.user_line(exc) == 2
    text = code_runner.format_exception(exc)
    assert "json" in text and text.splitlines()[-1].startswith("json.decoder.JSONDecodeError")


def test_addon_frames_after_the_user_code_are_trimmed_too():
    exc = failure("from bld_remote_mcp.wire import params\nparams.get({}, 'needed', (str,))")
    text = code_runner.format_exception(exc)
    assert "params.py" not in text and "bld_remote_mcp/" not in text
    assert "params.get({}, 'needed', (str,))" in text
    assert text.rstrip().endswith("missing required param 'needed'")
    assert code_runner.user_line(exc) == 2


def test_frames_of_other_libraries_are_kept():
    exc = failure("import json\njson.loads('{bad')")
    text = code_runner.format_exception(exc)
    assert "json/decoder.py" in text or "json\\decoder.py" in text


def test_user_line_without_traceback_is_none():
    assert code_runner.user_line(ValueError("never raised")) is None
    assert code_runner.format_exception(ValueError("plain")) == "ValueError: plain\n"


def test_syntax_error_has_line_and_column():
    with pytest.raises(SyntaxError) as info:
        compile_user_code("x = 1\ny = (2 +\nz = 3\n")
    error = describe_error(info.value)
    assert error["code"] == "execution_error" and error["type"] == "SyntaxError"
    assert isinstance(error["line"], int) and 2 <= error["line"] <= 3
    assert isinstance(error["column"], int) and error["column"] >= 1
    assert error["message"] == info.value.msg


def test_syntax_error_text_is_the_offending_line():
    with pytest.raises(SyntaxError) as info:
        compile_user_code("ok = 1\nx = = 1\n")
    error = describe_error(info.value)
    assert error["line"] == 2
    assert error["text"] == "x = = 1"
    assert error["column"] == 5  # 1-based, at the second "="
    assert error["message"].startswith("invalid syntax")


def test_indentation_error_is_described_as_such():
    with pytest.raises(IndentationError) as info:
        compile_user_code("if True:\nprint(1)\n")
    error = describe_error(info.value)
    assert error["type"] == "IndentationError" and error["line"] == 2


def test_describe_error_for_a_runtime_error():
    exc = failure("x = 1\nundefined_name + 1")
    assert describe_error(exc) == {
        "code": "execution_error",
        "type": "NameError",
        "message": "name 'undefined_name' is not defined",
        "line": 2,
    }


def test_exception_with_no_message():
    exc = failure("raise RuntimeError")
    assert describe_error(exc)["message"] == ""


def test_system_exit_passes_through_run():
    exc = failure("import sys\nsys.exit(4)")
    assert isinstance(exc, SystemExit) and exc.code == 4
