"""Many requests over one client: each request is one call through the client's gate.

The client's fan-out hands the gate's own (`Gate.map`, `Gate.stream`) the function the gate
runs for a single request, so the gate sees each request once: its concurrency limit, rate
limits, retries, attempt timeout and breaker apply per request, and nothing runs a gate call
inside another (mapping `client.chat` over the gate would, and would wait for permits that
the waiting calls themselves hold).

Requests are prepared as the gate's workers pull them, so a generator of a million requests
costs no more memory than the window of calls in flight.

    jobs = chat_jobs(requests, common, prepare, wire, "chat_many")
    results = await gate.map(send_chat, jobs)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .. import Err, Ok
from ..openai import decode_chat, decode_embeddings
from ._results import chat_result, embeddings_result
from ._transport import Request
from ._types import ChatResult, Embeddings
from ._wire import Wire, send_json

__all__ = ["Job", "Requests", "Results", "jobs", "send_chat", "send_embedding"]

T = TypeVar("T")

Requests = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]
"""What the fan-out methods take: mappings of the single-request method's keyword
arguments, in a list, a generator or an async iterator."""

Prepare = Callable[[Mapping[str, Any]], Request]


class Results(Protocol[T]):
    """``(index, Ok | Err)`` pairs as requests finish; closed by ``async with`` or ``aclose``
    (calls still in flight are then cancelled)."""

    def __aiter__(self) -> AsyncIterator[tuple[int, Ok[T] | Err]]: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Results[T]: ...

    async def __aexit__(self, *exc_info: Any) -> None: ...


@dataclass(slots=True)
class Job:
    """One prepared request: what the gate's worker passes to the function it runs.
    ``start`` is when it was pulled, from which the result's latency runs."""

    wire: Wire
    request: Request
    start: float


async def send_chat(job: Job) -> ChatResult:
    """One attempt of one request of `Client.chat_many` (what the gate runs)."""
    wire = job.wire
    reply = await send_json(wire, job.request, decode_chat)
    return chat_result(reply, wire.clock() - job.start)


async def send_embedding(job: Job) -> Embeddings:
    """One attempt of one request of `Client.embed_many` (what the gate runs)."""
    wire = job.wire
    reply = await send_json(wire, job.request, decode_embeddings)
    return embeddings_result(reply, wire.clock() - job.start)


def jobs(
    requests: Requests,
    common: Mapping[str, Any],
    prepare: Prepare,
    wire: Wire,
    method: str,
) -> Iterator[Job] | AsyncIterator[Job]:
    """The requests as jobs, prepared one at a time as they are pulled. A request that cannot
    be sent (a bad argument) stops the fan-out with its error, noted with its index."""
    if isinstance(requests, AsyncIterable):
        return _async_jobs(requests, common, prepare, wire, method)
    if not isinstance(requests, Iterable) or isinstance(requests, str | bytes | Mapping):
        raise TypeError(
            f"{method}(requests=...) takes a list (or an iterable) of mappings of keyword "
            f"arguments, one per request; got {type(requests).__name__}"
        )
    return _jobs(requests, common, prepare, wire, method)


def _jobs(
    requests: Iterable[Mapping[str, Any]],
    common: Mapping[str, Any],
    prepare: Prepare,
    wire: Wire,
    method: str,
) -> Iterator[Job]:
    for index, arguments in enumerate(requests):
        yield _job(index, arguments, common, prepare, wire, method)


async def _async_jobs(
    requests: AsyncIterable[Mapping[str, Any]],
    common: Mapping[str, Any],
    prepare: Prepare,
    wire: Wire,
    method: str,
) -> AsyncIterator[Job]:
    index = 0
    async for arguments in requests:
        yield _job(index, arguments, common, prepare, wire, method)
        index += 1


def _job(
    index: int,
    arguments: object,
    common: Mapping[str, Any],
    prepare: Prepare,
    wire: Wire,
    method: str,
) -> Job:
    if not isinstance(arguments, Mapping):
        raise TypeError(
            f"{method}(): request {index} is a {type(arguments).__name__}, not a mapping of "
            "keyword arguments such as {'messages': [...]}"
        )
    try:
        request = prepare({**common, **arguments} if common else arguments)
    except Exception as exc:
        exc.add_note(f"sluice.llm: {method}() could not send request {index}")
        raise
    return Job(wire, request, wire.clock())
