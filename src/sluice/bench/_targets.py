"""What a load test sends, and how each answer is classified.

A `TargetSpec` (plain, picklable data) says where and what: an OpenAI-compatible chat endpoint
(``api="chat"``, streamed or not) or any HTTP URL (``api="http"``). `open_target` turns it
into a callable that performs one request and returns a `Reply`; it never raises for a failed
request (every failure becomes an outcome class) and never follows redirects, so traffic goes
only where the user pointed it.

    async with open_target(TargetSpec("http://127.0.0.1:8000/v1"), clock=loop.time) as send:
        reply = await send()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from ._samples import OK, outcome_code

__all__ = ["Reply", "Send", "TargetSpec", "check_url", "classify_status", "open_target"]

DEFAULT_PROMPT = "Write a short paragraph about rivers."
_ERROR_BODY = 64 * 1024  # at most this much of an error body is read


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


class _Clock(Protocol):
    def __call__(self) -> float: ...


def classify_status(status: int) -> int:
    """Outcome code of an HTTP status (2xx is success)."""
    if 200 <= status < 300:
        return OK
    if status == 429:
        return outcome_code("429")
    if 500 <= status < 600:
        return outcome_code("5xx")
    return outcome_code("other_status")


def _fail(reply: Reply, outcome: str, detail: str) -> Reply:
    reply.outcome = outcome_code(outcome)
    reply.detail = detail
    return reply


@contextlib.asynccontextmanager
async def open_target(spec: TargetSpec, *, clock: _Clock) -> AsyncIterator[Send]:
    """A ready-to-call sender for ``spec`` (one connection pool, closed on exit)."""
    if spec.client == "sluice":
        from ._llm_target import open_llm_target

        async with open_llm_target(spec, clock=clock) as send:
            yield send
        return
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=None)
    headers = dict(spec.headers)
    if spec.api == "chat" and spec.api_key:
        headers.setdefault("Authorization", f"Bearer {spec.api_key}")
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, auto_decompress=True
    ) as session:
        yield _AiohttpSender(spec, session, clock).send


class _AiohttpSender:
    def __init__(self, spec: TargetSpec, session: Any, clock: _Clock) -> None:
        self._spec = spec
        self._session = session
        self._clock = clock
        self._url = spec.request_url
        if spec.api == "chat":
            self._method = "POST"
            self._data: bytes | None = json.dumps(spec.chat_body()).encode()
            self._headers = {"Content-Type": "application/json"}
        else:
            self._method = spec.method
            self._data = None if spec.body is None else spec.body.encode()
            self._headers = {}

    async def send(self) -> Reply:
        import aiohttp

        reply = Reply()
        started = False  # the response head arrived; failures after it are mid-stream
        try:
            async with asyncio.timeout(self._spec.timeout):
                async with self._session.request(
                    self._method,
                    self._url,
                    data=self._data,
                    headers=self._headers,
                    allow_redirects=False,
                ) as response:
                    started = True
                    reply.status = response.status
                    reply.outcome = classify_status(response.status)
                    if reply.outcome != OK:
                        body = await response.content.read(_ERROR_BODY)
                        reply.detail = f"HTTP {response.status}: {_excerpt(body)}"
                    elif self._spec.api == "http":
                        await response.read()
                    elif self._spec.stream:
                        await self._read_stream(response, reply)
                    else:
                        _check_completion(await response.read(), reply)
        except TimeoutError:
            return _fail(reply, "timeout", f"no complete answer within {self._spec.timeout:g} s")
        except aiohttp.ClientResponseError as exc:
            return _fail(reply, "bad_response", f"not a valid HTTP response: {exc.message}")
        except (aiohttp.ClientError, OSError) as exc:
            outcome = "mid_stream" if started else "connection"
            return _fail(reply, outcome, f"{type(exc).__name__}: {exc}")
        return reply

    async def _read_stream(self, response: Any, reply: Reply) -> None:
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            body = await response.content.read(_ERROR_BODY)
            _fail(reply, "bad_response", f"expected text/event-stream, got {content_type!r}")
            reply.detail += f": {_excerpt(body)}"
            return
        clock = self._clock
        last: float | None = None
        chunks = 0
        usage_tokens: int | None = None
        done = False
        async for line in response.content:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            try:
                event = json.loads(data)
                if isinstance(event, dict) and "error" in event:
                    _fail(reply, "mid_stream", f"error event in the stream: {_excerpt(data)}")
                    return
                text, tokens = _event_text(event)
            except (ValueError, TypeError, AttributeError, KeyError, IndexError):
                _fail(reply, "bad_response", f"malformed stream event: {_excerpt(data)}")
                return
            if tokens is not None:
                usage_tokens = tokens
            if text:
                now = clock()
                if last is None:
                    reply.first_token = now
                else:
                    reply.gaps.append(now - last)
                last = now
                chunks += 1
        if not done:
            _fail(reply, "mid_stream", f"stream ended before [DONE] after {chunks} chunks")
        elif chunks == 0:
            _fail(reply, "bad_response", "stream finished without a single content chunk")
        else:
            reply.tokens = chunks if usage_tokens is None else usage_tokens


def _event_text(event: Any) -> tuple[str, int | None]:
    """Text of a chat (or completions) stream event, and completion tokens if it has usage."""
    tokens = None
    usage = event.get("usage")
    if usage:
        tokens = int(usage["completion_tokens"])
    choices = event.get("choices") or ()
    if not choices:
        return "", tokens
    choice = choices[0]
    delta = choice.get("delta")
    text = delta.get("content") if delta is not None else choice.get("text")
    return text or "", tokens


def _check_completion(body: bytes, reply: Reply) -> None:
    try:
        data = json.loads(body)
        if not isinstance(data.get("choices"), list):
            raise ValueError("no choices")
        usage = data.get("usage") or {}
        reply.tokens = int(usage.get("completion_tokens", 0))
    except (ValueError, TypeError, AttributeError):
        _fail(reply, "bad_response", f"not a chat completion: {_excerpt(body)}")


def _excerpt(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text + ("..." if len(body) > limit else "") if text else "(empty body)"
