"""Connections to Redis for the shared stores: one bounded, blocking pool per event loop.

redis-py's asyncio connections belong to the loop that opened them, and its default pool
raises ``MaxConnectionsError`` once more commands are in flight than it has connections; so
each loop gets its own `BlockingConnectionPool`, where a command past the cap waits for a
connection instead of failing, and `slot` lets callers past the cap wait in arrival order.
Connecting is bounded by ``timeout`` here; each command is bounded by its caller, with the
same ``timeout`` around the whole of it: a Redis that stops answering costs a caller that
long, never more.

A client the user built (TLS, Sentinel, Cluster, a pool of their own) is used as it is, on
the loop it belongs to, and never closed here: its owner closes it.

    connections = RedisConnections("redis://127.0.0.1:6379/0", timeout=0.5)
    client = connections.client()          # the running loop's
    await connections.aclose()
"""

from __future__ import annotations

import asyncio
import urllib.parse
import weakref
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from .._executors.pending import job_finished, job_started
from .._validate import check_int_at_least, check_positive

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisConnections", "Slot", "import_redis", "redacted"]

_SCHEMES = ("redis", "rediss", "unix")


def import_redis() -> Any:
    """The ``redis.asyncio`` module, or an error that says how to install it."""
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ConfigError(
            "sharing state through Redis needs the redis client: pip install 'aiosluice[redis]'"
        ) from exc
    return redis.asyncio


def redacted(url: str) -> str:
    """``url`` without its password, for messages and reprs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class Slot:
    """One loop's turns at its connections (see `RedisConnections.slot`)."""

    __slots__ = ("_turns",)

    def __init__(self, turns: asyncio.Semaphore) -> None:
        self._turns = turns

    async def __aenter__(self) -> None:
        await self._turns.acquire()
        job_started()

    async def __aexit__(self, *exc_info: object) -> None:
        job_finished()
        self._turns.release()


def check_url(owner: str, url: object) -> str:
    """``url`` if it is a Redis URL, else a `ConfigError` naming the parameter."""
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in _SCHEMES:
        shown = redacted(url) if isinstance(url, str) else repr(url)
        raise ConfigError(
            f"{owner}(url=...) must be a Redis URL such as 'redis://127.0.0.1:6379/0' "
            f"(schemes: {', '.join(_SCHEMES)}), got {shown!r}"
        )
    return url


class RedisConnections:
    """The clients of one Redis URL, one per event loop; or the one client given."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        owner: str = "RedisStore",
        timeout: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigError(
                f"{owner}: give either url='redis://host:port/db' or client=<redis.asyncio.Redis>"
                ", not both or neither"
            )
        self.timeout = check_positive(owner, "timeout", timeout)
        self.max_connections = check_int_at_least(owner, "max_connections", max_connections, 1)
        self.url = None if url is None else check_url(owner, url)
        self._module = import_redis()
        # Duck-typed: redis.asyncio.RedisCluster is not a Redis subclass, and works as well.
        if client is not None and not callable(getattr(client, "evalsha", None)):
            raise ConfigError(
                f"{owner}(client=...) must be a redis.asyncio client (Redis, RedisCluster), "
                f"got {type(client).__name__}"
            )
        self._given: Redis | None = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Slot] = (
            weakref.WeakKeyDictionary()
        )

    def slot(self) -> Slot:
        """Held around each command (``async with connections.slot():``): at most
        ``max_connections`` at once on this loop, served in arrival order, each counted as
        real work in progress (a virtual-time loop then waits for the server in real time
        instead of jumping its clock to a timeout). The pool would make callers past the cap
        wait too, but not in order, so under load one caller could wait past ``timeout`` for
        a connection of a healthy server; waiting here is not counted against the server."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = Slot(asyncio.Semaphore(self.max_connections))
        return slot

    @property
    def where(self) -> str:
        """Where the data lives, fit to print (no password)."""
        return "a client of the caller's" if self.url is None else redacted(self.url)

    def client(self) -> Redis:
        """The client for the running loop (made on first use)."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            module = self._module
            pool = module.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                # No timer on the wait for a connection: callers either take turns before
                # the pool (`slot`), never more at once than it has connections, or bound
                # the whole command with a timeout of their own.
                timeout=None,
                # No socket timeout (redis-py's default is 5 s): each command runs under an
                # asyncio timeout of its caller's, one timer, where one per write and read
                # as well cost a tenth of a decision when measured.
                socket_timeout=None,
                socket_connect_timeout=self.timeout,
            )
            made: Redis = module.Redis.from_pool(pool)  # the client owns the pool
            client = self._clients[loop] = made
        return client

    async def aclose(self) -> None:
        """Close the running loop's client (a given client is its owner's to close)."""
        if self._given is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is awaited, so a loop runs
            return
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()  # and its pool, which it owns (`from_pool`)
