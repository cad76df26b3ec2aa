from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import sluice
from sluice.stores import SQLiteStore, Store
from tests.stores.contract import check_set_get_delete_clear


class Epoch:
    """A wall clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_is_a_store(tmp_path: Path) -> None:
    assert isinstance(SQLiteStore(tmp_path / "c.db"), Store)


async def test_set_get_delete_clear(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    try:
        await check_set_get_delete_clear(store)
    finally:
        await store.aclose()


async def test_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    await store.set("a", b"1", None)
    await store.aclose()
    with sqlite3.connect(path) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    connection.close()
    assert mode == "wal"


async def test_ttl_is_wall_clock_time(tmp_path: Path) -> None:
    epoch = Epoch()
    store = SQLiteStore(tmp_path / "c.db", epoch=epoch)
    try:
        await store.set("k", b"v", ttl=10.0)
        epoch.now += 9.5
        assert await store.get("k") == b"v"
        epoch.now += 0.5  # exactly the expiry instant
        assert await store.get("k") is None
    finally:
        await store.aclose()


async def test_entries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    first = SQLiteStore(path)
    await first.set("k", b"kept", ttl=3600)
    await first.aclose()
    second = SQLiteStore(path)
    try:
        assert await second.get("k") == b"kept"
    finally:
        await second.aclose()


async def test_close_flushes_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    writes = [asyncio.ensure_future(store.set(f"k{i}", b"v", None)) for i in range(20)]
    await asyncio.sleep(0)  # every write is queued, none awaited
    await store.aclose()
    await asyncio.gather(*writes)
    reopened = SQLiteStore(path)
    try:
        assert await reopened.get("k19") == b"v"
    finally:
        await reopened.aclose()


async def test_size_bound_evicts_the_oldest_writes(tmp_path: Path) -> None:
    epoch = Epoch()
    store = SQLiteStore(tmp_path / "c.db", max_items=10, epoch=epoch)
    try:
        for i in range(300):
            epoch.now += 1.0
            await store.set(f"k{i}", b"v", None)
        # The bound is enforced on the 256th write: 256 - 10 rows go.
        assert store.evictions == 246
        assert await store.get("k245") is None
        assert await store.get("k246") == b"v"
        assert await store.get("k299") == b"v"
    finally:
        await store.aclose()


async def test_expired_rows_are_purged(tmp_path: Path) -> None:
    epoch = Epoch()
    path = tmp_path / "c.db"
    store = SQLiteStore(path, max_items=None, epoch=epoch)
    try:
        await store.set("short", b"v", ttl=1.0)
        epoch.now += 2.0
        for i in range(255):
            await store.set(f"k{i}", b"v", None)
    finally:
        await store.aclose()
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM sluice_cache").fetchone()
    connection.close()
    assert count == 255


async def test_pending_operations_are_bounded(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db", max_pending=1)
    release = threading.Event()
    blocker = store._submit(lambda _connection: release.wait(5.0))
    try:
        with pytest.raises(RuntimeError, match="max_pending=1"):
            await store.get("a")
    finally:
        release.set()
        assert await blocker is True
        await store.aclose()


async def test_a_locked_file_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.set("a", b"1", None)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.set("b", b"2", None)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await store.aclose()


async def test_an_unopenable_file_fails_each_operation(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "missing-dir" / "c.db")
    try:
        with pytest.raises(sqlite3.OperationalError):
            await store.get("a")
        (tmp_path / "missing-dir").mkdir()
        assert await store.get("a") is None  # opened on the next use
    finally:
        await store.aclose()


async def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    await store.aclose()  # never started: nothing to stop
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("a")


def test_blocking_close_stops_the_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")

    async def use() -> None:
        await store.set("a", b"1", None)

    sluice.testing.run(use())
    store.close()
    store.close()
    assert not any(t.name == "sluice-sqlite-store" for t in threading.enumerate())


async def test_values_must_be_bytes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    with pytest.raises(TypeError, match="bytes"):
        await store.set("a", "text", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"table": "drop table;"}, "table"),
        ({"max_items": 0}, "max_items"),
        ({"busy_timeout": 0}, "busy_timeout"),
        ({"max_pending": 0}, "max_pending"),
        ({"close_timeout": -1}, "close_timeout"),
        ({"epoch": 3}, "epoch"),
    ],
)
def test_arguments_are_validated(tmp_path: Path, kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(sluice.ConfigError, match=rf"SQLiteStore\({name}=\.\.\.\)"):
        SQLiteStore(tmp_path / "c.db", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- several processes, one file
def _write_many(path: str, prefix: str, count: int) -> None:
    async def main() -> None:
        store = SQLiteStore(path)
        try:
            for i in range(count):
                await store.set(f"{prefix}{i}", f"{prefix}{i}".encode(), None)
                await store.get(f"{prefix}{i // 2}")
        finally:
            await store.aclose()

    asyncio.run(main())


@pytest.mark.realtime
def test_two_processes_write_the_same_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_many, args=(path, prefix, 300)) for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=50)
    assert [worker.exitcode for worker in workers] == [0, 0]
    with sqlite3.connect(path) as connection:
        rows = dict(connection.execute("SELECT key, value FROM sluice_cache").fetchall())
    connection.close()
    assert len(rows) == 600
    assert rows["a299"] == b"a299"
    assert rows["b0"] == b"b0"


def _open_together(path: str, barrier: Any, key: str) -> None:
    async def main() -> None:
        store = SQLiteStore(path)
        try:
            barrier.wait(timeout=20)  # every process opens the new file at the same moment
            await store.set(key, key.encode(), None)
        finally:
            await store.aclose()

    asyncio.run(main())


@pytest.mark.realtime
def test_processes_opening_a_new_file_at_the_same_moment(tmp_path: Path) -> None:
    # Switching a new file to WAL from several connections at once can be refused without
    # waiting ("database is locked"); the store must retry its setup, not fail.
    path = str(tmp_path / "race.db")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [
        context.Process(target=_open_together, args=(path, barrier, f"k{n}")) for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=50)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
