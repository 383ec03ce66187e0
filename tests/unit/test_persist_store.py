import threading

from bld_remote_mcp.engine.persist_store import PersistStore


def test_put_get_remove():
    store = PersistStore()
    store.put("k", {"a": [1, 2]})
    assert store.get("k") == ({"a": [1, 2]}, True)
    assert store.remove("k") is True
    assert store.remove("k") is False
    assert store.get("k") == (None, False)


def test_missing_key_returns_the_default_and_not_found():
    assert PersistStore().get("nope", default=7) == (7, False)


def test_stored_none_is_found():
    store = PersistStore()
    store.put("n", None)
    assert store.get("n", default="d") == (None, True)
    assert store.remove("n") is True  # None is a stored value, not "missing"


def test_values_are_stored_by_reference_and_overwritten():
    store = PersistStore()
    value = [1]
    store.put("k", value)
    value.append(2)
    assert store.get("k")[0] == [1, 2]
    store.put("k", "new")
    assert store.get("k")[0] == "new"


def test_keys_and_clear():
    store = PersistStore()
    for key in ("b", "a", "c"):
        store.put(key, 1)
    assert store.keys() == ["b", "a", "c"]
    assert store.clear() == 3  # how many were dropped (reset_blender reports it)
    assert store.keys() == [] and store.get("a") == (None, False)
    assert store.clear() == 0


def test_1_3_3_api_names():
    store = PersistStore()
    store.put_data("k", 5)
    assert store.get_data("k") == 5
    assert store.get_data("missing", "dflt") == "dflt"
    assert store.remove_data("k") is True
    assert store.remove_data("k") is False


def test_concurrent_puts_are_all_kept():
    store = PersistStore()

    def worker(n):
        for i in range(200):
            store.put(f"{n}-{i}", i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.keys()) == 1000
