"""Per-key request and token rate limits, reported the way OpenAI reports them. Pure: the
caller passes the time in.

Each API key (the bearer token; ``""`` when there is none) has two buckets that refill
continuously: ``rpm`` requests and ``tpm`` tokens per minute, each starting full. A bucket holds
``burst`` seconds of its rate (at least one request, or one token): with ``burst=1`` a key at
600 rpm may send 10 requests back to back, then one every 100 ms, the way providers enforce a
per-minute limit over short intervals; ``burst=60`` lets a whole minute's budget pass at once.
A request needs one request and its token cost (prompt tokens + the completion it will get);
both are taken, or neither. A cost larger than the whole token bucket is admitted once the
bucket is full (it goes into debt), so an oversized request is slow, never impossible.

    buckets = KeyRateBuckets(rpm=60, tpm=0, burst=1.0)
    decision = buckets.acquire("sk-a", tokens=10, now=0.0)
    decision.allowed, decision.headers()   # True, [(b"x-ratelimit-limit-requests", b"60"), ...]
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from ..openai import RateLimits, format_rate_limits, format_retry_after
from ..openai._fast import builder

__all__ = ["KeyRateBuckets", "RateDecision", "bucket_key"]

_MAX_KEYS = 10_000  # a client inventing keys must not grow the table without bound
_MAX_KEY_LENGTH = 128


def bucket_key(token: bytes) -> str:
    """The buckets' key for an API key as sent: itself, or its digest when it is long (the
    table stays small). Every endpoint keys the shared buckets this way, so a key has one
    budget whichever API it calls."""
    if len(token) > _MAX_KEY_LENGTH:
        token = b"sha256:" + hashlib.sha256(token).hexdigest().encode()
    return token.decode("latin-1")


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one admission: allowed or not, and what the headers should say."""

    allowed: bool
    retry_after: float
    limited_by: str  # "requests", "tokens" or "" when allowed
    request_limit: int
    request_remaining: int
    request_reset: float
    token_limit: int
    token_remaining: int
    token_reset: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``x-ratelimit-*`` headers for the limits in force, plus Retry-After when refused."""
        requests, tokens = bool(self.request_limit), bool(self.token_limit)
        limits = _rate_limits(
            requests_limit=self.request_limit if requests else None,
            requests_remaining=self.request_remaining if requests else None,
            requests_reset=self.request_reset if requests else None,
            tokens_limit=self.token_limit if tokens else None,
            tokens_remaining=self.token_remaining if tokens else None,
            tokens_reset=self.token_reset if tokens else None,
        )
        out = format_rate_limits(limits)
        if not self.allowed:
            out += format_retry_after(self.retry_after)
        return out


# One decision and its headers per request with limits: frozen values, built at the cost of
# mutable ones.
_rate_decision = builder(RateDecision)
_rate_limits = builder(RateLimits)


class _Buckets:
    __slots__ = ("requests", "tokens", "updated")

    def __init__(self, requests: float, tokens: float, now: float) -> None:
        self.requests = requests
        self.tokens = tokens
        self.updated = now


class KeyRateBuckets:
    """The simulated service's quota: token buckets per API key for requests per minute and
    tokens per minute (0 = no limit)."""

    __slots__ = (
        "_keys",
        "_request_capacity",
        "_request_rate",
        "_token_capacity",
        "_token_rate",
        "rpm",
        "tpm",
    )

    def __init__(self, rpm: int, tpm: int, *, burst: float) -> None:
        if not burst > 0:
            raise ValueError(f"burst must be > 0 seconds, got {burst!r}")
        self.rpm = rpm
        self.tpm = tpm
        self._request_rate = rpm / 60.0
        self._token_rate = tpm / 60.0
        self._request_capacity = max(1.0, self._request_rate * burst) if rpm else 0.0
        self._token_capacity = max(1.0, self._token_rate * burst) if tpm else 0.0
        self._keys: dict[str, _Buckets] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm)

    def _refilled(self, key: str, now: float) -> _Buckets:
        buckets = self._keys.get(key)
        if buckets is None:
            if len(self._keys) >= _MAX_KEYS:
                # Forget the oldest key: at worst it gets a fresh, full allowance.
                del self._keys[next(iter(self._keys))]
            buckets = _Buckets(self._request_capacity, self._token_capacity, now)
            self._keys[key] = buckets
            return buckets
        elapsed = max(0.0, now - buckets.updated)
        requests = buckets.requests + elapsed * self._request_rate
        buckets.requests = min(self._request_capacity, requests)
        buckets.tokens = min(self._token_capacity, buckets.tokens + elapsed * self._token_rate)
        buckets.updated = now
        return buckets

    def acquire(self, key: str, tokens: int, now: float) -> RateDecision:
        """Take one request and ``tokens`` tokens from ``key``'s buckets if both allow it."""
        buckets = self._refilled(key, now)
        wait_requests = 0.0
        if self.rpm and buckets.requests < 1:
            wait_requests = (1 - buckets.requests) / self._request_rate
        wait_tokens = 0.0
        if self.tpm:
            need = min(tokens, self._token_capacity)
            if buckets.tokens < need:
                wait_tokens = (need - buckets.tokens) / self._token_rate
        if wait_requests or wait_tokens:
            limited_by = "requests" if wait_requests >= wait_tokens else "tokens"
            return self._decision(buckets, False, max(wait_requests, wait_tokens), limited_by)
        if self.rpm:
            buckets.requests -= 1
        if self.tpm:
            buckets.tokens -= tokens
        return self._decision(buckets, True, 0.0, "")

    def peek(self, key: str, now: float) -> RateDecision:
        """The headers ``key`` would see now, taking nothing."""
        return self._decision(self._refilled(key, now), True, 0.0, "")

    def _decision(
        self, buckets: _Buckets, allowed: bool, retry_after: float, limited_by: str
    ) -> RateDecision:
        request_reset = (
            (self._request_capacity - buckets.requests) / self._request_rate if self.rpm else 0.0
        )
        token_reset = (
            (self._token_capacity - buckets.tokens) / self._token_rate if self.tpm else 0.0
        )
        return _rate_decision(
            allowed=allowed,
            retry_after=retry_after,
            limited_by=limited_by,
            request_limit=self.rpm,
            request_remaining=max(0, math.floor(buckets.requests)),
            request_reset=request_reset,
            token_limit=self.tpm,
            token_remaining=max(0, math.floor(buckets.tokens)),
            token_reset=token_reset,
        )
