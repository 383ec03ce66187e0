import builtins
import threading

from bld_remote_mcp.engine.sessions import SessionStore


def test_each_connection_gets_its_own_persistent_namespace():
    store = SessionStore()
    a1 = store.namespace(1)
    a1["x"] = 1
    assert store.namespace(1) is a1
    b = store.namespace(2)
    assert b is not a1 and "x" not in b


def test_fresh_namespace_looks_like_main():
    ns = SessionStore().namespace(1)
    assert ns["__name__"] == "__main__"
    assert ns["__builtins__"] is builtins
    assert ns["__doc__"] is None
    exec("y = len([1, 2])", ns)
    assert ns["y"] == 2


def test_named_sessions_are_shared_across_connections_and_separate_from_them():
    store = SessionStore()
    shared = store.namespace(1, "scene-work")
    assert store.namespace(2, "scene-work") is shared
    assert store.namespace(1) is not shared
    assert store.namespace(1, "other") is not shared


def test_empty_session_name_means_the_connection_namespace():
    store = SessionStore()
    assert store.namespace(5, "") is store.namespace(5)


def test_preload_is_called_for_every_new_namespace_and_copied_in():
    calls = []

    def preload():
        calls.append(1)
        return {"bpy": "fake-bpy", "__name__": "overridden"}

    store = SessionStore(preload)
    ns = store.namespace(1)
    store.namespace(1)
    store.namespace(2)
    store.namespace(2, "s")
    assert len(calls) == 3
    assert ns["bpy"] == "fake-bpy" and ns["__name__"] == "overridden"


def test_reset_forgets_a_namespace():
    store = SessionStore()
    ns = store.namespace(1)
    ns["x"] = 1
    assert store.reset(1) is True
    assert "x" not in store.namespace(1)
    assert store.reset(99) is False
    named = store.namespace(1, "s")
    assert store.reset(1, "s") is True
    assert store.namespace(2, "s") is not named
    assert store.reset(1, "s") is True  # recreated just above
    assert store.reset(1, "s") is False


def test_reset_of_a_named_session_leaves_the_connection_namespace():
    store = SessionStore()
    own = store.namespace(1)
    store.namespace(1, "s")
    store.reset(1, "s")
    assert store.namespace(1) is own


def test_drop_connection_and_stats():
    store = SessionStore()
    store.namespace(1)
    store.namespace(2)
    store.namespace(3, "zeta")
    store.namespace(3, "alpha")
    assert store.stats() == {"connections": 2, "named": ["alpha", "zeta"]}
    store.drop_connection(1)
    store.drop_connection(42)  # unknown: no error
    assert store.stats() == {"connections": 1, "named": ["alpha", "zeta"]}


def test_concurrent_first_use_creates_one_namespace():
    store = SessionStore()
    seen = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        seen.append(store.namespace(0, "shared"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(ns) for ns in seen}) == 1


def test_clear_drops_every_namespace_and_counts_them():
    store = SessionStore()
    store.namespace(1)["x"] = 1
    store.namespace(2)
    store.namespace(1, "shared")["y"] = 2
    assert store.clear() == 3
    assert store.stats() == {"connections": 0, "named": []}
    assert "x" not in store.namespace(1) and "y" not in store.namespace(3, "shared")
    assert store.clear() == 2
