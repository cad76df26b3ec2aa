"""Single-flight across processes, for a store that offers it: one computes, the rest wait.

In-process single-flight (`singleflight`) makes identical calls of one process share one
execution; processes sharing a store still each compute a key they all miss at once. A store
shared between processes may offer *claims* to prevent that. It does so by having

- ``lock_for``: seconds, not ``None`` (``None`` switches the capability off);
- ``async claim(key, seconds) -> bool``: take the turn to compute ``key`` for ``seconds``,
  ``True`` if no one else holds it (it expires by itself after ``seconds``);
- ``async release(key)``: end this store's own claim early.

On a miss, the shared execution first claims the key. Granted: it computes, stores, then
releases. Refused (another process is computing): it reads the store with a short backoff
until the value appears, and claims again at each step, so that if the holder failed and
released, one waiter takes over rather than all of them. After ``lock_for`` it stops waiting
and computes. A store error on the way ends the wait (the call computes, as on any miss).

    claims = Claims(store, seconds=30.0, clock=LoopClock(), usable=..., failed=...)
    stored, claimed = await claims.take(key)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._clock import Clock

__all__ = ["Claims", "claim_seconds"]

# The first pause between two looks at the store, doubled after each look up to the longest:
# a value computed in a few milliseconds is picked up at once, and a long call costs each
# waiting process a few round trips a second.
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.1


def claim_seconds(store: object) -> float | None:
    """The store's ``lock_for`` if it offers claims (see the module docstring), else None."""
    seconds = getattr(store, "lock_for", None)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    if not callable(getattr(store, "claim", None)) or not callable(getattr(store, "release", None)):
        return None
    return float(seconds)


class Claims:
    """Claims on one store, waited for on ``clock``.

    ``usable(key, data)`` tells whether bytes found in the store decode (the runner logs
    those that do not); ``failed(action, key, exc, outcome)`` reports a store error.
    """

    __slots__ = ("_clock", "_failed", "_store", "_usable", "seconds")

    def __init__(
        self,
        store: Any,
        *,
        seconds: float,
        clock: Clock,
        usable: Callable[[str, bytes], bool],
        failed: Callable[[str, str, Exception, str], None],
    ) -> None:
        self._store = store
        self.seconds = seconds
        self._clock = clock
        self._usable = usable
        self._failed = failed

    async def take(self, key: str) -> tuple[bytes | None, bool]:
        """``(value, claimed)``: the value another process stored while this one waited
        (``None`` if it must compute), and whether this process now holds the claim (then
        it must `release` it once the value is stored or the call failed)."""
        give_up = self._clock.now() + self.seconds
        pause = _FIRST_PAUSE
        while True:
            try:
                claimed = bool(await self._store.claim(key, self.seconds))
            except Exception as exc:
                self._failed("claim", key, exc, "computed without waiting")
                return None, False
            # Looked at after every claim, granted or not: the holder may have stored the
            # value and released the claim between the previous look and this claim.
            try:
                data = await self._store.get(key)
            except Exception as exc:
                self._failed("read", key, exc, "treated as a miss")
                return None, claimed
            if data is not None and self._usable(key, data):
                if claimed:
                    await self.release(key)
                return data, False
            if claimed:
                return None, True
            left = give_up - self._clock.now()
            if left <= 0:
                return None, False
            await self._clock.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def release(self, key: str) -> None:
        """End this process's claim; an error only means the claim runs out by itself."""
        try:
            await self._store.release(key)
        except Exception as exc:
            self._failed("release", key, exc, "the claim expires by itself")

    def __repr__(self) -> str:
        return f"Claims({self._store!r}, seconds={self.seconds:g})"
