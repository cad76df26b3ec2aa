"""A cache store on Redis: one cache shared by every process and host that uses the server.

Each entry is one Redis string, ``{namespace}:{key}``, with the time to live as the key's own
expiry (``SET ... PX``), so Redis expires entries by itself and its ``maxmemory`` policy can
evict them; nothing here scans for stale entries. Every command is bounded by ``timeout``: a
Redis that is down, paused or unreachable costs a caller that long and then raises, which the
cache turns into a miss.

The store can also let processes take turns on a miss (``lock_for``, see `RedisStore.claim`):
a claim is ``{namespace}#claim:{key}``, set only if absent and expiring after ``lock_for``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from .._errors import ConfigError
from .._validate import check_int_at_least, check_optional_positive, check_positive
from ._redis_connect import RedisConnections

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

R = TypeVar("R")
logger = logging.getLogger("sluice")

# Keys asked of each SCAN (a hint to Redis) and so unlinked per UNLINK by `clear`: large
# enough to clear a big namespace in few round trips, small enough that no single command
# holds the server for long.
_CLEAR_BATCH = 500

# Deletes a claim only if it still holds this store's token: a claim that expired and was
# taken by another process meanwhile is that process's, not ours to end.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStore:
    """Entries in Redis under ``{namespace}:``, shared by every process that uses the server.

    Give either ``url`` (``redis://``, ``rediss://`` or ``unix://``; each event loop gets its
    own pool of at most ``max_connections``) or ``client``, a ``redis.asyncio.Redis`` of your
    own (TLS, Sentinel...) that the store uses but never closes, created with the default
    ``decode_responses=False``. Time to live is Redis's own expiry, in whole milliseconds (at
    least one), so every process sees an entry expire at the same moment: it runs on the
    server's clock, never on the event loop's (possibly virtual) one.

    - ``max_value_bytes``: a larger value is not stored (a cache is no place for it, and one
      huge value would hold the server up for everyone); `oversize` counts them and the first
      is logged. The call that produced it still returns its result.
    - ``timeout``: seconds each Redis command may take, connecting included, before it fails
      with `TimeoutError` (the cache serves a miss).
    - ``lock_for``: seconds that a process missing a key waits for another process that is
      already computing it, instead of computing it too (see `claim`); ``None``: never wait.

    ``clear`` removes this namespace's entries only, so namespaces may share a database; but a
    namespace that extends another after a ``:`` (``app`` and ``app:llm``) is cleared with it.

        store = RedisStore("redis://127.0.0.1:6379/0", namespace="myapp:cache", lock_for=30)
        gate = sluice.Gate("llm", cache=sluice.Cache(store=store, ttl=3600))
        answer = await gate.run(ask_model, prompt)      # any process's second call is a hit
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        namespace: str = "sluice:cache",
        max_value_bytes: int = 1_048_576,
        timeout: float = 0.5,
        max_connections: int = 64,
        lock_for: float | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ConfigError(
                f"RedisStore(namespace=...) must be a non-empty string, got {namespace!r}"
            )
        self.namespace = namespace
        self.max_value_bytes = check_int_at_least(
            "RedisStore", "max_value_bytes", max_value_bytes, 1
        )
        self.lock_for = check_optional_positive("RedisStore", "lock_for", lock_for)
        self._connections = RedisConnections(
            url,
            client=client,
            owner="RedisStore",
            timeout=timeout,
            max_connections=max_connections,
        )
        self.timeout = self._connections.timeout
        if client is not None and client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigError(
                "RedisStore(client=...) must return bytes: create it with "
                "decode_responses=False (the default)"
            )
        # Imported only now that RedisConnections found the client installed: naming
        # RedisStore must work without it, and fail with how to install it when used.
        import redis.exceptions

        # redis-py's own timeout is not the built-in TimeoutError: both become the latter.
        self._timeouts: tuple[type[BaseException], ...] = (
            TimeoutError,
            redis.exceptions.TimeoutError,
        )
        self._prefix = namespace + ":"
        self._claim_prefix = namespace + "#claim:"
        self._pattern = _glob_escape(namespace) + ":*"
        # Marks this store's claims, so that `release` never ends another process's claim.
        self._token = os.urandom(16).hex()
        self._oversize = 0
        self._closed = False

    @property
    def oversize(self) -> int:
        """Values not stored because they were larger than ``max_value_bytes``."""
        return self._oversize

    @property
    def where(self) -> str:
        """The server, fit to print (no password)."""
        return self._connections.where

    # ------------------------------------------------------------------ the Store protocol
    async def get(self, key: str) -> bytes | None:
        client = self._client()
        value = await self._run("GET", client.get(self._prefix + key))
        if value is None or isinstance(value, bytes):
            return value
        raise TypeError(
            f"{self!r}: GET returned {type(value).__name__}, not bytes: the client must use "
            "decode_responses=False"
        )

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"RedisStore.set() stores bytes, got {type(value).__name__}")
        ttl = check_optional_positive("RedisStore.set", "ttl", ttl)
        client = self._client()
        name = self._prefix + key
        if len(value) > self.max_value_bytes:
            self._skipped(key, len(value))
            # The entry this value would have replaced must not outlive it.
            await self._run("UNLINK", client.unlink(name))
        elif ttl is None:
            await self._run("SET", client.set(name, value))
        else:
            await self._run("SET", client.set(name, value, px=_milliseconds(ttl)))

    async def delete(self, key: str) -> None:
        client = self._client()
        await self._run("UNLINK", client.unlink(self._prefix + key))

    async def clear(self) -> None:
        """Remove every entry of this namespace (in batches; other keys are left alone).

        Each SCAN and UNLINK is bounded by ``timeout``, not the whole: a namespace of a
        million entries takes a few thousand round trips.
        """
        client = self._client()
        cursor = 0
        while True:
            cursor, names = await self._run(
                "SCAN", client.scan(cursor, match=self._pattern, count=_CLEAR_BATCH)
            )
            if names:
                await self._run("UNLINK", client.unlink(*names))
            if cursor == 0:
                return

    async def aclose(self) -> None:
        """Refuse further use and close this event loop's connections (idempotent; a client
        given to the store is left open for its owner)."""
        self._closed = True
        await self._connections.aclose()

    def close(self) -> None:
        """Refuse further use (idempotent). Connections belong to their event loop and are
        closed by `aclose`; a blocking close cannot wait for that loop."""
        self._closed = True

    # ------------------------------------------------------------------ cross-process turns
    async def claim(self, key: str, seconds: float) -> bool:
        """Take the turn to compute ``key`` for ``seconds``: ``True`` if no one holds it.

        The cache calls this on a miss when ``lock_for`` is set: the process that gets the
        claim computes and stores the value, then releases the claim; the others read the
        store until the value appears (or ``lock_for`` has passed, then they compute it).
        The claim expires by itself, so a process that dies holding it blocks no one for
        longer than ``seconds``.
        """
        seconds = check_positive("RedisStore.claim", "seconds", seconds)
        client = self._client()
        name = self._claim_prefix + key
        reply = await self._run(
            "SET NX", client.set(name, self._token, nx=True, px=_milliseconds(seconds))
        )
        return bool(reply)

    async def release(self, key: str) -> None:
        """End this store's claim on ``key`` (a claim that expired, or is another's, stays)."""
        client = self._client()
        await self._run("EVAL", client.eval(_RELEASE, 1, self._claim_prefix + key, self._token))

    # ------------------------------------------------------------------ internals
    def _client(self) -> Redis:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        return self._connections.client()

    async def _run(self, what: str, command: Awaitable[R]) -> R:
        """Await one command in its turn at the connections, at most ``timeout`` seconds."""
        try:
            async with self._connections.slot():
                # This bounds the whole command (the client's own retries, a server that
                # accepts bytes but answers nothing, as under CLIENT PAUSE); the pool itself
                # bounds only connecting.
                async with asyncio.timeout(self.timeout):
                    return await command
        except self._timeouts as exc:
            raise TimeoutError(f"{self!r}: {what} got no answer within {self.timeout:g}s") from exc
        finally:
            if inspect.iscoroutine(command):
                command.close()  # never awaited when the wait for a turn was cut short

    def _skipped(self, key: str, size: int) -> None:
        self._oversize += 1
        if self._oversize == 1:
            logger.warning(
                "%r: a value of %d bytes for %s is over max_value_bytes=%d and is not stored "
                "(logged once; see .oversize)",
                self,
                size,
                key,
                self.max_value_bytes,
            )

    def __repr__(self) -> str:
        return f"RedisStore({self.where!r}, namespace={self.namespace!r})"


def _milliseconds(seconds: float) -> int:
    # Redis expiries are whole milliseconds (and zero is refused): rounded up, so an entry
    # lives at least as long as asked. The inner rounding drops float noise (0.07 s is not
    # 71 ms).
    return max(1, math.ceil(round(seconds * 1000, 6)))


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a SCAN MATCH pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)
