"""The entry scripts' shared arguments and the ready file (startup.py)."""

import json
import os

import pytest

from bld_remote_mcp import startup


def test_blender_arguments_before_the_separator_are_not_ours():
    argv = ["blender", "-b", "--python", "keepalive.py", "--", "--port", "0"]
    assert startup.script_args(argv, has_bpy_module=True) == ["--port", "0"]


def test_plain_python_passes_everything_after_the_script():
    assert startup.script_args(["keepalive.py", "--port", "5"], has_bpy_module=False) == ["--port", "5"]
    # Blender started the script without "--": nothing is ours (Blender's flags are not).
    assert startup.script_args(["blender", "-b", "--python", "x.py"], has_bpy_module=True) == []


def test_every_option_parses():
    args = startup.parse_args(["--port", "0", "--host", "::1", "--ready-file", "r.json", "--blend", "a.blend"],
                              "keepalive.py", "test")
    assert (args.port, args.host, args.ready_file, args.blend) == (0, "::1", "r.json", "a.blend")
    defaults = startup.parse_args([], "keepalive.py", "test")
    assert (defaults.port, defaults.host, defaults.ready_file, defaults.blend) == (None, None, None, None)


def test_a_bad_port_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        startup.parse_args(["--port", "many"], "keepalive.py", "test")
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_the_ready_file_is_written_whole_and_replaces_an_old_one(tmp_path):
    path = tmp_path / "ready.json"
    path.write_text("stale")
    startup.write_ready_file(str(path), 6688, 42, "gui")
    assert json.loads(path.read_text()) == {"port": 6688, "pid": 42, "mode": "gui"}
    assert os.listdir(tmp_path) == ["ready.json"], "no temporary file left behind"

