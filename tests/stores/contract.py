"""The `Store` contract every persistent store keeps, run by each store's tests."""

from __future__ import annotations

from sluice.stores import Store


async def check_set_get_delete_clear(store: Store) -> None:
    assert await store.get("a") is None
    await store.set("a", b"1", None)
    await store.set("b", b"", None)
    await store.set("a", b"one", None)  # replaces
    assert await store.get("a") == b"one"
    assert await store.get("b") == b""
    await store.delete("a")
    await store.delete("never-set")
    assert await store.get("a") is None
    await store.clear()
    assert await store.get("b") is None
