"""The response cache policy: what to store, where, for how long, and how to encode it.

`Cache` is the outermost policy of a gate: a hit returns at once, without a permit, a rate slot
or an attempt; identical calls in flight at the same moment share one execution (single-flight;
see `sluice._cache.singleflight`). Only successful results are stored; errors never are.

Values are encoded to bytes before they reach the store, and every caller, hit or miss, gets
its own decoded copy, so mutating a result never alters what is cached. Encodings:

- ``"json"`` (default): plain JSON data only: ``dict`` with ``str`` keys, ``list``, ``str``,
  ``int``, finite ``float``, ``bool`` and ``None``. A result JSON would not give back unchanged
  (a tuple, a dataclass, an SDK response object, a dict with int keys, NaN) fails the call
  with a `TypeError` naming the offending place, rather than caching a different value;
- ``"pickle"``: any picklable object. Loading a pickle runs code chosen by whoever wrote it:
  use it only with a store that nobody else can write to;
- any object with ``dumps(value) -> bytes`` and ``loads(bytes) -> value``, e.g. one that
  turns your response class into JSON and back.

``None`` is a value like any other: a function that returns ``None`` is cached too.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from .._errors import ConfigError
from .._validate import check_optional_positive
from ..stores import Store

__all__ = [
    "Cache",
    "CacheStatistics",
    "JsonSerializer",
    "KeyFunction",
    "PickleSerializer",
    "Serializer",
]

KeyFunction: TypeAlias = Callable[[Callable[..., Any], tuple[Any, ...], Mapping[str, Any]], str]
"""``key(fn, args, kwargs) -> str``: the cache key of one call (the gate adds its namespace)."""


@runtime_checkable
class Serializer(Protocol):
    """Turns results into bytes for a store and back. ``loads(dumps(v))`` must equal ``v``.

    class ReplyCodec:   # a response class to JSON and back
        def dumps(self, value: Reply) -> bytes: return json.dumps(asdict(value)).encode()
        def loads(self, data: bytes) -> Reply: return Reply(**json.loads(data))
    """

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise `TypeError` if it cannot be encoded faithfully."""

    def loads(self, data: bytes) -> Any:
        """Decode bytes produced by `dumps`."""


_DECODER = json.JSONDecoder()
_FIX = (
    "Return plain JSON data (dict with str keys, list, str, int, float, bool, None), or "
    "choose another encoding: Cache(serializer='pickle') or a serializer object with "
    "dumps(value) -> bytes and loads(data) -> value."
)


def _exact_json(value: Any, where: str) -> None:
    """Raise `TypeError` unless JSON gives ``value`` back with the same types and equal."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"{where} is {value!r}, which JSON cannot represent. {_FIX}")
        return
    if kind is list:
        for index, item in enumerate(value):
            _exact_json(item, f"{where}[{index}]")
        return
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str:
                raise TypeError(
                    f"{where} has a {type(name).__name__} key {name!r}; JSON keys are strings, "
                    f"so it would come back as {str(name)!r}. {_FIX}"
                )
            _exact_json(item, f"{where}[{name!r}]")
        return
    raise TypeError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}, which JSON would not give back "
        f"as such. {_FIX}"
    )


class JsonSerializer:
    """Compact JSON, checked so that what comes back equals, type for type, what went in.

    serializer = JsonSerializer()
    data = serializer.dumps({"answer": [1, 2.5, None]})
    assert serializer.loads(data) == {"answer": [1, 2.5, None]}
    """

    __slots__ = ()
    name = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            _exact_json(value, "the result")
        except RecursionError:
            raise TypeError(
                f"the result is circular or nested too deeply for JSON. {_FIX}"
            ) from None
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        # A prebuilt decoder on text skips `json.loads`' encoding detection (dumps writes ASCII).
        return _DECODER.decode(data.decode())

    def __repr__(self) -> str:
        return "JsonSerializer()"


class PickleSerializer:
    """Pickle, highest protocol: any picklable object. Trust the store: loading runs code.

    serializer = PickleSerializer()
    data = serializer.dumps((1, {2: "two"}))
    assert serializer.loads(data) == (1, {2: "two"})
    """

    __slots__ = ()
    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"Cache(serializer='pickle') cannot store a {type(value).__qualname__}: {exc}. "
                "Return a picklable value, or pass a serializer object with dumps() and loads()."
            ) from exc

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)

    def __repr__(self) -> str:
        return "PickleSerializer()"


@dataclass(frozen=True, slots=True)
class Cache:
    """Cache successful results of a gate's calls, and coalesce identical calls in flight.

    store:
        a `sluice.stores.Store`; default: a `MemoryStore` of 1024 entries for this gate.
        The gate owns its store: closing the gate closes it.
    ttl:
        seconds an entry lives (``None``: until evicted). Memory stores count on the event
        loop's clock, SQLite stores on wall-clock time.
    key:
        ``key(fn, args, kwargs) -> str``; default: the function's qualified name plus a
        digest of the JSON of its arguments. Arguments JSON cannot encode need a ``key``.
    serializer:
        ``"json"`` (default), ``"pickle"``, or an object with ``dumps`` and ``loads``.
    namespace:
        prefix of every key; default: the gate's name, so gates sharing a store (or a
        SQLite file) never see each other's entries.

        cache = Cache(store=sluice.stores.SQLiteStore("answers.db"), ttl=24 * 3600)
        gate = sluice.Gate("llm", cache=cache, retry=3)
        text = await gate.run(ask_model, "What is a sluice?")
    """

    store: Store | None = None
    ttl: float | None = None
    key: KeyFunction | None = None
    serializer: Literal["json", "pickle"] | Serializer = "json"
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.store is not None and not isinstance(self.store, Store):
            raise ConfigError(
                "Cache(store=...) must be a sluice.stores.Store (async get, set, delete, "
                f"clear, aclose) or None, got {self.store!r}"
            )
        object.__setattr__(self, "ttl", check_optional_positive("Cache", "ttl", self.ttl))
        if self.key is not None and not callable(self.key):
            raise ConfigError(
                f"Cache(key=...) must be a callable (fn, args, kwargs) -> str, got {self.key!r}"
            )
        serializer = self.serializer
        if not (serializer in ("json", "pickle") or isinstance(serializer, Serializer)):
            raise ConfigError(
                "Cache(serializer=...) must be 'json', 'pickle' or an object with dumps() "
                f"and loads(), got {serializer!r}"
            )
        if self.namespace is not None and (
            not isinstance(self.namespace, str) or not self.namespace
        ):
            raise ConfigError(
                f"Cache(namespace=...) must be a non-empty string or None, got {self.namespace!r}"
            )

    def encoder(self) -> Serializer:
        """The serializer object that ``serializer`` names."""
        if self.serializer == "json":
            return JsonSerializer()
        if self.serializer == "pickle":
            return PickleSerializer()
        assert not isinstance(self.serializer, str)
        return self.serializer

    @classmethod
    def coerce(cls, value: Cache | float | bool | None) -> Cache | None:
        """Accept the ``cache=`` shorthands: ``True`` (defaults), a number (the ``ttl``)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, Cache):
            return value
        if isinstance(value, int | float):
            return cls(ttl=value)
        raise ConfigError(
            f"Gate(cache=...) must be a sluice.Cache, True, a TTL in seconds or None, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    """A snapshot of a gate's cache.

    Every call is counted once, as a ``hit`` (answered from the store), a ``miss`` (it ran
    the call) or ``coalesced`` (it shared a call another caller had started). ``sets`` counts
    results written; ``evictions`` entries the store dropped to respect its size bound (when
    the store reports it); ``store_errors`` store failures, each handled as a miss (or a
    skipped write); ``in_flight`` shared calls running now.

        stats = gate.statistics().cache
        if stats is not None and stats.hit_ratio is not None:
            print(f"{stats.hit_ratio:.0%} hits, {stats.coalesced} calls coalesced")
    """

    hits: int
    misses: int
    coalesced: int
    sets: int
    evictions: int
    store_errors: int
    in_flight: int

    @property
    def hit_ratio(self) -> float | None:
        """Hits over all calls (``None`` before the first call)."""
        total = self.hits + self.misses + self.coalesced
        return None if total == 0 else self.hits / total
