"""`RedisState`: the store that shares a gate's limits through Redis.

Every gate with the same name on the same Redis (and ``prefix``) shares, atomically: the
request rate and the token budget, the concurrency limit (as leases that expire unless their
process renews them), the breaker with its half-open probes, the cooldown after a 429 or 503
with Retry-After, the limits learned from ``x-ratelimit-*`` headers, and the retry budget.

When Redis cannot be reached, ``fail="open"`` (the default) admits calls on this process's
own limits, each divided by ``expected_workers`` when given, with one warning; the gate
rejoins once Redis answers again. ``fail="closed"`` refuses calls instead. No call waits on a
dead or stalled Redis longer than ``timeout``.

    shared = RedisState("redis://127.0.0.1:6379/0", expected_workers=4)
    gate = sluice.Gate("openai", rate=sluice.Rate(rpm=600), concurrency=32, shared=shared)
    await gate.aclose(); await shared.aclose()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.state import FailMode, GateSpec
from .._errors import ConfigError
from .._validate import check_int_at_least, check_positive
from ._redis_connect import RedisConnections

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ._redis_gate import SharedState

__all__ = ["RedisState"]


class RedisState:
    """Gate state kept in Redis and shared by every process that opens the same gate name.

    Args:
        url: a Redis URL (``redis://host:port/db``, ``rediss://`` for TLS, ``unix://``).
        client: instead of ``url``, a ``redis.asyncio.Redis`` of your own (TLS settings,
            Sentinel, Cluster); it is used on its own event loop and never closed here.
        fail: ``"open"``: admit on this process's own limits while Redis is away;
            ``"closed"``: refuse calls with a `RejectedError`.
        expected_workers: how many processes share the limits; while Redis is away each
            then enforces ``limit / expected_workers`` (``None``: the whole limit).
        timeout: seconds any one Redis command may take before Redis counts as away.
        lease: seconds a concurrency lease lives unless renewed (renewed every third of
            it while the call runs): a killed process gives its permits back within this.
        retry_every: seconds between tries of a Redis found unreachable.
        prefix: the first part of every key (``{prefix:gate}``); gates of different
            prefixes never share.
        max_connections: connections per event loop (a blocking pool: a command past the
            cap waits for one, within ``timeout``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        fail: FailMode = "open",
        expected_workers: int | None = None,
        timeout: float = 0.5,
        lease: float = 15.0,
        retry_every: float = 1.0,
        prefix: str = "sluice",
        max_connections: int = 64,
    ) -> None:
        if fail not in ("open", "closed"):
            raise ConfigError(f"RedisState(fail=...) must be 'open' or 'closed', got {fail!r}")
        self.fail: FailMode = fail
        self.expected_workers = (
            None
            if expected_workers is None
            else check_int_at_least("RedisState", "expected_workers", expected_workers, 1)
        )
        self.lease = check_positive("RedisState", "lease", lease)
        self.retry_every = check_positive("RedisState", "retry_every", retry_every)
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigError(
                f"RedisState(prefix=...) must be a non-empty string without braces, got {prefix!r}"
            )
        self.prefix = prefix
        self.connections = RedisConnections(
            url,
            client=client,
            owner="RedisState",
            timeout=timeout,
            max_connections=max_connections,
        )
        self.timeout = self.connections.timeout
        if self.timeout >= self.lease / 3.0:
            raise ConfigError(
                f"RedisState(timeout={timeout!r}, lease={lease!r}): a lease is renewed every "
                "third of its life, so the timeout must be shorter than lease / 3"
            )
        self._open: set[SharedState] = set()
        self._owned_by_gate = False

    @classmethod
    def for_gate(cls, url: str) -> RedisState:
        """A store made from ``Gate(shared="redis://...")``: closed with its gate."""
        store = cls(url)
        store._owned_by_gate = True
        return store

    @property
    def where(self) -> str:
        return self.connections.where

    def open(self, spec: GateSpec) -> SharedState:
        from ._redis_gate import SharedState

        state = SharedState(spec, self)
        self._open.add(state)
        return state

    async def release(self, state: SharedState) -> None:
        """A gate state was closed; a store made for that gate alone closes with it."""
        self._open.discard(state)
        if self._owned_by_gate and not self._open:
            await self.connections.aclose()

    async def aclose(self) -> None:
        """Close this event loop's connections (gates still open reconnect on their next call)."""
        await self.connections.aclose()

    def __repr__(self) -> str:
        return f"RedisState({self.where!r}, fail={self.fail!r})"
