"""An in-process store: least-recently-used eviction plus a time to live per entry."""

from __future__ import annotations

from collections import OrderedDict

from .._clock import Clock, LoopClock
from .._errors import ConfigError
from .._validate import check_int_at_least, check_optional_positive

__all__ = ["MemoryStore"]


class MemoryStore:
    """Bytes in a dictionary of at most ``max_items`` entries, least recently used out first.

    Time to live is measured on ``clock`` (default: the running event loop's clock, like every
    sluice policy), so on a virtual-time loop an entry set at ``t`` with ``ttl=10`` is a hit
    until just before ``t + 10`` and a miss from ``t + 10`` exactly. Expired entries are
    dropped when touched; until then they only hold a slot that LRU eviction reclaims, so
    memory stays bounded by ``max_items`` either way.

        store = MemoryStore(max_items=10_000)
        await store.set("k", b"v", ttl=60.0)
        assert await store.get("k") == b"v"
    """

    __slots__ = ("_clock", "_closed", "_entries", "_evictions", "_expirations", "max_items")

    def __init__(self, max_items: int = 1024, *, clock: Clock | None = None) -> None:
        self.max_items = check_int_at_least("MemoryStore", "max_items", max_items, 1)
        self._clock: Clock = LoopClock() if clock is None else clock
        if not isinstance(self._clock, Clock):
            raise ConfigError(f"MemoryStore(clock=...) must have now() and sleep(), got {clock!r}")
        # Value: (expiry instant on the clock or None, bytes). Order is recency: last = newest.
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._evictions = 0
        self._expirations = 0
        self._closed = False

    @property
    def evictions(self) -> int:
        """Entries dropped to stay within ``max_items``."""
        return self._evictions

    @property
    def expirations(self) -> int:
        """Expired entries removed so far (on access)."""
        return self._expirations

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entries = self._live()
        entry = entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires is not None and self._clock.now() >= expires:
            del entries[key]
            self._expirations += 1
            return None
        entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"MemoryStore.set() stores bytes, got {type(value).__name__}")
        ttl = check_optional_positive("MemoryStore.set", "ttl", ttl)
        entries = self._live()
        expires = None if ttl is None else self._clock.now() + ttl
        entries[key] = (expires, value)
        entries.move_to_end(key)
        if len(entries) > self.max_items:
            entries.popitem(last=False)
            self._evictions += 1

    async def delete(self, key: str) -> None:
        self._live().pop(key, None)

    async def clear(self) -> None:
        self._live().clear()

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Drop every entry and refuse further use (idempotent)."""
        self._closed = True
        self._entries.clear()

    def _live(self) -> OrderedDict[str, tuple[float | None, bytes]]:
        if self._closed:
            raise RuntimeError("MemoryStore is closed")
        return self._entries

    def __repr__(self) -> str:
        return f"MemoryStore(max_items={self.max_items}, items={len(self._entries)})"
