"""`RedisStore` on the session's real redis-server: the Store contract, namespaces, limits,
failures of the server, and one cache shared (and computed once) by several processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sluice
from sluice.stores import RedisStore, Store
from tests.redis_server import RedisServer
from tests.stores.contract import check_set_get_delete_clear

redis = pytest.importorskip("redis.asyncio")

NOWHERE = "redis://127.0.0.1:1/0"  # for tests that never connect


class Calls:
    """A cached function that counts its executions in this process."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, x: int) -> int:
        self.calls += 1
        return x * 2


# ---------------------------------------------------------------- the Store contract
def test_is_a_store_and_connects_only_when_used() -> None:
    store = RedisStore(NOWHERE)  # nothing listens there: constructing does not connect
    assert isinstance(store, Store)
    assert repr(store) == "RedisStore('redis://127.0.0.1:1/0', namespace='sluice:cache')"


def test_the_redis_client_is_imported_only_for_a_redis_store() -> None:
    code = (
        "import sys, sluice, sluice.stores; "
        "assert 'redis' not in sys.modules; "
        "sluice.stores.RedisStore; "
        "assert 'redis' not in sys.modules; "
        "sluice.stores.RedisStore('redis://127.0.0.1:1/0'); "
        "assert 'redis' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sluice.stores.Nope  # noqa: B018


@pytest.mark.realtime
async def test_set_get_delete_clear(redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        await check_set_get_delete_clear(store)
    finally:
        await store.aclose()


@pytest.mark.realtime
async def test_ttl_is_the_keys_expiry_in_milliseconds(
    redis_server: RedisServer, redis_url: str
) -> None:
    store = RedisStore(redis_url)
    try:
        await store.set("long", b"v", ttl=60.0)
        await store.set("forever", b"v", None)
        await store.set("tiny", b"v", ttl=0.0001)  # rounds up to one millisecond, not zero
        ttl = int(redis_server.command("PTTL", "sluice:cache:long")[1:])
        assert 59_000 < ttl <= 60_000
        assert redis_server.command("PTTL", "sluice:cache:forever") == b":-1\r\n"
        await store.set("short", b"v", ttl=0.05)
        assert await store.get("short") == b"v"
        for _ in range(500):  # Redis expires it; poll rather than time it
            if await store.get("short") is None:
                break
            await asyncio.sleep(0.01)
        assert await store.get("short") is None
        assert await store.get("tiny") is None
    finally:
        await store.aclose()


async def test_values_must_be_bytes_and_ttl_positive() -> None:
    store = RedisStore(NOWHERE)
    with pytest.raises(TypeError, match="bytes"):
        await store.set("a", "text", None)  # type: ignore[arg-type]
    with pytest.raises(sluice.ConfigError, match=r"ttl=\.\.\."):
        await store.set("a", b"v", 0)


# ---------------------------------------------------------------- namespaces
@pytest.mark.realtime
async def test_keys_live_under_the_namespace(redis_server: RedisServer, redis_url: str) -> None:
    store = RedisStore(redis_url, namespace="app:cache")
    try:
        await store.set("llm:k", b"v", None)
        assert redis_server.command("GET", "app:cache:llm:k") == b"$1\r\nv\r\n"
    finally:
        await store.aclose()


@pytest.mark.realtime
async def test_clear_removes_only_its_namespace(redis_server: RedisServer, redis_url: str) -> None:
    mine = RedisStore(redis_url, namespace="a*")  # a glob character is taken literally
    theirs = RedisStore(redis_url, namespace="ab")
    try:
        for i in range(1200):  # more than one SCAN batch
            await mine.set(f"k{i}", b"v", None)
        await theirs.set("k1", b"theirs", None)
        redis_server.command("SET", "unrelated", "x")
        await mine.clear()
        assert await mine.get("k1") is None
        assert await mine.get("k1199") is None
        assert await theirs.get("k1") == b"theirs"
        assert redis_server.command("DBSIZE") == b":2\r\n"
    finally:
        await mine.aclose()
        await theirs.aclose()


# ---------------------------------------------------------------- limits and configuration
@pytest.mark.realtime
async def test_oversize_values_are_skipped_and_counted(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = RedisStore(redis_url, max_value_bytes=10)
    try:
        await store.set("fits", b"x" * 10, None)
        await store.set("big", b"small", None)
        await store.set("big", b"x" * 11, None)  # does not store, and drops the older value
        await store.set("bigger", b"x" * 100, 60.0)
        assert await store.get("fits") == b"x" * 10
        assert await store.get("big") is None
        assert await store.get("bigger") is None
        assert store.oversize == 2
        warned = [r for r in caplog.records if "max_value_bytes=10" in r.getMessage()]
        assert len(warned) == 1
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"namespace": ""}, "namespace"),
        ({"max_value_bytes": 0}, "max_value_bytes"),
        ({"timeout": 0}, "timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"lock_for": -1}, "lock_for"),
    ],
)
def test_arguments_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(sluice.ConfigError, match=rf"RedisStore\({name}=\.\.\.\)"):
        RedisStore(NOWHERE, **kwargs)


def test_where_the_data_lives_must_be_given_once_and_well() -> None:
    with pytest.raises(sluice.ConfigError, match=r"RedisStore\(url=\.\.\.\)"):
        RedisStore("http://127.0.0.1:6379")
    with pytest.raises(sluice.ConfigError, match=r"url=.*or client="):
        RedisStore()
    with pytest.raises(sluice.ConfigError, match="decode_responses=False"):
        RedisStore(client=redis.Redis(decode_responses=True))


@pytest.mark.realtime
async def test_a_url_asking_for_text_replies_fails_reads(redis_url: str) -> None:
    store = RedisStore(redis_url + "?decode_responses=true")
    try:
        await store.set("k", b"v", None)
        with pytest.raises(TypeError, match="decode_responses=False"):
            await store.get("k")
    finally:
        await store.aclose()


@pytest.mark.realtime
async def test_a_given_client_is_used_and_left_to_its_owner(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        store = RedisStore(client=client)
        await store.set("k", b"v", None)
        assert await store.get("k") == b"v"
        assert "client of the caller's" in repr(store)
        await store.aclose()
        assert await client.get("sluice:cache:k") == b"v"  # still open
    finally:
        await client.aclose()


@pytest.mark.realtime
async def test_a_closed_store_refuses_use(redis_url: str) -> None:
    store = RedisStore(redis_url)
    await store.set("k", b"v", None)
    await store.aclose()
    await store.aclose()
    store.close()
    uses = [
        lambda: store.get("k"),
        lambda: store.set("k", b"v", None),
        lambda: store.delete("k"),
        lambda: store.clear(),
        lambda: store.claim("k", 1.0),
        lambda: store.release("k"),
    ]
    for use in uses:
        with pytest.raises(RuntimeError, match="closed"):
            await use()


# ---------------------------------------------------------------- a gate's cache on Redis
@pytest.mark.realtime
async def test_a_gate_hits_its_redis_cache(redis_server: RedisServer, redis_url: str) -> None:
    fn = Calls()
    gate = sluice.Gate("llm", cache=sluice.Cache(store=RedisStore(redis_url), ttl=60))
    try:
        assert await gate.run(fn, 21) == 42
        assert await gate.run(fn, 21) == 42
    finally:
        await gate.aclose()
    assert fn.calls == 1
    stats = gate.statistics().cache
    assert stats is not None
    assert (stats.hits, stats.misses, stats.sets) == (1, 1, 1)
    assert redis_server.command("KEYS", "sluice:cache:llm:*").startswith(b"*1\r\n")


@pytest.mark.realtime
async def test_a_dead_redis_is_a_miss_and_the_call_still_returns(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    redis_server.stop()  # the redis_url fixture starts a fresh server for the next test
    fn = Calls()
    gate = sluice.Gate("llm", cache=sluice.Cache(store=RedisStore(redis_url, timeout=0.2)))
    try:
        assert await gate.run(fn, 1) == 2
        assert await gate.run(fn, 1) == 2
    finally:
        await gate.aclose()
    assert fn.calls == 2
    stats = gate.statistics().cache
    assert stats is not None
    assert (stats.hits, stats.misses, stats.store_errors) == (0, 2, 4)  # 2 reads, 2 writes
    assert "cache 'llm': store read failed" in caplog.text


@pytest.mark.realtime
async def test_a_paused_redis_costs_a_caller_the_timeout_not_the_pause(
    redis_server: RedisServer, redis_url: str
) -> None:
    store = RedisStore(redis_url, timeout=0.2)
    try:
        await store.set("k", b"v", None)  # connected before the pause
        redis_server.command("CLIENT", "PAUSE", "2000")
        with pytest.raises(TimeoutError, match=r"GET got no answer within 0\.2s"):
            await store.get("k")
        # Once the pause is over, the same store answers again.
        value = None
        for _ in range(100):
            with contextlib.suppress(TimeoutError):
                value = await store.get("k")
                break
        assert value == b"v"
    finally:
        await store.aclose()


# ---------------------------------------------------------------- claims
@pytest.mark.realtime
async def test_a_claim_is_exclusive_until_released_or_expired(redis_url: str) -> None:
    first, second = RedisStore(redis_url), RedisStore(redis_url)
    try:
        assert await first.claim("k", 5.0)
        assert not await second.claim("k", 5.0)
        await second.release("k")  # not its claim: nothing happens
        assert not await second.claim("k", 5.0)
        await first.release("k")
        assert await second.claim("k", 0.05)
        for _ in range(500):  # it expires by itself
            if await first.claim("k", 5.0):
                break
            await asyncio.sleep(0.01)
        assert not await second.claim("k", 5.0)
        assert await first.get("k") is None  # a claim is not an entry
    finally:
        await first.aclose()
        await second.aclose()


async def test_works_on_the_virtual_time_loop_too(redis_url: str) -> None:
    # Not marked realtime: each command counts as real work in progress, so the virtual
    # clock waits for the server's answer instead of jumping to the command's timeout.
    store = RedisStore(redis_url)
    try:
        await store.set("k", b"v", None)
        assert await store.get("k") == b"v"
    finally:
        await store.aclose()


# ---------------------------------------------------------------- several processes
async def record_call(log: str, x: int) -> int:
    """The cached function of the processes: one line in ``log`` per execution."""
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    await asyncio.sleep(0.5)  # long enough for the other processes to miss meanwhile
    return x * 2


def _call_through_redis(url: str, log: str, barrier: Any, lock_for: float | None) -> None:
    async def main() -> None:
        store = RedisStore(url, lock_for=lock_for)
        gate = sluice.Gate("shared", cache=sluice.Cache(store=store, ttl=60))
        try:
            if barrier is not None:
                barrier.wait(timeout=30)  # every process misses at the same moment
            if await gate.run(record_call, log, 21) != 42:
                raise SystemExit(3)
        finally:
            await gate.aclose()

    asyncio.run(main())


def _run_processes(count: int, url: str, log: Path, lock_for: float | None) -> list[int | None]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count) if count > 1 else None
    workers = [
        context.Process(target=_call_through_redis, args=(url, str(log), barrier, lock_for))
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=50)
    return [worker.exitcode for worker in workers]


@pytest.mark.realtime
async def test_a_value_computed_by_another_process_is_a_hit(redis_url: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    assert await asyncio.to_thread(_run_processes, 1, redis_url, log, None) == [0]
    gate = sluice.Gate("shared", cache=sluice.Cache(store=RedisStore(redis_url), ttl=60))
    try:
        assert await gate.run(record_call, str(log), 21) == 42
    finally:
        await gate.aclose()
    assert len(log.read_text().splitlines()) == 1  # computed there, not here
    stats = gate.statistics().cache
    assert stats is not None
    assert stats.hits == 1


@pytest.mark.realtime
async def test_processes_missing_at_once_compute_once_with_lock_for(
    redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    codes = await asyncio.to_thread(_run_processes, 3, redis_url, log, 20.0)
    assert codes == [0, 0, 0]
    assert len(log.read_text().splitlines()) == 1
