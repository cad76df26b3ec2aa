"""Where cached values live: the `Store` protocol and the stores that ship with sluice.

A store maps string keys to ``bytes`` with an optional time to live. It knows nothing about
the values: encoding them is the cache's job (see `sluice.Cache`, ``serializer=``), so a store
only moves bytes, and a new backend (Redis, a key-value service) needs five small methods.

- `MemoryStore`: in-process, least-recently-used eviction past ``max_items``, TTL on the event
  loop's clock (so tests on virtual time see entries expire at exact instants).
- `SQLiteStore`: one file, durable across restarts, safe for several processes at once; TTL on
  wall-clock (epoch) time, since entries outlive the process that wrote them.

    store = sluice.stores.SQLiteStore("cache.db")
    gate = sluice.Gate("llm", cache=sluice.Cache(store=store, ttl=3600))
    answer = await gate.run(ask_model, prompt)      # the second identical call is a hit
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._local import LocalStore
from ._memory import MemoryStore
from ._redis_cache import RedisStore
from ._redis_state import RedisState
from ._sqlite import SQLiteStore

# The Redis stores import the redis client only when one is made (`pip install
# 'aiosluice[redis]'`): importing sluice.stores never needs it.
__all__ = ["LocalStore", "MemoryStore", "RedisState", "RedisStore", "SQLiteStore", "Store"]


@runtime_checkable
class Store(Protocol):
    """The interface a cache store implements. Every method is a coroutine.

    Contract:

    - ``get`` returns the bytes stored under ``key``, or ``None`` when there is no live entry
      (never stored, deleted, expired or evicted). ``None`` is reserved for "absent": a cached
      ``None`` *value* is encoded by the cache as non-empty bytes, so it is never confused
      with a miss.
    - ``set`` stores ``value``, replacing any entry; ``ttl`` is seconds to live (``None``:
      until evicted or deleted). ``delete`` of an absent key is not an error.
    - ``clear`` removes every entry of this store (for a shared file or server: every entry
      it can see, whatever the namespace).
    - ``aclose`` releases resources (threads, connections) and is idempotent; afterwards the
      other methods raise `RuntimeError`.
    - Errors are ordinary exceptions: the cache turns any of them into a miss and a logged
      warning, so a store need not catch its own I/O errors.

    A store may also expose ``evictions: int`` (entries dropped to respect a size bound),
    which `sluice.CacheStatistics` reports, and a blocking ``close()``, which `Gate.close`
    uses.

        store: Store = MemoryStore()
        await store.set("key", b"value", ttl=60.0)
        assert await store.get("key") == b"value"
    """

    async def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or ``None`` if there is no live entry."""

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    async def clear(self) -> None:
        """Remove every entry."""

    async def aclose(self) -> None:
        """Release the store's resources; idempotent."""
