"""The cache at run time: keys, the store, encoding and single-flight around one call.

`CacheRunner.run` is the only entry point: given the function, its arguments and ``compute``
(the rest of the gate's pipeline for that call), it answers from the store, joins an identical
call already in flight, or starts ``compute`` as a shared execution and stores its result.

A store is a cache's servant, never its master: any exception it raises (disk full, locked
file, a value that no longer decodes) is counted, logged as a warning on the ``"sluice"``
logger, and handled as a miss (or as a write that did not happen). The call itself still runs.

A store shared by several processes may also offer claims (``lock_for``, ``claim``,
``release``; see `sluice._cache.claims`): then a miss first takes the turn to compute, or
waits, at most ``lock_for``, for the process that has it. A store without them is used as
above, nothing more.

    runner = CacheRunner(Cache(ttl=60), namespace="llm")
    answer = await runner.run(ask, (prompt,), {}, lambda: ask(prompt))
    await runner.aclose()
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import FunctionType
from typing import Any, TypeVar, cast

from .._clock import Clock, LoopClock
from .._core.deadline import DEADLINE
from .._degraded import degraded
from .._errors import GateClosedError
from .._validate import check_positive
from ..policies.cache import Cache, CacheStatistics, Serializer
from ..stores import MemoryStore, Store
from .claims import Claims, claim_seconds
from .singleflight import SingleFlight

__all__ = ["CacheRunner", "default_key"]

T = TypeVar("T")
logger = logging.getLogger("sluice")

# Store failures are logged when a streak starts and then once per this many, so a dead disk
# under heavy traffic produces a readable log instead of one line per call.
_LOG_EVERY = 100


def _key_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        # Large payloads (images, audio) enter the key as a digest of their content.
        return {"__bytes__": hashlib.blake2b(value, digest_size=16).hexdigest()}
    raise TypeError(f"an argument of type {type(value).__qualname__} is not JSON serializable")


def _make_key_encoder() -> Callable[[object], str]:
    portable = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_key_default)
    # CPython's C encoder, built once: `JSONEncoder.encode` builds a new one per call, which is
    # most of the cost of a key on the hit path. Without the circular-reference map, an
    # argument that contains itself ends in RecursionError, reported like any other.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - another interpreter
        return portable.encode
    try:
        fast = make(
            None,
            _key_default,
            json.encoder.encode_basestring_ascii,
            None,
            ":",
            ",",
            True,
            False,
            True,
        )
    except Exception:  # pragma: no cover - a different C signature
        return portable.encode

    def encode(value: object) -> str:
        return "".join(fast(value, 0))

    probe = [("a", 1.5, 10**20), {"b": None, "a": True, "é": b"x"}]
    if encode(probe) != portable.encode(probe):  # pragma: no cover - different behaviour
        return portable.encode
    return encode


_encode_key = _make_key_encoder()


def _qualified_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    if not isinstance(name, str):
        inner = getattr(fn, "__wrapped__", None)  # e.g. a sluice.cpu function
        if inner is not None:
            return _qualified_name(inner)
        kind = type(fn)  # a callable object: its class names it
        return f"{kind.__module__}.{kind.__qualname__}"
    return f"{getattr(fn, '__module__', None) or '?'}.{name}"


def default_key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """``module.qualname:digest``, the digest being BLAKE2b of the arguments' JSON.

    Stable across processes and runs (it goes into durable stores). JSON has no tuples and only
    string keys, so ``f((1, 2))`` and ``f([1, 2])`` share a key, as do ``{1: x}`` and
    ``{"1": x}``; ``f(1)`` and ``f(x=1)`` do not. ``bytes`` arguments enter as a digest of their
    content. For a bound method the instance is not part of the key (the gate's namespace
    usually tells upstreams apart); pass ``Cache(key=...)`` when it matters.

    A closure is refused: two closures of one function share a name but not their captured
    values, so they would share entries. Pass those values as arguments instead.
    """
    while isinstance(fn, functools.partial):
        args = (*fn.args, *args)
        kwargs = {**fn.keywords, **kwargs}
        fn = fn.func
    name = _qualified_name(fn)
    if type(fn) is FunctionType and fn.__closure__ and not hasattr(fn, "__wrapped__"):
        # A decorator's wrapper (it has __wrapped__) captures the function, not data.
        captured = [n for n in fn.__code__.co_freevars if n != "__class__"]
        if captured:
            raise TypeError(
                f"cannot build a cache key for {name}(...): it captures "
                f"{', '.join(captured)} from an enclosing scope, which the default key cannot "
                "see. Pass those values as arguments, or pass "
                "Cache(key=lambda fn, args, kwargs: ...) returning a string."
            )
    try:
        text = _encode_key([args, kwargs])
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(
            f"cannot build a cache key for {name}(...): {exc}. The default key is a digest of "
            "the JSON of the arguments; for other arguments pass "
            "Cache(key=lambda fn, args, kwargs: ...) returning a string."
        ) from exc
    return f"{name}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"


class CacheRunner:
    """The state of one gate's cache: store, encoder, key function, flights, counters.

    ``namespace`` (the gate's name, unless the `Cache` sets its own) prefixes every key.
    ``clock`` is the gate's clock, given to the default `MemoryStore` for its TTL, and the
    one a miss waits on for another process's claim.
    ``close_timeout`` bounds each step of `aclose` (flights, then the store).

        runner = CacheRunner(Cache(ttl=60), namespace="llm")
        text = await runner.run(ask, (prompt,), {}, lambda: ask(prompt))
        print(runner.statistics().hits)
    """

    def __init__(
        self,
        config: Cache,
        *,
        namespace: str,
        clock: Clock | None = None,
        close_timeout: float = 10.0,
    ) -> None:
        if not isinstance(config, Cache):
            raise TypeError(f"CacheRunner needs a sluice.Cache, got {config!r}")
        self.config = config
        self._store: Store = MemoryStore(clock=clock) if config.store is None else config.store
        self._serializer: Serializer = config.encoder()
        self._key_fn = config.key
        self._ttl = config.ttl
        self._namespace = config.namespace or namespace
        self._prefix = self._namespace + ":"
        self._close_timeout = check_positive("CacheRunner", "close_timeout", close_timeout)
        self._flights: SingleFlight[bytes] = SingleFlight(
            f"cache:{self._namespace}", close_timeout=self._close_timeout
        )
        seconds = claim_seconds(self._store)
        self._claims = (
            None
            if seconds is None
            else Claims(
                self._store,
                seconds=seconds,
                clock=LoopClock() if clock is None else clock,
                usable=self._decodes,
                failed=self._store_failed,
            )
        )
        self._hits = 0
        self._misses = 0
        self._sets = 0
        self._store_errors = 0
        self._streak = 0
        self._closed = False

    @property
    def store(self) -> Store:
        return self._store

    async def run(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        compute: Callable[[], Awaitable[T]],
    ) -> T:
        """The result of ``fn(*args, **kwargs)``: from the store, from an identical call in
        flight, or from ``compute()`` (then stored). Errors of ``compute`` are not cached."""
        return await self.run_keyed(self.key_for(fn, args, kwargs), compute)

    async def run_keyed(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """`run` with the key already built (see `key_for`)."""
        if self._closed:
            raise GateClosedError(f"cache {self._namespace!r} is closed")
        flights = self._flights
        flight = flights.find(key)
        if flight is None:
            # The hit path, inlined (no extra coroutine frame): read, decode, return.
            try:
                data = await self._store.get(key)
            except Exception as exc:
                self._store_failed("read", key, exc, "treated as a miss")
            else:
                if data is None:
                    self._streak = 0
                else:
                    try:
                        value = self._serializer.loads(data)
                    except Exception as exc:  # written by another version, or damaged on disk
                        self._store_failed("decode", key, exc, "treated as a miss")
                    else:
                        self._hits += 1
                        self._streak = 0
                        return cast("T", value)
            # Reading the store may have yielded: an identical call may have started meanwhile.
            flight = flights.find(key)
            if flight is None:
                self._misses += 1
                flight = flights.start(
                    key, functools.partial(self._produce, key, compute), context=_no_deadline()
                )
        data = await flights.wait(flight)
        # Each caller decodes its own copy, exactly as a hit would: nobody shares a mutable
        # result with another caller or with the store.
        return cast("T", self._serializer.loads(data))

    def key_for(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> str:
        """The store key of a call: namespace, then the custom or default key."""
        if self._key_fn is None:
            return self._prefix + default_key(fn, args, kwargs)
        custom = self._key_fn(fn, args, kwargs)
        if not isinstance(custom, str):
            raise TypeError(f"Cache(key=...) must return a str, got {type(custom).__qualname__}")
        return self._prefix + custom

    def statistics(self) -> CacheStatistics:
        evictions = getattr(self._store, "evictions", 0)
        return CacheStatistics(
            hits=self._hits,
            misses=self._misses,
            coalesced=self._flights.coalesced,
            sets=self._sets,
            evictions=evictions if isinstance(evictions, int) else 0,
            store_errors=self._store_errors,
            in_flight=self._flights.in_flight,
        )

    async def aclose(self) -> None:
        """Refuse new calls, cancel shared calls still running (their waiters get
        `GateClosedError`), then close the store. Each step waits at most ``close_timeout``."""
        if self._closed:
            return
        self._closed = True
        await self._flights.aclose()
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._store.aclose()
        except Exception as exc:
            logger.warning("cache %r: closing the store failed: %r", self._namespace, exc)

    def close(self) -> None:
        """Synchronous close for `Gate.close`: cancels shared calls without waiting, and
        closes the store if it offers a blocking ``close()``."""
        if self._closed:
            return
        self._closed = True
        self._flights.close()
        closer = getattr(self._store, "close", None)
        if callable(closer) and not inspect.iscoroutinefunction(closer):
            try:
                closer()
            except Exception as exc:
                logger.warning("cache %r: closing the store failed: %r", self._namespace, exc)

    # ------------------------------------------------------------------ internals
    async def _produce(self, key: str, compute: Callable[[], Awaitable[Any]]) -> bytes:
        """The shared execution: run the call, encode the result, store it. With claims,
        first take the turn, or wait for the value from the process that has it."""
        claims = self._claims
        claimed = False
        if claims is not None:
            stored, claimed = await claims.take(key)
            if stored is not None:
                return stored
        try:
            value = await compute()
            data = self._encode(value, key)
            try:
                await self._store.set(key, data, self._ttl)
            except Exception as exc:
                self._store_failed("write", key, exc, "result not stored")
            else:
                self._sets += 1
                self._streak = 0
            return data
        finally:
            # Stored, failed or cancelled: the processes waiting need not wait any longer.
            if claimed and claims is not None:
                await claims.release(key)

    def _decodes(self, key: str, data: bytes) -> bool:
        """Whether ``data`` found in the store decodes (a failure is logged as a miss)."""
        try:
            self._serializer.loads(data)
        except Exception as exc:
            self._store_failed("decode", key, exc, "treated as a miss")
            return False
        return True

    def _encode(self, value: Any, key: str) -> bytes:
        try:
            data = self._serializer.dumps(value)
        except TypeError as exc:
            raise TypeError(f"cannot cache the result of {key}: {exc}") from exc
        if not isinstance(data, bytes):
            raise TypeError(
                f"the cache serializer's dumps() must return bytes, got {type(data).__qualname__}"
            )
        return data

    def _store_failed(self, action: str, key: str, exc: Exception, outcome: str) -> None:
        self._store_errors += 1
        self._streak += 1
        if self._streak == 1 or self._streak % _LOG_EVERY == 0:
            degraded(
                f"cache {self._namespace!r}",
                f"store {action} failed for {key} ({type(exc).__name__}: {exc}); {outcome} "
                f"({self._streak} failure(s) in a row; see statistics().cache.store_errors)",
            )

    def __repr__(self) -> str:
        return f"CacheRunner({self._namespace!r}, store={self._store!r})"


def _no_deadline() -> contextvars.Context:
    # The shared execution serves every waiter, so it must not inherit the first caller's
    # deadline: each waiter's own deadline bounds its wait, and once all have gone the work is
    # cancelled. (The gate's own total timeout still applies inside the execution.)
    context = contextvars.copy_context()
    context.run(DEADLINE.set, None)
    return context
