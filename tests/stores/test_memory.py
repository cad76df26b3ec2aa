from __future__ import annotations

import asyncio

import pytest

import sluice
import sluice.stores
from sluice.stores import MemoryStore, Store
from sluice.testing import ManualClock


def test_is_a_store() -> None:
    assert isinstance(MemoryStore(), Store)


async def test_set_get_delete_clear() -> None:
    store = MemoryStore()
    assert await store.get("a") is None
    await store.set("a", b"1", None)
    await store.set("b", b"", None)  # empty bytes are a value, not a miss
    assert await store.get("a") == b"1"
    assert await store.get("b") == b""
    await store.delete("a")
    await store.delete("never-set")
    assert await store.get("a") is None
    await store.clear()
    assert len(store) == 0


async def test_ttl_expires_at_the_exact_instant_on_the_loop_clock() -> None:
    loop = asyncio.get_running_loop()
    store = MemoryStore()
    await asyncio.sleep(2.0)
    await store.set("k", b"v", ttl=8.0)  # set at t=2, expires at t=10
    await asyncio.sleep(7.75)
    assert loop.time() == 9.75
    assert await store.get("k") == b"v"
    await asyncio.sleep(0.25)
    assert loop.time() == 10.0
    assert await store.get("k") is None
    assert store.expirations == 1
    assert len(store) == 0


async def test_set_again_restarts_the_ttl() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    await store.set("k", b"1", ttl=5.0)
    clock.advance(4.0)
    await store.set("k", b"2", ttl=5.0)
    clock.advance(4.0)
    assert await store.get("k") == b"2"
    clock.advance(1.0)
    assert await store.get("k") is None


async def test_no_ttl_never_expires() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    await store.set("k", b"v", None)
    clock.advance(1e9)
    assert await store.get("k") == b"v"


async def test_least_recently_used_is_evicted_first() -> None:
    store = MemoryStore(max_items=2)
    await store.set("a", b"1", None)
    await store.set("b", b"2", None)
    assert await store.get("a") == b"1"  # "a" is now the most recently used
    await store.set("c", b"3", None)
    assert await store.get("b") is None
    assert await store.get("a") == b"1"
    assert await store.get("c") == b"3"
    assert store.evictions == 1
    await store.set("d", b"4", None)
    assert store.evictions == 2
    assert len(store) == 2


async def test_closed_store_refuses_use() -> None:
    store = MemoryStore()
    await store.set("a", b"1", None)
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("a")


async def test_values_must_be_bytes_and_ttl_positive() -> None:
    store = MemoryStore()
    with pytest.raises(TypeError, match="bytes"):
        await store.set("a", "text", None)  # type: ignore[arg-type]
    with pytest.raises(sluice.ConfigError, match="ttl"):
        await store.set("a", b"1", 0)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, None])
def test_max_items_is_validated(value: object) -> None:
    with pytest.raises(sluice.ConfigError, match=r"MemoryStore\(max_items=\.\.\.\)"):
        MemoryStore(max_items=value)  # type: ignore[arg-type]


def test_clock_is_validated() -> None:
    with pytest.raises(sluice.ConfigError, match="clock"):
        MemoryStore(clock=object())  # type: ignore[arg-type]
