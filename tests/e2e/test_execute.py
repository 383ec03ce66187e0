"""execute_code against real Blender (3.4 background and bpy 5.0.1): results, output, errors."""

import base64
import json
import time

import pytest


def test_last_expression_is_the_result(client):
    reply = client.ok("a = 20\na + 22")
    assert reply["result"] == 42
    assert reply["error"] is None and reply["traceback"] is None
    assert reply["duration"] >= 0


def test_result_variable_wins_over_last_expression(client):
    assert client.ok("_result = {'k': [1, 2]}\n'ignored'")["result"] == {"k": [1, 2]}


def test_statement_only_code_returns_null(client):
    assert client.ok("x = 1")["result"] is None


def test_result_from_previous_call_does_not_leak(client):
    client.ok("_result = 'first'")
    assert client.ok("y = 2")["result"] is None


def test_namespace_persists_per_connection(backend):
    with backend.client() as one, backend.client() as two:
        one.ok("a = 5")
        assert one.ok("a + 1")["result"] == 6
        reply = two.execute("a")
        assert reply["status"] == "error" and reply["error"]["type"] == "NameError"


def test_reset_session_clears_the_namespace(client):
    client.ok("kept = 1")
    reset = client.call("reset_session")
    assert reset["status"] == "success" and reset["result"]["existed"] is True
    assert client.execute("kept")["error"]["type"] == "NameError"


def test_named_session_is_shared_between_connections(backend):
    with backend.client() as one, backend.client() as two:
        one.ok("shared_value = 'hello'", session="team")
        assert two.ok("shared_value", session="team")["result"] == "hello"
        assert two.execute("shared_value")["status"] == "error"  # its own namespace does not have it
        two.call("reset_session", {"session": "team"})
        assert one.execute("shared_value", session="team")["status"] == "error"


def test_bpy_mathutils_bmesh_are_preimported(client):
    reply = client.ok("(bpy.app.version_string, mathutils.Vector((1, 2, 3)).length > 3, bmesh.new() is not None)")
    version, longer, made = reply["result"]
    assert version[0].isdigit() and longer is True and made is True


def test_serialization_of_blender_and_python_values(client):
    code = """
import math
obj = bpy.data.objects['Cube']
_result = {
    'vector': obj.location,
    'matrix': obj.matrix_world,
    'object': obj,
    'bytes': b'\\x00\\xff',
    'set': {3, 1, 2},
    'tuple': (1, 'a'),
    'nan': math.nan,
    'inf': -math.inf,
    'big': 2 ** 80,
    'custom': type('Thing', (), {'__repr__': lambda self: '<thing>'})(),
    'keys': {1: 'one', None: 'none'},
}
"""
    result = client.ok(code)["result"]
    assert result["vector"] == [0.0, 0.0, 0.0]
    assert result["matrix"] == [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert result["object"]["__type__"] == "bpy.types.Object"
    assert result["object"]["name"] == "Cube"
    assert result["object"]["data_path"] == "bpy.data.objects['Cube']"
    assert result["bytes"] == {"__type__": "bytes", "length": 2, "base64": base64.b64encode(b"\x00\xff").decode()}
    assert result["set"] == [1, 2, 3]
    assert result["tuple"] == [1, "a"]
    assert result["nan"] == {"__type__": "float", "value": "nan"}
    assert result["inf"] == {"__type__": "float", "value": "-inf"}
    assert result["big"] == {"__type__": "int", "value": str(2**80)}
    assert result["custom"]["repr"] == "<thing>"
    assert result["keys"] == {"1": "one", "null": "none"}


def test_numpy_array_result(client):
    reply = client.execute("import numpy as np\nnp.arange(6, dtype=np.float32).reshape(2, 3)")
    assert reply["status"] == "success", reply
    assert reply["result"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_large_values_are_truncated_with_a_marker(client):
    reply = client.ok("'x' * 50000", max_result_bytes=10000)
    result = reply["result"]
    assert result["__truncated__"] is True and result["length"] == 50000
    listing = client.ok("list(range(100000))", max_result_bytes=2000)["result"]
    assert listing[-1]["__truncated__"] is True
    assert listing[-1]["omitted_items"] + len(listing) - 1 == 100000


def test_stdout_stderr_and_warnings_are_captured(client):
    code = "import sys, warnings\nprint('out line')\nsys.stderr.write('err line\\n')\nwarnings.warn('careful now')"
    output = client.ok(code)["output"]
    assert output["stdout"] == "out line\n"
    assert "err line" in output["stderr"]
    assert "careful now" in output["stderr"] and "UserWarning" in output["stderr"]


def test_logging_records_are_captured(client):
    code = "import logging\nlogging.getLogger('my.tool').warning('disk is %s', 'full')"
    logs = client.ok(code)["output"]["logs"]
    assert {"source": "logging", "level": "WARNING", "logger": "my.tool", "message": "disk is full"} in logs


def test_blender_c_level_output_is_in_logs(backend, client, tmp_path):
    path = tmp_path / "saved.blend"
    reply = client.ok(f"bpy.ops.wm.save_as_mainfile(filepath={str(path)!r}, copy=True)\nimport os\nos.system('echo from-a-child-process')")
    blender_lines = [rec["message"] for rec in reply["output"]["logs"] if rec["source"] == "blender"]
    # Written straight to fd 1, never through sys.stdout: a child process, and Blender's C code.
    assert "from-a-child-process" in blender_lines, reply["output"]
    if backend.kind == "bg":
        assert any(line.startswith("Info: Total files") for line in blender_lines), reply["output"]
    # Operator reports are written by Blender through sys.stdout, so they arrive in stdout.
    assert "Info: Saved" in reply["output"]["stdout"] and "saved.blend" in reply["output"]["stdout"]
    assert path.exists()


def test_prints_from_other_threads_do_not_leak_into_a_call(client):
    client.ok(
        "import threading, time\n"
        "stop_noise = threading.Event()\n"
        "noise_printed = [0]\n"
        "def noise():\n"
        "    while not stop_noise.is_set():\n"
        "        print('NOISE-FROM-THREAD')\n"
        "        noise_printed[0] += 1\n"
        "        time.sleep(0.001)\n"
        "threading.Thread(target=noise, daemon=True).start()"
    )
    try:
        # The call lasts until the other thread has printed 20 times during it.
        reply = client.ok("import time\nprint('mine')\nuntil = noise_printed[0] + 20\n"
                          "while noise_printed[0] < until:\n    time.sleep(0.001)\nprint('mine again')", timeout=60)
    finally:
        client.ok("stop_noise.set()")
    assert reply["output"]["stdout"] == "mine\nmine again\n"
    assert all("NOISE" not in rec["message"] for rec in reply["output"]["logs"])


def test_error_reports_type_message_line_and_user_traceback(client):
    reply = client.execute("print('before')\nx = 1\n\ndef f():\n    return 1 / 0\n\nf()")
    assert reply["status"] == "error"
    error = reply["error"]
    assert error["code"] == "execution_error"
    assert error["type"] == "ZeroDivisionError" and error["message"] == "division by zero"
    assert error["line"] == 5
    tb = reply["traceback"]
    assert tb.startswith("Traceback (most recent call last):")
    assert "line 7, in <module>" in tb and "line 5, in f" in tb and "return 1 / 0" in tb
    assert "bld_remote_mcp" not in tb, "the addon's own frames must not show"
    assert reply["output"]["stdout"] == "before\n"


def test_syntax_error_gives_line_and_column(client):
    reply = client.execute("x = 1\ny = (2 +\nz = 3")
    assert reply["status"] == "error"
    assert reply["error"]["type"] == "SyntaxError"
    assert reply["error"]["line"] == 2
    assert isinstance(reply["error"]["column"], int) and reply["error"]["column"] >= 1
    assert "SyntaxError" in reply["traceback"]


def test_functions_from_earlier_calls_show_their_source_in_tracebacks(client):
    client.ok("def broken():\n    raise ValueError('from an earlier call')")
    reply = client.execute("broken()")
    assert reply["error"]["type"] == "ValueError"
    assert "raise ValueError('from an earlier call')" in reply["traceback"]


def test_metadata_reports_created_and_deleted_objects(client):
    created = client.ok("bpy.ops.mesh.primitive_uv_sphere_add()\nbpy.context.object.name = 'MetaBall1'")
    meta = created["metadata"]
    assert meta["objects_created"] == ["MetaBall1"]
    assert meta["objects_deleted"] == [] and meta["scene_changed"] is True
    assert isinstance(meta["memory_before"], int) and isinstance(meta["memory_after"], int)
    assert meta["memory_before"] > 10 * 1024 * 1024
    deleted = client.ok("bpy.data.objects.remove(bpy.data.objects['MetaBall1'])")["metadata"]
    assert deleted["objects_deleted"] == ["MetaBall1"] and deleted["scene_changed"] is True
    moved = client.ok("bpy.data.objects['Cube'].location.x += 0.0")["metadata"]
    assert moved["scene_changed"] is False
    client.ok("bpy.data.objects['Cube'].location.x += 1.0")
    back = client.ok("bpy.data.objects['Cube'].location.x -= 1.0")["metadata"]
    assert back["scene_changed"] is True


def test_base64_code_and_invalid_base64(client):
    encoded = base64.b64encode("print('é')\n'ok'".encode()).decode()
    reply = client.ok(encoded, code_is_base64=True)
    assert reply["result"] == "ok" and reply["output"]["stdout"] == "é\n"
    bad = client.execute("not base64 !!", code_is_base64=True)
    assert bad["status"] == "error" and bad["error"]["code"] == "invalid_params" and bad["error"]["param"] == "code"


def test_capture_output_false_leaves_output_empty(backend):
    with backend.client() as c:
        reply = c.ok("print('to blender stdout: uncaptured-marker')\n7", capture_output=False)
    assert reply["result"] == 7 and reply["output"]["stdout"] == ""
    deadline = time.monotonic() + 60  # a hang guard: Blender's stdout reaches its log file
    while "uncaptured-marker" not in backend.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "uncaptured-marker" in backend.output()


def test_big_stdout_and_result_round_trip(client):
    reply = client.ok("print('y' * 2_000_000)\n'z' * 3_000_000")
    assert len(reply["output"]["stdout"]) == 2_000_001
    assert len(reply["result"]) == 3_000_000


def test_unicode_and_json_special_characters(client):
    text = 'quote " backslash \\ newline \n tab \t brace { unicode ☃ emoji 🎉'
    reply = client.ok(f"print({text!r})\n{text!r}")
    assert reply["result"] == text
    assert reply["output"]["stdout"] == text + "\n"


def test_wrong_param_types_name_the_param(client):
    for params, name in (
        ({"code": 5}, "code"),
        ({"code": "1", "timeout": "soon"}, "timeout"),
        ({"code": "1", "capture_output": "yes"}, "capture_output"),
        ({"code": "1", "execution_mode": "later"}, "execution_mode"),
        ({"code": "1", "timeout": True}, "timeout"),
        ({}, "code"),
    ):
        reply = client.call("execute_code", params)
        assert reply["status"] == "error", params
        assert reply["error"]["code"] == "invalid_params"
        assert reply["error"]["param"] == name
        assert name in reply["error"]["message"]


def test_replies_are_strict_json(client):
    client.send_raw(json.dumps({"id": 1, "type": "execute_code", "params": {"code": "float('nan')"}}).encode() + b"\n")
    raw = client.read_raw_line()
    assert b"NaN" not in raw
    json.loads(raw, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))


def test_checkpoint_saves_a_copy_of_the_file_before_the_code_runs(backend):
    with backend.client() as c:
        c.ok("bpy.ops.mesh.primitive_cube_add()\nbpy.context.active_object.name = 'KeepMe'")
        reply = c.ok("bpy.data.objects.remove(bpy.data.objects['KeepMe'])", checkpoint=True)
        path = reply["metadata"]["checkpoint"]
        assert "checkpoints" in path and path.endswith(".blend")
        # The copy holds the scene as it was before the call; the open file is unchanged in name.
        listed = c.ok(
            f"with bpy.data.libraries.load({path!r}) as (src, dst):\n"
            "    names = list(src.objects)\n"
            "(names, bpy.data.filepath)"
        )["result"]
        assert "KeepMe" in listed[0]
        assert "KeepMe" not in c.ok("[o.name for o in bpy.data.objects]")["result"]
        assert not listed[1].endswith(path.rsplit("/", 1)[-1]), "the open file keeps its own path"
