"""Answers kept across runs (``cache=``): a request asked again, by any later run over any
input, is answered from the store instead of being sent.

The key is the sha256 of the API's base URL and the request's fingerprint (the canonical JSON
of its url and body), so the same body sent to another API is another entry, and the
custom_id plays no part. Only successful answers are stored. The store is one of sluice's
cache stores (`sluice.stores.SQLiteStore` for a path); a store error is a miss, said once.

    cache = AnswerCache.open("answers.cache.sqlite", "https://api.openai.com/v1", notice)
    answer = await cache.get(request)            # None: send it
    await cache.put(request, answer)
    await cache.aclose()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ConfigError
from ..stores import SQLiteStore, Store
from ._input import Request

__all__ = ["Answer", "AnswerCache"]

_PREFIX = "sluice-batch:"


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: what an output line holds."""

    status: int
    request_id: str | None
    body: Mapping[str, Any]


class AnswerCache:
    """Successful answers in a `sluice.stores` store, keyed by base URL and request body."""

    def __init__(
        self, store: Store, base_url: str, notice: Callable[[str], None], *, owned: bool
    ) -> None:
        self._store = store
        self._scope = base_url.rstrip("/").encode()
        self._notice = notice
        self._owned = owned
        self._warned = False
        self.hits = 0

    @classmethod
    def open(
        cls, cache: str | Path | Store, base_url: str, notice: Callable[[str], None]
    ) -> AnswerCache:
        """A path opens (or creates) a SQLite store there, closed by `aclose`; a store is
        used as it is and left open."""
        if isinstance(cache, str | Path):
            # No size bound: the file holds the distinct answers the runs got, and is the
            # user's to delete; a bound would evict answers a later run still asks for.
            return cls(SQLiteStore(cache, max_items=None), base_url, notice, owned=True)
        if isinstance(cache, Store):
            return cls(cache, base_url, notice, owned=False)
        raise ConfigError(
            f"cache must be a file path or a sluice.stores store, got {type(cache).__name__}"
        )

    def key(self, request: Request) -> str:
        return _PREFIX + hashlib.sha256(self._scope + b"\0" + request.fingerprint).hexdigest()

    async def get(self, request: Request) -> Answer | None:
        """The stored answer to ``request``, or None."""
        try:
            raw = await self._store.get(self.key(request))
            if raw is None:
                return None
            data = json.loads(raw)
            answer = Answer(int(data["status"]), data["request_id"], data["body"])
        except Exception as exc:  # a broken store or entry is a miss: the request is sent
            self._warn(exc)
            return None
        self.hits += 1
        return answer

    async def put(self, request: Request, answer: Answer) -> None:
        """Keep a successful answer for later runs."""
        entry = {"status": answer.status, "request_id": answer.request_id, "body": answer.body}
        raw = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            await self._store.set(self.key(request), raw, None)
        except Exception as exc:  # the answer is written anyway; only the cache misses it
            self._warn(exc)

    async def aclose(self) -> None:
        if self._owned:
            await self._store.aclose()

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            self._notice(
                f"the answer cache failed ({type(exc).__name__}: {exc}); going on without it"
            )
