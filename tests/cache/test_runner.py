from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import sluice
from sluice._cache.runner import CacheRunner, default_key
from sluice._cache.singleflight import SingleFlight
from sluice.policies.cache import JsonSerializer, PickleSerializer
from sluice.stores import MemoryStore, SQLiteStore
from tests.helpers import Flaky


class Upstream:
    """Counts executions; sleeps ``latency``; returns ``result`` or raises ``error``."""

    def __init__(
        self, result: Any = "ok", *, latency: float = 0.0, error: BaseException | None = None
    ) -> None:
        self.result = result
        self.latency = latency
        self.error = error
        self.calls = 0
        self.cancelled = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            await asyncio.sleep(self.latency)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.result


async def call(runner: CacheRunner, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await runner.run(fn, args, kwargs, lambda: fn(*args, **kwargs))


class MiniGate:
    """Stands in for `Gate(cache=...)`: the cache outermost, the gate's pipeline as compute."""

    def __init__(self, name: str, cache: sluice.Cache, **policies: Any) -> None:
        self.gate = sluice.Gate(name, **policies)
        self.cache = CacheRunner(cache, namespace=name)

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self.cache.run(fn, args, kwargs, lambda: self.gate.run(fn, *args, **kwargs))

    async def aclose(self) -> None:
        await self.cache.aclose()
        await self.gate.aclose()


# ---------------------------------------------------------------- hits, misses, expiry
async def test_second_identical_call_is_a_hit() -> None:
    upstream = Upstream({"answer": 42})
    runner = CacheRunner(sluice.Cache(), namespace="t")
    assert await call(runner, upstream, "q", n=1) == {"answer": 42}
    assert await call(runner, upstream, "q", n=1) == {"answer": 42}
    assert upstream.calls == 1
    assert await call(runner, upstream, "other", n=1) == {"answer": 42}
    assert upstream.calls == 2
    stats = runner.statistics()
    assert (stats.hits, stats.misses, stats.coalesced, stats.sets) == (1, 2, 0, 2)
    assert stats.hit_ratio == pytest.approx(1 / 3)
    await runner.aclose()


async def test_each_caller_gets_its_own_copy() -> None:
    upstream = Upstream({"items": [1, 2]})
    runner = CacheRunner(sluice.Cache(), namespace="t")
    first = await call(runner, upstream)
    first["items"].append(3)
    assert await call(runner, upstream) == {"items": [1, 2]}
    await runner.aclose()


async def test_keyword_order_does_not_matter() -> None:
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(), namespace="t")
    await call(runner, upstream, a=1, b={"y": 2, "x": 1})
    await call(runner, upstream, b={"x": 1, "y": 2}, a=1)
    assert upstream.calls == 1
    await runner.aclose()


async def test_entries_expire_at_the_exact_instant() -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(ttl=8.0), namespace="t")
    await call(runner, upstream)  # stored at t=0, expires at t=8
    await asyncio.sleep(7.75)
    await call(runner, upstream)
    assert upstream.calls == 1
    await asyncio.sleep(0.25)
    assert loop.time() == 8.0
    await call(runner, upstream)
    assert upstream.calls == 2
    await runner.aclose()


async def test_ttl_counts_from_when_the_result_is_stored() -> None:
    upstream = Upstream(latency=3.0)
    runner = CacheRunner(sluice.Cache(ttl=5.0), namespace="t")
    await call(runner, upstream)  # computed 0..3, stored at 3, expires at 8
    await asyncio.sleep(4.5)
    await call(runner, upstream)
    assert upstream.calls == 1
    await asyncio.sleep(0.5)
    await call(runner, upstream)
    assert upstream.calls == 2
    await runner.aclose()


async def test_none_is_cached() -> None:
    upstream = Upstream(None)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    assert await call(runner, upstream) is None
    assert await call(runner, upstream) is None
    assert upstream.calls == 1
    assert runner.statistics().hits == 1
    await runner.aclose()


async def test_errors_are_not_cached() -> None:
    upstream = Upstream(error=ValueError("boom"))
    runner = CacheRunner(sluice.Cache(), namespace="t")
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            await call(runner, upstream)
    assert upstream.calls == 2
    upstream.error = None
    assert await call(runner, upstream) == "ok"
    assert runner.statistics().sets == 1
    await runner.aclose()


async def test_lru_evictions_are_counted() -> None:
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(store=MemoryStore(max_items=2)), namespace="t")
    for arg in ("a", "b", "c", "a"):
        await call(runner, upstream, arg)
    stats = runner.statistics()
    assert upstream.calls == 4  # "a" was evicted by "c"
    assert stats.evictions == 2
    await runner.aclose()


# ---------------------------------------------------------------- single-flight
async def test_concurrent_identical_calls_share_one_execution() -> None:
    upstream = Upstream([1, 2], latency=1.0)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    results = await asyncio.gather(*(call(runner, upstream, "q") for _ in range(10)))
    assert upstream.calls == 1
    assert results == [[1, 2]] * 10
    assert results[0] is not results[1]  # decoded per caller
    stats = runner.statistics()
    assert (stats.misses, stats.coalesced, stats.hits, stats.in_flight) == (1, 9, 0, 0)
    await runner.aclose()


async def test_a_cancelled_waiter_does_not_cancel_the_shared_work() -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream("done", latency=1.0)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    first = asyncio.ensure_future(call(runner, upstream))
    second = asyncio.ensure_future(call(runner, upstream))
    await asyncio.sleep(0.5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == "done"
    assert loop.time() == 1.0
    assert (upstream.calls, upstream.cancelled) == (1, 0)
    await runner.aclose()


async def test_a_waiter_that_times_out_leaves_alone() -> None:
    upstream = Upstream("done", latency=1.0)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    patient = asyncio.ensure_future(call(runner, upstream))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.25):
            await call(runner, upstream)
    assert await patient == "done"
    assert upstream.cancelled == 0
    await runner.aclose()


async def test_the_work_is_cancelled_when_every_waiter_is_gone() -> None:
    upstream = Upstream("done", latency=10.0)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    waiters = [asyncio.ensure_future(call(runner, upstream)) for _ in range(3)]
    await asyncio.sleep(1.0)
    assert runner.statistics().in_flight == 1
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await asyncio.sleep(0)
    assert (upstream.calls, upstream.cancelled) == (1, 1)
    assert runner.statistics().in_flight == 0
    assert runner.statistics().sets == 0
    # The key is free again: the next call starts afresh.
    upstream.latency = 0.0
    assert await call(runner, upstream) == "done"
    assert upstream.calls == 2
    await runner.aclose()


async def test_an_error_reaches_every_waiter_of_the_flight() -> None:
    upstream = Upstream(error=ValueError("shared"), latency=1.0)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    outcomes = await asyncio.gather(
        *(call(runner, upstream) for _ in range(5)), return_exceptions=True
    )
    assert upstream.calls == 1
    assert all(isinstance(o, ValueError) and str(o) == "shared" for o in outcomes)
    assert runner.statistics().coalesced == 4
    upstream.error = None
    assert await call(runner, upstream) == "ok"  # the error was not cached
    assert upstream.calls == 2
    await runner.aclose()


async def test_a_waiters_deadline_does_not_bound_the_shared_work() -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream("done", latency=10.0)
    cached = MiniGate("inner", sluice.Cache(key=lambda fn, args, kwargs: "one"))
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=5.0))
    seen: list[float | None] = []

    async def inner_call() -> Any:
        seen.append(sluice.current_deadline())
        return await upstream()

    hurried = asyncio.ensure_future(outer.run(cached.run, inner_call))
    patient = asyncio.ensure_future(cached.run(inner_call))
    with pytest.raises(sluice.DeadlineExceeded):
        await hurried
    assert loop.time() == 5.0
    assert await patient == "done"
    assert loop.time() == 10.0
    assert upstream.calls == 1
    assert seen == [None]  # the first caller's deadline was not inherited
    await cached.aclose()
    await outer.aclose()


async def test_alone_a_waiters_deadline_cancels_the_work() -> None:
    upstream = Upstream("done", latency=10.0)
    cached = MiniGate("inner", sluice.Cache())
    outer = sluice.Gate("outer", timeout=sluice.Timeout(total=5.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await outer.run(cached.run, upstream)
    await asyncio.sleep(0)
    assert upstream.cancelled == 1
    await cached.aclose()
    await outer.aclose()


async def test_retries_run_once_for_all_waiters() -> None:
    upstream = Upstream(error=Flaky(), latency=1.0)

    def recover() -> None:
        upstream.error = None

    gate = MiniGate("g", sluice.Cache(), retry=sluice.Retry(attempts=3))
    asyncio.get_running_loop().call_later(1.5, recover)
    results = await asyncio.gather(*(gate.run(upstream, "q") for _ in range(4)))
    assert results == ["ok"] * 4
    assert upstream.calls == 2
    assert await gate.run(upstream, "q") == "ok"
    assert upstream.calls == 2
    assert gate.gate.statistics().calls_started == 1
    await gate.aclose()


async def test_close_cancels_shared_work_and_refuses_calls() -> None:
    upstream = Upstream(latency=10.0)
    store = MemoryStore()
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    waiter = asyncio.ensure_future(call(runner, upstream))
    await asyncio.sleep(1.0)
    await runner.aclose()
    with pytest.raises(sluice.GateClosedError):
        await waiter
    assert upstream.cancelled == 1
    with pytest.raises(sluice.GateClosedError):
        await call(runner, upstream)
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("x")  # the cache owns its store
    await runner.aclose()


async def test_single_flight_on_its_own() -> None:
    flights: SingleFlight[int] = SingleFlight()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(1.0)
        return runs

    assert await asyncio.gather(flights.do("k", work), flights.do("k", work)) == [1, 1]
    assert await flights.do("k", work) == 2  # landed flights are forgotten
    assert flights.coalesced == 1
    flight = flights.start("k", work)
    with pytest.raises(RuntimeError, match="already in flight"):
        flights.start("k", work)
    waiter = asyncio.ensure_future(flights.wait(flight))
    await asyncio.sleep(0)
    flights.close()
    with pytest.raises(sluice.GateClosedError):
        await waiter
    with pytest.raises(sluice.GateClosedError):
        await flights.do("k", work)


# ---------------------------------------------------------------- encoding
async def test_json_round_trips_plain_data() -> None:
    value = {"s": "é\ud800", "i": 10**30, "f": -0.5, "b": True, "n": None, "l": [[], {}]}
    upstream = Upstream(value)
    runner = CacheRunner(sluice.Cache(), namespace="t")
    assert await call(runner, upstream) == value
    hit = await call(runner, upstream)
    assert hit == value
    assert type(hit["b"]) is bool
    await runner.aclose()


@dataclasses.dataclass
class Reply:
    text: str
    tokens: int


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ((1, 2), "the result is a builtins.tuple"),
        ({"a": [Reply("x", 1)]}, "the result['a'][0] is a tests.cache.test_runner.Reply"),
        ({1: "one"}, "int key 1"),
        ([float("nan")], "the result[0] is nan"),
    ],
)
async def test_json_refuses_what_it_would_not_give_back(value: Any, where: str) -> None:
    runner = CacheRunner(sluice.Cache(), namespace="t")
    with pytest.raises(TypeError, match=r"serializer='pickle'") as info:
        await call(runner, Upstream(value))
    assert where in str(info.value)
    assert runner.statistics().sets == 0
    await runner.aclose()


def test_json_refuses_circular_values() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="circular"):
        JsonSerializer().dumps(loop)


async def test_pickle_is_opt_in() -> None:
    upstream = Upstream((Reply("hi", 3), {1: "one"}))
    runner = CacheRunner(sluice.Cache(serializer="pickle"), namespace="t")
    assert await call(runner, upstream) == (Reply("hi", 3), {1: "one"})
    assert await call(runner, upstream) == (Reply("hi", 3), {1: "one"})
    assert upstream.calls == 1
    with pytest.raises(TypeError, match="serializer='pickle'"):
        PickleSerializer().dumps(lambda: None)
    await runner.aclose()


class ReplyCodec:
    """A serializer hook: a result class to JSON and back."""

    def dumps(self, value: Reply) -> bytes:
        return json.dumps(dataclasses.asdict(value)).encode()

    def loads(self, data: bytes) -> Reply:
        return Reply(**json.loads(data))


async def test_a_serializer_object_is_a_hook() -> None:
    upstream = Upstream(Reply("hi", 3))
    runner = CacheRunner(sluice.Cache(serializer=ReplyCodec()), namespace="t")
    assert await call(runner, upstream) == Reply("hi", 3)
    assert await call(runner, upstream) == Reply("hi", 3)
    assert upstream.calls == 1
    await runner.aclose()


async def test_a_serializer_must_produce_bytes() -> None:
    runner = CacheRunner(sluice.Cache(serializer=json), namespace="t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return bytes"):
        await call(runner, Upstream())
    await runner.aclose()


# ---------------------------------------------------------------- keys
async def my_function(*args: Any, **kwargs: Any) -> str:
    return "ok"


def test_default_key_is_stable_and_named() -> None:
    key = default_key(my_function, ("q", 1), {"b": 2, "a": [1.5, None]})
    assert key == default_key(my_function, ("q", 1), {"a": [1.5, None], "b": 2})
    assert key.startswith("tests.cache.test_runner.my_function:")
    assert len(key.rsplit(":", 1)[1]) == 32
    assert key != default_key(my_function, ("q", 2), {"b": 2, "a": [1.5, None]})
    partial = functools.partial(my_function, "q", b=2)
    assert default_key(partial, (1,), {"a": [1.5, None]}) == key
    assert default_key(sluice.cpu(len), ("x",), {}) == default_key(len, ("x",), {})
    assert default_key(my_function, (b"\x00" * 10,), {}) != default_key(my_function, (b"",), {})


@pytest.mark.parametrize("argument", [{1, 2}, object(), Reply("x", 1), {1: "a", "b": 2}])
async def test_arguments_without_json_need_a_key_function(argument: object) -> None:
    runner = CacheRunner(sluice.Cache(), namespace="t")
    upstream = Upstream()
    with pytest.raises(TypeError, match=r"my_function.*Cache\(key=") as info:
        await call(runner, my_function, argument)
    assert "cache key" in str(info.value)
    assert upstream.calls == 0
    await runner.aclose()


async def test_a_key_function_replaces_the_default() -> None:
    seen: list[tuple[Any, ...]] = []

    def key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
        seen.append((fn, args, dict(kwargs)))
        return f"{args[0].text}"

    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(key=key), namespace="t")
    await call(runner, upstream, Reply("same", 1))
    await call(runner, upstream, Reply("same", 2))
    assert upstream.calls == 1
    assert seen[0][0] is upstream
    assert runner.key_for(upstream, (Reply("same", 1),), {}) == "t:same"
    await runner.aclose()

    bad = CacheRunner(sluice.Cache(key=lambda fn, args, kwargs: 42), namespace="t")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return a str"):
        await call(bad, upstream)
    await bad.aclose()


async def test_namespaces_separate_gates_sharing_a_store() -> None:
    store = MemoryStore()
    upstream = Upstream()
    one = CacheRunner(sluice.Cache(store=store), namespace="one")
    two = CacheRunner(sluice.Cache(store=store), namespace="two")
    same = CacheRunner(sluice.Cache(store=store, namespace="one"), namespace="other")
    await call(one, upstream, "q")
    await call(two, upstream, "q")
    await call(same, upstream, "q")
    assert upstream.calls == 2
    assert len(store) == 2
    for runner in (one, two, same):
        await runner.aclose()


# ---------------------------------------------------------------- store failures
class BrokenStore:
    """A store whose every operation fails, as a full disk or a locked file would."""

    evictions = "not a number"

    def __init__(self) -> None:
        self.closed = False

    async def get(self, key: str) -> bytes | None:
        raise OSError("disk I/O error")

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise OSError("database or disk is full")

    async def delete(self, key: str) -> None:
        raise OSError("disk I/O error")

    async def clear(self) -> None:
        raise OSError("disk I/O error")

    async def aclose(self) -> None:
        self.closed = True
        raise OSError("close failed")


async def test_a_failing_store_degrades_to_misses(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = BrokenStore()
    upstream = Upstream("fresh")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    assert await call(runner, upstream) == "fresh"
    assert await call(runner, upstream) == "fresh"
    assert upstream.calls == 2
    stats = runner.statistics()
    assert (stats.store_errors, stats.hits, stats.misses, stats.sets, stats.evictions) == (
        4,
        0,
        2,
        0,
        0,
    )
    messages = [r.getMessage() for r in caplog.records if r.name == "sluice"]
    assert len(messages) == 1  # one line per streak, not one per failure
    assert "store read failed" in messages[0]
    assert "OSError: disk I/O error" in messages[0]
    assert "treated as a miss" in messages[0]
    await runner.aclose()  # a store that fails to close does not fail the close
    assert store.closed


async def test_a_corrupt_value_is_a_miss_and_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = MemoryStore()
    upstream = Upstream({"v": 1})
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    key = runner.key_for(upstream, (), {})
    await store.set(key, b"\xff not json", None)
    assert await call(runner, upstream) == {"v": 1}
    assert await call(runner, upstream) == {"v": 1}
    assert upstream.calls == 1
    assert runner.statistics().store_errors == 1
    assert any("store decode failed" in r.getMessage() for r in caplog.records)
    await runner.aclose()


async def test_an_unusable_sqlite_file_degrades_to_misses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    upstream = Upstream()
    store = SQLiteStore(tmp_path / "no-such-dir" / "c.db")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    assert await call(runner, upstream) == "ok"
    assert runner.statistics().store_errors == 2
    assert "OperationalError" in caplog.records[0].getMessage()
    await runner.aclose()


# ---------------------------------------------------------------- SQLite behind the cache
async def test_sqlite_cache_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "answers.db"
    upstream = Upstream({"text": "a sluice is a gate"})
    first = MiniGate("llm", sluice.Cache(store=SQLiteStore(path), ttl=3600))
    assert await first.run(upstream, "what is a sluice?") == {"text": "a sluice is a gate"}
    await first.aclose()
    second = MiniGate("llm", sluice.Cache(store=SQLiteStore(path), ttl=3600))
    assert await second.run(upstream, "what is a sluice?") == {"text": "a sluice is a gate"}
    assert upstream.calls == 1
    assert second.cache.statistics().hits == 1
    await second.aclose()


async def test_sqlite_cache_coalesces_and_hits(tmp_path: Path) -> None:
    upstream = Upstream([1], latency=1.0)
    gate = MiniGate("g", sluice.Cache(store=SQLiteStore(tmp_path / "c.db")), concurrency=2)
    assert await asyncio.gather(*(gate.run(upstream) for _ in range(5))) == [[1]] * 5
    assert await gate.run(upstream) == [1]
    stats = gate.cache.statistics()
    assert (upstream.calls, stats.misses, stats.coalesced, stats.hits, stats.sets) == (
        1,
        1,
        4,
        1,
        1,
    )
    await gate.aclose()


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": "1h"}, "ttl"),
        ({"store": {}}, "store"),
        ({"key": "fn"}, "key"),
        ({"serializer": "yaml"}, "serializer"),
        ({"namespace": ""}, "namespace"),
    ],
)
def test_cache_arguments_are_validated(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(sluice.ConfigError, match=rf"Cache\({name}=\.\.\.\)"):
        sluice.Cache(**kwargs)


def test_cache_shorthands() -> None:
    assert sluice.Cache.coerce(None) is None
    assert sluice.Cache.coerce(False) is None
    assert sluice.Cache.coerce(True) == sluice.Cache()
    assert sluice.Cache.coerce(60) == sluice.Cache(ttl=60.0)
    config = sluice.Cache(ttl=1.0)
    assert sluice.Cache.coerce(config) is config
    with pytest.raises(sluice.ConfigError, match=r"Gate\(cache=\.\.\.\)"):
        sluice.Cache.coerce("yes")  # type: ignore[arg-type]
    assert sluice.CacheStatistics(0, 0, 0, 0, 0, 0, 0).hit_ratio is None


async def test_the_default_store_uses_the_given_clock() -> None:
    clock = sluice.testing.ManualClock()
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(ttl=5.0), namespace="t", clock=clock)
    await call(runner, upstream)
    clock.advance(5.0)
    await call(runner, upstream)
    assert upstream.calls == 2
    await runner.aclose()


async def test_blocking_close_closes_flights_and_store(tmp_path: Path) -> None:
    upstream = Upstream(latency=10.0)
    store = SQLiteStore(tmp_path / "c.db")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    await call(runner, Upstream(), "warm")  # starts the store's thread
    waiter = asyncio.ensure_future(call(runner, upstream))
    await asyncio.sleep(1.0)
    runner.close()
    runner.close()
    with pytest.raises(sluice.GateClosedError):
        await waiter
    assert upstream.cancelled == 1
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("x")
    await runner.aclose()  # already closed: nothing more to do


def test_a_self_containing_argument_is_refused_clearly() -> None:
    argument: list[Any] = []
    argument.append(argument)
    with pytest.raises(TypeError, match=r"Cache\(key="):
        default_key(my_function, (argument,), {})


def test_a_closure_is_refused_by_the_default_key() -> None:
    def ask_with(model: str) -> Callable[[str], Any]:
        async def ask(prompt: str) -> str:
            return f"{model}: {prompt}"

        return ask

    with pytest.raises(TypeError, match=r"captures model .*Pass those values as arguments"):
        default_key(ask_with("m1"), ("q",), {})

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        return wrapper

    assert default_key(decorate(my_function), ("q",), {}) == default_key(my_function, ("q",), {})
