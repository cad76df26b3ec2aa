"""What a load test sends, and how each answer is classified.

A `TargetSpec` (plain, picklable data) says where and what: an OpenAI-compatible chat endpoint
(``api="chat"``, streamed or not) or any HTTP URL (``api="http"``). A sender (see
`open_target`) performs one request and fills in a `Reply`: the outcome class of every
failure, the status, the tokens and, for a stream, when each token arrived.

    spec = TargetSpec("http://127.0.0.1:8000/v1", stream=True)
    reply = Reply()
    classify_status(429)   # the outcome code of "429"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._samples import OK, outcome_code

__all__ = [
    "DEFAULT_PROMPT",
    "Reply",
    "Send",
    "TargetSpec",
    "check_url",
    "classify_status",
    "excerpt",
    "fail",
]

DEFAULT_PROMPT = "Write a short paragraph about rivers."


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; ValueError saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port: {exc}") from None
    return url


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """Where a load test sends requests, and what it sends.

    ``url``: for ``api="chat"`` the API base (``http://host:port/v1``; requests go to
    ``/chat/completions`` under it); for ``api="http"`` the exact URL. ``client``: ``"aiohttp"``
    (the generator's own minimal client) or ``"sluice"`` (through `sluice.llm.Client`, no
    retries, to measure what the client adds). ``timeout``: per request, whole answer.
    ``connections``: pool size of the sluice client (the generator's own client has no cap).
    """

    url: str
    api: str = "chat"
    stream: bool = False
    model: str = "sim-model"
    prompt: str = DEFAULT_PROMPT
    max_tokens: int | None = None
    method: str = "GET"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    api_key: str | None = "sk-bench"
    timeout: float = 30.0
    client: str = "aiohttp"
    connections: int = 1000

    def __post_init__(self) -> None:
        check_url(self.url)
        if self.api not in ("chat", "http"):
            raise ValueError(f"api must be 'chat' or 'http', got {self.api!r}")
        if self.client not in ("aiohttp", "sluice"):
            raise ValueError(f"client must be 'aiohttp' or 'sluice', got {self.client!r}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 s, got {self.timeout!r}")
        if self.stream and self.api != "chat":
            raise ValueError("streaming needs the chat API")

    @property
    def request_url(self) -> str:
        if self.api == "chat":
            return self.url.rstrip("/") + "/chat/completions"
        return self.url

    def chat_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt}],
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def describe(self) -> str:
        if self.api == "chat":
            kind = "streamed chat completions" if self.stream else "chat completions"
            return f"POST {self.request_url} ({kind}, model {self.model}, client {self.client})"
        return f"{self.method} {self.url}"


@dataclass(slots=True)
class Reply:
    """How one request went. Times are absolute, on the load generator's clock."""

    outcome: int = OK
    status: int = 0
    first_token: float | None = None
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0
    detail: str = ""


Send = Callable[[], Awaitable[Reply]]


def classify_status(status: int) -> int:
    """Outcome code of an HTTP status (2xx is success)."""
    if 200 <= status < 300:
        return OK
    if status == 429:
        return outcome_code("429")
    if 500 <= status < 600:
        return outcome_code("5xx")
    return outcome_code("other_status")


def fail(reply: Reply, outcome: str, detail: str) -> Reply:
    reply.outcome = outcome_code(outcome)
    reply.detail = detail
    return reply


def excerpt(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text + ("..." if len(body) > limit else "") if text else "(empty body)"
