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
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from .. import Breaker, Concurrency, ConfigError, Gate, Rate, Retry, Timeout
from ..policies.breaker import counts_as_failure
from ._errors import RateLimitError, StreamInterrupted

__all__ = [
    "DEFAULT_BREAKER",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "UNSET",
    "Unset",
    "base_headers",
    "build_gate",
    "chat_body",
    "check_base_url",
    "check_headers",
    "check_max_connections",
    "check_model",
    "llm_failure",
    "public_url",
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
    concurrency: Concurrency | int | Unset | None,
    rate: Rate | Unset | None,
    retry: Retry | int | Unset | None,
    timeout: Timeout | float | Unset | None,
    breaker: Breaker | Unset | None,
) -> Gate:
    """A gate from the client's keyword arguments; the unset ones take the defaults above."""
    return Gate(
        name,
        concurrency=max_connections if concurrency is UNSET else concurrency,
        rate=None if rate is UNSET else rate,
        retry=DEFAULT_RETRY if retry is UNSET else retry,
        timeout=DEFAULT_TIMEOUT if timeout is UNSET else timeout,
        breaker=DEFAULT_BREAKER if breaker is UNSET else breaker,
    )


def check_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "Client(base_url=...) must be an http:// or https:// URL such as "
            f"'http://127.0.0.1:8000/v1', got {base_url!r}"
        )
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ConfigError(f"Client(base_url=...) has no host: {public_url(base_url)!r}")
    return base_url.rstrip("/")


def check_max_connections(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Client(max_connections=...) must be an int >= 1, got {value!r}")
    return value


def public_url(url: str) -> str:
    """``url`` without user:password, for messages and reprs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_headers(headers: Mapping[str, str] | None, where: str) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"{where} must be a mapping of header names to strings")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"{where}: header {name!r} must map a str to a str")
    return dict(headers)


def base_headers(
    api_key: str | None, headers: Mapping[str, str] | None
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The headers of every request, and the secrets among them (to redact from errors)."""
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigError("Client(api_key=...) must be a string or None")
    extra = check_headers(headers, "Client(headers=...)")
    merged = {
        "content-type": "application/json",
        "accept": "application/json",
        "user-agent": USER_AGENT,
    }
    merged.update({name.lower(): value for name, value in extra.items()})
    if api_key:
        merged["authorization"] = f"Bearer {api_key}"
    secret_values = []
    for name, value in extra.items():
        if any(word in name.lower() for word in _SECRET_WORDS):
            secret_values.append(value)
            secret_values.append(value.rpartition(" ")[2])  # "Bearer <token>": the token
    secrets = tuple(dict.fromkeys(s for s in (api_key, *secret_values) if s))
    return merged, secrets


def check_model(model: object) -> None:
    if not isinstance(model, str) or not model:
        raise TypeError(f"model must be a non-empty string, got {model!r}")


def chat_body(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    extra_body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON body of a chat request, its arguments checked."""
    check_model(model)
    given: object = messages  # checked at run time: callers are not always type-checked
    if type(given) is not list and (
        isinstance(given, str | bytes) or not isinstance(given, Sequence)
    ):
        raise TypeError(
            "messages must be a list of {'role': ..., 'content': ...} mappings, "
            f"got {type(given).__name__}"
        )
    body: dict[str, Any] = {"model": model, "messages": messages, **params}
    if extra_body:
        body.update(extra_body)
    return body
