"""Load through `sluice.llm.Client`: what an application using sluice would see.

The client runs with no retries and no circuit breaker, so every failure the target produces
is counted once, as it happened; its concurrency is unbounded (the load model sets it) and
its connection pool is as large as the sweep needs. Its gate's shared pause after a 429 or
503 carrying Retry-After stays on: that is how the client behaves, and the latencies show it.
Failures arrive as the client's error tree and are mapped onto the same outcome classes as
the generator's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from .. import llm
from .._clock import Reader
from ._samples import outcome_code
from ._targets import Reply, Send, TargetSpec

__all__ = ["open_llm_target"]


def _classify(exc: Exception) -> tuple[str, int]:
    status = getattr(exc, "status", None) or 0
    if isinstance(exc, llm.RateLimitError):
        return "429", status
    if isinstance(exc, llm.ServerError):
        return "5xx", status
    if isinstance(exc, llm.APIStatusError):
        return "other_status", status
    if isinstance(exc, TimeoutError):
        return "timeout", status
    if isinstance(exc, llm.APIConnectionError | ConnectionError):
        return "connection", status
    if isinstance(exc, llm.StreamInterrupted):
        return "mid_stream", status
    return "bad_response", status


@contextlib.asynccontextmanager
async def open_llm_target(spec: TargetSpec, *, clock: Reader) -> AsyncIterator[Send]:
    """A sender that makes each request with ``sluice.llm.Client``."""
    body = spec.chat_body()
    params: dict[str, Any] = {} if spec.max_tokens is None else {"max_tokens": spec.max_tokens}
    async with llm.Client(
        spec.url,
        api_key=spec.bearer_key,
        concurrency=None,
        retry=None,
        breaker=None,
        timeout=None,
        max_connections=spec.connections,
        headers=dict(spec.headers) or None,
    ) as client:

        async def send() -> Reply:
            reply = Reply(status=200)
            try:
                async with asyncio.timeout(spec.timeout):
                    if not spec.stream:
                        result = await client.chat(
                            model=spec.model, messages=body["messages"], **params
                        )
                        reply.status = result.status
                        reply.tokens = result.usage.completion_tokens if result.usage else 0
                        return reply
                    last: float | None = None
                    chunks = 0
                    async with client.stream_chat(
                        model=spec.model, messages=body["messages"], **params
                    ) as stream:
                        async for delta in stream:
                            if delta.text:
                                now = clock()
                                if last is None:
                                    reply.first_token = now
                                else:
                                    reply.gaps.append(now - last)
                                last, chunks = now, chunks + 1
                    usage = stream.usage
                    reply.tokens = usage.completion_tokens if usage is not None else chunks
                    if not chunks:
                        reply.outcome = outcome_code("bad_response")
                        reply.detail = "stream finished without a single content chunk"
            except TimeoutError:
                reply.outcome = outcome_code("timeout")
                reply.detail = f"no complete answer within {spec.timeout:g} s"
            except Exception as exc:  # every failure becomes an outcome class
                outcome, status = _classify(exc)
                reply.outcome, reply.status = outcome_code(outcome), status
                reply.detail = f"{type(exc).__name__}: {exc}"
            return reply

        yield send
