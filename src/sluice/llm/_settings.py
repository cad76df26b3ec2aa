"""The client's defaults and the checks on its arguments.

Defaults for a gate in front of an LLM API (used when no ``gate=`` is passed):

============  ==========================================================================
concurrency   ``max_connections`` (100): never more calls in flight than pooled connections
rate          none configured: learned from the server's ``x-ratelimit-*`` headers
retry         3 attempts, exponential backoff with full jitter (0.5 s base, 8 s cap),
              Retry-After honoured up to 120 s, a gate-wide retry budget (20 % of traffic)
timeout       300 s per attempt (a whole stream included)
breaker       opens at 50 % failures over the last 20 calls (10 at least) for 30 s; counts
              5xx, timeouts, broken connections and interrupted streams, not 429s
============  ==========================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from .. import Adaptive, Breaker, Concurrency, ConfigError, Gate, Rate, Retry, Timeout
from .._core.state import StateStore
from ..openai import basic_authorization, public_url
from ..policies.breaker import counts_as_failure
from ._errors import RateLimitError, StreamInterrupted
from ._params import check_headers

__all__ = [
    "DEFAULT_BREAKER",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "UNSET",
    "Unset",
    "base_headers",
    "build_gate",
    "call_timeout",
    "check_base_url",
    "check_max_connections",
    "llm_failure",
    "secrets_in",
]


class _Default(enum.Enum):
    UNSET = enum.auto()


UNSET: Final = _Default.UNSET
Unset: TypeAlias = Literal[_Default.UNSET]

USER_AGENT = "sluice-llm/0.1"
_SECRET_WORDS = ("auth", "key", "token", "secret", "password", "cookie")


def llm_failure(exc: BaseException) -> bool:
    """What the default breaker counts as the upstream failing: the core's rule, except that
    a 429 is a quota signal (handled by the cooldown, not by tripping the circuit) and an
    interrupted stream is a failure although it is not retryable."""
    if isinstance(exc, RateLimitError):
        return False
    if isinstance(exc, StreamInterrupted):
        return True
    return counts_as_failure(exc)


DEFAULT_RETRY = Retry(attempts=3)
DEFAULT_TIMEOUT = Timeout(attempt=300.0)
DEFAULT_BREAKER = Breaker(
    failure_rate=0.5, window=20, min_calls=10, open_for=30.0, failure_on=llm_failure
)


def build_gate(
    name: str,
    max_connections: int,
    concurrency: Concurrency | Adaptive | int | Unset | None,
    rate: Rate | Unset | None,
    retry: Retry | int | Unset | None,
    timeout: Timeout | float | Unset | None,
    breaker: Breaker | Unset | None,
    *,
    shared: str | StateStore | None = None,
) -> Gate:
    """A gate from the client's keyword arguments; the unset ones take the defaults above.
    ``shared``: where the gate shares its limits with other processes (see `sluice.Gate`)."""
    return Gate(
        name,
        concurrency=max_connections if concurrency is UNSET else concurrency,
        rate=None if rate is UNSET else rate,
        retry=DEFAULT_RETRY if retry is UNSET else retry,
        timeout=DEFAULT_TIMEOUT if timeout is UNSET else timeout,
        breaker=DEFAULT_BREAKER if breaker is UNSET else breaker,
        shared=shared,
    )


def check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "Client(base_url=...) must be an http:// or https:// URL such as "
            f"'http://127.0.0.1:8000/v1', got {base_url!r}"
        )
    try:
        host = urlsplit(base_url).hostname
    except ValueError as exc:  # an unbalanced [ in an IPv6 host
        raise ConfigError(f"Client(base_url=...) is not a valid URL: {exc}") from None
    if not host:
        raise ConfigError(f"Client(base_url=...) has no host: {public_url(base_url)!r}")
    if any(c in base_url for c in "\r\n\0 "):
        raise ConfigError(
            f"Client(base_url=...) contains a space or line break: {public_url(base_url)!r}"
        )
    return base_url.rstrip("/")


def call_timeout(value: Timeout | float | None, method: str) -> Timeout:
    """A call's ``timeout=`` as the `Timeout` that replaces the gate's for it: a number is
    seconds per attempt (as the OpenAI SDK's ``timeout=``), None is no limit at all."""
    if value is None:
        return Timeout()
    limits = Timeout.coerce(value, owner=method)
    assert limits is not None  # None was handled above
    return limits


def check_max_connections(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Client(max_connections=...) must be an int >= 1, got {value!r}")
    return value


def base_headers(
    api_key: str | None,
    headers: Mapping[str, str] | None,
    user: str | None = None,
    password: str | None = None,
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The headers of every request, and the secrets among them (to redact from errors).
    ``user`` and ``password`` come from the base URL and become Basic authentication."""
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigError("Client(api_key=...) must be a string or None")
    if api_key and any(c in api_key for c in "\r\n\0"):
        raise ConfigError(
            "Client(api_key=...) contains a line break or NUL: check how the key was read "
            "(a trailing newline from a file, say: .strip() it)"
        )
    try:
        extra = check_headers(headers, "Client(headers=...)")
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    merged = {
        "content-type": "application/json",
        "accept": "application/json",
        "user-agent": USER_AGENT,
    }
    merged.update({name.lower(): value for name, value in extra.items()})
    credentials: tuple[str | None, ...] = ()
    if user is not None or password is not None:
        if api_key:
            raise ConfigError(
                "Client(base_url=...) carries credentials (user:password@) and api_key= was "
                "given too: both would be the Authorization header; pass only one"
            )
        merged["authorization"] = basic_authorization(user, password)
        # A user without a password is a key in the user's place (https://KEY@host/v1).
        credentials = (
            (password, unquote(password or "")) if password else (user, unquote(user or ""))
        )
    if api_key:
        merged["authorization"] = f"Bearer {api_key}"
    secrets = tuple(dict.fromkeys(s for s in (api_key, *credentials, *secrets_in(merged)) if s))
    return merged, secrets


def secrets_in(headers: Mapping[str, str]) -> list[str]:
    """The values of the headers that carry credentials (and their last word: the token of
    ``Bearer <token>``), to be redacted from anything shown."""
    found = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "authorization" or any(word in lowered for word in _SECRET_WORDS):
            found.append(value)
            found.append(value.rpartition(" ")[2])
    return found
