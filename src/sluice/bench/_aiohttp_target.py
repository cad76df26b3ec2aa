"""The load generator's own minimal client: one aiohttp session and nothing else.

It never raises for a failed request (every failure becomes an outcome class) and never
follows redirects, so traffic goes only where the user pointed it. Answers are read with
`sluice.openai`, like the library's client reads them: a stream through its SSE decoder,
events and bodies through its decoders.

    async with open_aiohttp_target(TargetSpec("http://127.0.0.1:8000/v1"), clock=now) as send:
        reply = await send()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .._clock import Reader
from ..openai import DONE, ServerSentEvent, SSEDecoder, decode_chat, decode_chunk, decode_object
from ._samples import OK
from ._targets import Reply, Send, TargetSpec, classify_status, excerpt, fail

__all__ = ["open_aiohttp_target"]

_ERROR_BODY = 64 * 1024  # at most this much of an error body is read


@contextlib.asynccontextmanager
async def open_aiohttp_target(spec: TargetSpec, *, clock: Reader) -> AsyncIterator[Send]:
    """A sender with its own connection pool (no cap), closed on exit."""
    connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=None)
    headers = dict(spec.headers)
    if spec.api == "chat" and spec.bearer_key:
        headers.setdefault("Authorization", f"Bearer {spec.bearer_key}")
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, auto_decompress=True
    ) as session:
        yield _AiohttpSender(spec, session, clock).send


class _Stream:
    """What a stream has delivered so far."""

    __slots__ = ("chunks", "done", "last", "usage_tokens")

    def __init__(self) -> None:
        self.chunks = 0
        self.done = False
        self.last: float | None = None
        self.usage_tokens: int | None = None


class _AiohttpSender:
    def __init__(self, spec: TargetSpec, session: aiohttp.ClientSession, clock: Reader) -> None:
        self._spec = spec
        self._session = session
        self._clock = clock
        self._url = spec.send_url
        if spec.api == "chat":
            self._method = "POST"
            self._data: bytes | None = json.dumps(spec.chat_body()).encode()
            self._headers = {"Content-Type": "application/json"}
        else:
            self._method = spec.method
            self._data = spec.next_body(0)
            named = {name.lower() for name, _ in spec.headers}
            json_bodies = spec.bodies is not None and "content-type" not in named
            self._headers = {"Content-Type": "application/json"} if json_bodies else {}
        self._sent = 0

    def _body(self) -> bytes | None:
        if self._spec.bodies is None:
            return self._data
        body = self._spec.next_body(self._sent)
        self._sent += 1
        return body

    async def send(self) -> Reply:
        reply = Reply()
        started = False  # the response head arrived; failures after it are mid-stream
        try:
            async with asyncio.timeout(self._spec.timeout):
                async with self._session.request(
                    self._method,
                    self._url,
                    data=self._body(),
                    headers=self._headers,
                    allow_redirects=False,
                ) as response:
                    started = True
                    reply.status = response.status
                    reply.outcome = classify_status(response.status)
                    if reply.outcome != OK:
                        body = await response.content.read(_ERROR_BODY)
                        reply.detail = f"HTTP {response.status}: {excerpt(body)}"
                    elif self._spec.api == "http":
                        await response.read()
                    elif self._spec.stream:
                        await self._read_stream(response, reply)
                    else:
                        _check_completion(await response.read(), reply)
        except TimeoutError:
            return fail(reply, "timeout", f"no complete answer within {self._spec.timeout:g} s")
        except aiohttp.ClientResponseError as exc:
            return fail(reply, "bad_response", f"not a valid HTTP response: {exc.message}")
        except (aiohttp.ClientError, OSError) as exc:
            outcome = "mid_stream" if started else "connection"
            return fail(reply, outcome, f"{type(exc).__name__}: {exc}")
        return reply

    async def _read_stream(self, response: Any, reply: Reply) -> None:
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            body = await response.content.read(_ERROR_BODY)
            fail(reply, "bad_response", f"expected text/event-stream, got {content_type!r}")
            reply.detail += f": {excerpt(body)}"
            return
        decoder = SSEDecoder()
        stream = _Stream()
        content = response.content
        try:
            while not stream.done and (chunk := await content.readany()):
                for event in decoder.feed(chunk):
                    if not self._event(event, stream, reply):
                        return
            for event in [] if stream.done else decoder.flush():
                if not self._event(event, stream, reply):
                    return
        except ValueError as exc:  # an event larger than the decoder holds
            fail(reply, "bad_response", f"malformed stream: {exc}")
            return
        if not stream.done:
            fail(reply, "mid_stream", f"stream ended before [DONE] after {stream.chunks} chunks")
        elif stream.chunks == 0:
            fail(reply, "bad_response", "stream finished without a single content chunk")
        else:
            reply.tokens = stream.chunks if stream.usage_tokens is None else stream.usage_tokens

    def _event(self, event: ServerSentEvent, stream: _Stream, reply: Reply) -> bool:
        """Take one event into account; False when it ended the reading with a failure."""
        if stream.done:
            return True
        data = event.data
        if data == DONE:
            stream.done = True
            return True
        try:
            parsed = decode_object(data, "a stream event")
            if "error" in parsed:
                fail(reply, "mid_stream", f"error event in the stream: {excerpt(data)}")
                return False
            deltas = decode_chunk(parsed)
        except ValueError:
            fail(reply, "bad_response", f"malformed stream event: {excerpt(data)}")
            return False
        for delta in deltas:
            if delta.usage is not None:
                stream.usage_tokens = delta.usage.completion_tokens
            if delta.text and delta.index == 0:
                now = self._clock()
                if stream.last is None:
                    reply.first_token = now
                else:
                    reply.gaps.append(now - stream.last)
                stream.last = now
                stream.chunks += 1
        return True


def _check_completion(body: bytes, reply: Reply) -> None:
    try:
        _, usage = decode_chat(decode_object(body))
    except ValueError:
        fail(reply, "bad_response", f"not a chat completion: {excerpt(body)}")
        return
    reply.tokens = usage.completion_tokens if usage is not None else 0
