import base64
import enum
import json
import math
import sys
import types

import pytest

from bld_remote_mcp.wire.serialize import TRUNCATED_KEY, TYPE_KEY, Serializer, to_json_safe


def strict_json(value):
    """What the wire would carry: fails on NaN/Infinity and non-string keys."""
    return json.loads(json.dumps(value, allow_nan=False))


def convert(value, **kwargs):
    out = to_json_safe(value, **kwargs)
    assert strict_json(out) == out  # always strict JSON, and a JSON round trip changes nothing
    return out


# -- primitives --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, True, False, 0, -5, 1.5, -0.25, "", "héllo ☃", 2**63 - 1, -(2**63)])
def test_json_primitives_pass_through_unchanged(value):
    out = convert(value)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("value,text", [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")])
def test_non_finite_floats_become_markers(value, text):
    assert convert(value) == {TYPE_KEY: "float", "value": text}


def test_non_finite_floats_inside_containers():
    out = convert({"a": [1.0, float("nan")], "b": (float("inf"),)})
    assert out == {"a": [1.0, {TYPE_KEY: "float", "value": "nan"}], "b": [{TYPE_KEY: "float", "value": "inf"}]}


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**100, -(10**40)])
def test_ints_beyond_64_bits_become_string_markers(value):
    out = convert(value)
    assert out == {TYPE_KEY: "int", "value": str(value)}
    assert int(out["value"]) == value


def test_int_float_and_str_subclasses_become_plain_values():
    class Color(enum.IntEnum):
        RED = 3

    class MyFloat(float):
        pass

    class MyStr(str):
        pass

    out = convert([Color.RED, MyFloat(2.5), MyStr("abc"), MyFloat("nan")])
    assert out == [3, 2.5, "abc", {TYPE_KEY: "float", "value": "nan"}]
    assert type(out[0]) is int and type(out[1]) is float and type(out[2]) is str


# -- containers --------------------------------------------------------------------------------
def test_tuples_become_lists_recursively():
    assert convert((1, (2, (3,)), [4])) == [1, [2, [3]], [4]]


def test_sets_become_sorted_lists():
    assert convert({3, 1, 2}) == [1, 2, 3]
    assert convert(frozenset({"b", "a"})) == ["a", "b"]


def test_mixed_type_set_is_sorted_by_repr_instead_of_failing():
    out = convert({1, "a", None})
    assert sorted(map(repr, {1, "a", None})) == [repr(v) for v in out]


def test_dict_with_non_string_keys():
    out = convert({1: "int", 2.5: "float", None: "none", False: "bool", (1, 2): "tuple"})
    assert out == {"1": "int", "2.5": "float", "null": "none", "false": "bool", "(1, 2)": "tuple"}


def test_dict_keys_match_what_json_dumps_would_write():
    value = {True: 1, 7: 2, -1.5: 3}
    assert convert(value) == json.loads(json.dumps(value))


def test_colliding_keys_never_lose_a_value_silently():
    out = convert({1: "from int key", "1": "from str key"})
    values = [v for k, v in out.items() if k != TRUNCATED_KEY]
    assert ("from int key" in values and "from str key" in values) or TRUNCATED_KEY in out


def test_nested_structures():
    value = {"objects": [{"name": "Cube", "loc": (0.0, 1.0, 2.0), "tags": {"b", "a"}}]}
    assert convert(value) == {"objects": [{"name": "Cube", "loc": [0.0, 1.0, 2.0], "tags": ["a", "b"]}]}


# -- bytes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [bytes, bytearray, memoryview])
def test_bytes_like_values_are_base64(make):
    raw = bytes(range(256))
    out = convert(make(raw))
    assert out[TYPE_KEY] == "bytes" and out["length"] == 256
    assert base64.b64decode(out["base64"]) == raw


def test_empty_bytes():
    assert convert(b"") == {TYPE_KEY: "bytes", "length": 0, "base64": ""}


def test_bytes_over_budget_are_a_truncation_marker_without_content():
    out = convert(b"\x00" * 10_000, max_bytes=1_000)
    assert out == {TRUNCATED_KEY: True, TYPE_KEY: "bytes", "length": 10_000}


# -- cycles and depth --------------------------------------------------------------------------
def test_list_cycle_is_a_marker_not_a_recursion_error():
    a = [1]
    a.append(a)
    out = convert(a)
    assert out[0] == 1
    assert out[1][TYPE_KEY] == "cycle" and "list" in out[1]["repr"]


def test_dict_cycle_through_a_list():
    d = {"name": "root"}
    d["children"] = [d]
    out = convert(d)
    assert out["name"] == "root"
    assert out["children"][0][TYPE_KEY] == "cycle"


def test_shared_but_acyclic_references_are_converted_each_time():
    shared = [1, 2]
    assert convert([shared, shared, {"x": shared}]) == [[1, 2], [1, 2], {"x": [1, 2]}]


def test_depth_limit_marker_says_why():
    value = current = []
    for _ in range(50):
        nxt = []
        current.append(nxt)
        current = nxt
    out = convert(value, max_depth=5)
    node = out
    for _ in range(5):
        assert isinstance(node, list) and len(node) == 1
        node = node[0]
    assert node[TRUNCATED_KEY] is True
    assert "deeper than 5" in node["reason"]
    assert node[TYPE_KEY] == "list"


def test_default_depth_allows_32_levels():
    value = 0
    for _ in range(32):
        value = [value]
    out = convert(value)
    for _ in range(32):
        out = out[0]
    assert out == 0


# -- size budget -------------------------------------------------------------------------------
def test_string_that_fits_is_kept_whole():
    assert convert("a" * 500, max_bytes=1000) == "a" * 500


def test_string_over_budget_is_a_truncation_marker():
    out = convert("x" * 10_000, max_bytes=5_000)
    assert out[TRUNCATED_KEY] is True
    assert out[TYPE_KEY] == "str"
    assert out["length"] == 10_000
    assert set(out["preview"]) <= {"x"}


def test_truncated_string_carries_a_non_empty_preview():
    out = convert("x" * 10_000, max_bytes=5_000)
    assert out["preview"] == "x" * 1000  # _PREVIEW_CHARS


def test_a_truncated_string_does_not_evict_its_small_siblings():
    out = convert({"log": "x" * 100_000, "count": 5, "ok": True}, max_bytes=50_000)
    assert out["log"][TRUNCATED_KEY] is True
    assert out["count"] == 5 and out["ok"] is True


def test_list_over_budget_ends_with_an_explicit_marker():
    out = convert(list(range(10_000)), max_bytes=1_000)
    marker = out[-1]
    assert marker[TRUNCATED_KEY] is True and marker["total_items"] == 10_000
    kept = out[:-1]
    assert kept == list(range(len(kept)))  # a prefix, in order, nothing silently skipped
    assert len(kept) + marker["omitted_items"] == 10_000
    assert 0 < len(kept) < 10_000


def test_dict_over_budget_carries_an_explicit_marker():
    value = {f"key{i}": i for i in range(10_000)}
    out = convert(value, max_bytes=1_000)
    marker = out.pop(TRUNCATED_KEY)
    assert marker["total_items"] == 10_000
    assert len(out) + marker["omitted_items"] == 10_000
    assert all(value[k] == v for k, v in out.items())


def test_output_size_stays_near_the_budget():
    value = [{"name": f"obj{i}", "data": list(range(20)), "s": "y" * 50} for i in range(5_000)]
    for budget in (1_000, 10_000, 100_000):
        text = json.dumps(convert(value, max_bytes=budget))
        assert len(text) < 2 * budget + 500, (budget, len(text))


def test_everything_fits_under_a_large_budget():
    value = {"a": list(range(100)), "b": "z" * 1000}
    assert convert(value, max_bytes=64 * 1024 * 1024) == value


def test_zero_budget_still_gives_strict_json_with_markers():
    out = convert([1, 2, 3], max_bytes=0)
    assert out == [{TRUNCATED_KEY: True, "omitted_items": 3, "total_items": 3}]


def test_serializer_budget_is_shared_across_calls_on_one_instance():
    s = Serializer(max_bytes=100)
    assert s.convert("a" * 50) == "a" * 50
    assert s.convert("b" * 80)[TRUNCATED_KEY] is True


# -- arbitrary objects -------------------------------------------------------------------------
class Plain:
    def __repr__(self):
        return "<Plain thing>"


def test_unknown_object_becomes_a_repr_marker_with_its_qualified_type():
    out = convert(Plain())
    assert out == {TYPE_KEY: f"{__name__}.Plain", "repr": "<Plain thing>"}


def test_builtin_types_are_named_without_module():
    out = convert(complex(1, 2))
    assert out == {TYPE_KEY: "complex", "repr": "(1+2j)"}


def test_broken_repr_does_not_break_the_result():
    class Broken:
        def __repr__(self):
            raise RuntimeError("repr exploded")

    out = convert([Broken(), 1])
    assert out[1] == 1
    assert out[0]["repr"] == "<repr failed: RuntimeError: repr exploded>"
    assert out[0][TYPE_KEY].endswith("Broken")


def test_very_long_repr_is_cut_with_a_marker():
    class Long:
        def __repr__(self):
            return "r" * 5000

    out = convert(Long())
    assert out["repr"] == "r" * 2000
    assert out[TRUNCATED_KEY] is True and out["repr_length"] == 5000


def test_functions_and_modules_are_repr_markers():
    out = convert([len, types])
    assert out[0][TYPE_KEY] == "builtin_function_or_method" and "len" in out[0]["repr"]
    assert out[1][TYPE_KEY] == "module" and "types" in out[1]["repr"]


def test_plain_enum_is_a_repr_marker():
    class Mode(enum.Enum):
        A = "a"

    out = convert(Mode.A)
    assert out[TYPE_KEY].endswith("Mode") and "Mode.A" in out["repr"]


# -- Blender types, recognised by duck typing --------------------------------------------------
def test_mathutils_values_become_lists(monkeypatch):
    fake = types.ModuleType("mathutils")

    class Vector(tuple):
        pass

    class Matrix:
        def __init__(self, rows):
            self.rows = rows

        def __iter__(self):
            return iter(self.rows)

    class Euler:  # not iterable: like BVHTree & co, falls back to a repr
        def __repr__(self):
            return "<Euler>"

    fake.Vector, fake.Matrix, fake.Euler = Vector, Matrix, Euler
    monkeypatch.setitem(sys.modules, "mathutils", fake)
    out = convert({"v": Vector((1.0, 2.0, 3.0)), "m": Matrix([Vector((1.0, 0.0)), Vector((0.0, 1.0))]),
                   "e": Euler()})
    assert out["v"] == [1.0, 2.0, 3.0]
    assert out["m"] == [[1.0, 0.0], [0.0, 1.0]]
    assert out["e"]["repr"] == "<Euler>"


def test_bpy_id_blocks_become_name_and_data_path(monkeypatch):
    bpy = types.ModuleType("bpy")

    class ID:
        bl_rna = object()

    class Object(ID):
        def __init__(self, name):
            self.name = name
            self.id_type = "OBJECT"

        def __repr__(self):
            return f"bpy.data.objects[{self.name!r}]"

    class Modifier:
        bl_rna = object()

        def __repr__(self):
            return "bpy.data.objects['Cube'].modifiers['Bevel']"

    bpy.types = types.SimpleNamespace(ID=ID)
    monkeypatch.setitem(sys.modules, "bpy", bpy)
    out = convert([Object("Cube"), Modifier()])
    assert out[0] == {TYPE_KEY: "bpy.types.Object", "name": "Cube", "data_path": "bpy.data.objects['Cube']",
                      "id_type": "OBJECT"}
    assert out[1] == {TYPE_KEY: "bpy.types.Modifier", "repr": "bpy.data.objects['Cube'].modifiers['Bevel']"}


def test_bpy_prop_collections_are_sequences():
    bpy_prop_collection = type("bpy_prop_collection", (), {
        "__iter__": lambda self: iter([1, 2, 3]),
        "__len__": lambda self: 3,
    })
    assert convert(bpy_prop_collection()) == [1, 2, 3]


# -- numpy -------------------------------------------------------------------------------------
def test_numpy_arrays_and_scalars():
    np = pytest.importorskip("numpy")
    out = convert({
        "a": np.arange(6, dtype=np.int32).reshape(2, 3),
        "f": np.array([0.5, np.nan]),
        "s": np.float32(1.5),
        "i": np.int64(2**40),
        "b": np.bool_(True),
        "empty": np.zeros((0,)),
    })
    assert out["a"] == [[0, 1, 2], [3, 4, 5]]
    assert out["f"] == [0.5, {TYPE_KEY: "float", "value": "nan"}]
    assert out["s"] == 1.5 and out["i"] == 2**40 and out["b"] is True
    assert out["empty"] == []


def test_large_numpy_array_is_truncated_with_shape_and_dtype():
    np = pytest.importorskip("numpy")
    arr = np.arange(100_000, dtype=np.float64).reshape(1000, 100)
    out = convert(arr, max_bytes=4_000)
    assert out[TRUNCATED_KEY] is True and out[TYPE_KEY] == "numpy.ndarray"
    assert out["shape"] == [1000, 100] and out["dtype"] == "float64"
    head = [x for x in out["head"] if not isinstance(x, dict)]
    assert head == [float(i) for i in range(len(head))] and 0 < len(head) < 100_000


def test_result_is_always_strict_json_for_a_zoo_of_values():
    class Weird:
        __slots__ = ()

    zoo = [None, float("nan"), {1: {2: (3, {4})}}, b"\x00", Weird(), 2**80, [[[]]], {"": ""}, range(3)]
    convert(zoo)
    convert(zoo, max_bytes=50)
    convert(zoo, max_depth=1)


def test_math_is_untouched_for_finite_floats():
    out = convert([math.pi, -math.e, 1e308, 5e-324])
    assert out == [math.pi, -math.e, 1e308, 5e-324]
