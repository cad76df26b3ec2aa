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

from ..openai import public_url, split_credentials
from ._bodies import BodySet
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


def shown_url(url: str) -> str:
    """``url`` as it may be printed or written: without the credentials it may carry."""
    try:
        return public_url(url)
    except ValueError:  # not even parseable: show none of what follows the scheme
        return url.partition("//")[0] + "//..." if "@" in url else url


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; ValueError saying why not (the
    message never shows credentials)."""
    shown = shown_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{shown!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{shown!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"{shown!r} has an invalid port: {exc}") from None
    return url


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """Where a load test sends requests, and what it sends.

    ``url``: for ``api="chat"`` the API base (``http://host:port/v1``; requests go to
    ``/chat/completions`` under it); for ``api="http"`` the exact URL. ``client``: ``"aiohttp"``
    (the generator's own minimal client) or ``"sluice"`` (through `sluice.llm.Client`, no
    retries, to measure what the client adds). ``timeout``: per request, whole answer.
    ``connections``: pool size of the sluice client (the generator's own client has no cap).
    ``bodies`` (``api="http"`` only, in place of ``body``): sent in turn, one per request;
    ``body_part`` = (i, n) makes this process send bodies i, i + n, i + 2n... (modulo their
    number), so that n processes together send them in file order.
    Credentials in ``url`` (``http://user:password@host/v1``) are sent as Basic authentication,
    in place of ``api_key``; ``request_url`` and ``describe()`` never show them.
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
    bodies: BodySet | None = None
    body_part: tuple[int, int] = (0, 1)

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
        if self.bodies is not None and (self.api != "http" or self.body is not None):
            raise ValueError("bodies are for the plain HTTP API, in place of a single body")
        if not 0 <= self.body_part[0] < self.body_part[1]:
            raise ValueError(f"body_part must be (i, n) with 0 <= i < n, got {self.body_part!r}")

    def next_body(self, sent: int) -> bytes | None:
        """The body of this process's request number ``sent`` (0-based), or None."""
        if self.bodies is None:
            return None if self.body is None else self.body.encode()
        index, count = self.body_part
        return self.bodies[(index + sent * count) % len(self.bodies)]

    @property
    def request_url(self) -> str:
        """Where requests go, as shown in output and reports (without credentials)."""
        return shown_url(self.send_url)

    @property
    def send_url(self) -> str:
        """Where requests go, credentials included: for senders only, never to be shown."""
        if self.api == "chat":
            return self.url.rstrip("/") + "/chat/completions"
        return self.url

    @property
    def bearer_key(self) -> str | None:
        """The API key to send, unless the URL carries credentials (both would be the
        Authorization header: the URL's win)."""
        return None if split_credentials(self.url)[1:] != (None, None) else self.api_key

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
        if self.bodies is not None:
            return (
                f"{self.method} {self.request_url} ({len(self.bodies)} bodies from "
                f"{self.bodies.source}, sent in turn)"
            )
        return f"{self.method} {self.request_url}"


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
