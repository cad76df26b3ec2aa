"""What every endpoint's timed delivery shares, whatever its shapes: the ``hang`` fault
before the answer, a whole body sent with its fault (``truncate``, ``malformed``, ``stall``,
``reset``), the mid-stream faults, and an exchange ended when its pause was cut short.

    schedule = await first_token(exchange, plan.fault, config.max_hang, latency, queue, 50)
    if schedule is None: ...                     # the hang was cut short: stop the exchange
    await send_whole(exchange, metrics, endpoint, body, headers, fault, config.max_hang)
"""

from __future__ import annotations

from ._capacity import ServerQueue
from ._exchange import Exchange, SimulatedReset
from ._latency import LatencyModel, TokenSchedule
from ._metrics import MetricsRecorder

__all__ = [
    "ENDED",
    "GO",
    "JSON_HEADER",
    "MID_STREAM",
    "STOPPED",
    "STREAM_HEADERS",
    "first_token",
    "mid_stream_fault",
    "send_whole",
    "stop_exchange",
]

GO = "go"
ENDED = "ended"
STOPPED = "stopped"
JSON_HEADER = (b"content-type", b"application/json")
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
MID_STREAM = frozenset({"stall", "reset", "truncate", "malformed"})  # after half the tokens


async def first_token(
    exchange: Exchange,
    fault: str | None,
    max_hang: float,
    latency: LatencyModel,
    queue: ServerQueue,
    prompt_tokens: int,
) -> TokenSchedule | None:
    """The answer's schedule: its first token a time-to-first-token after now, or after the
    ``hang`` fault's pause; None when that pause was cut short (the exchange is to be
    stopped)."""
    start = exchange.now()
    if fault == "hang":
        if not await exchange.pause_until(start + max_hang):
            return None
        start = exchange.now()
    return TokenSchedule(start, latency.time_to_first_token(prompt_tokens, queue.active))


async def stop_exchange(
    exchange: Exchange,
    metrics: MetricsRecorder,
    endpoint: str,
    headers: list[tuple[bytes, bytes]],
    error_body: bytes,
) -> None:
    """End an exchange whose pause was cut short: nothing if the client left, a 503 with
    ``error_body`` (the API's shape) if nothing was sent yet, else the end of the body."""
    if exchange.disconnected:
        return
    if not exchange.started:
        metrics.response(endpoint, 503)
        await exchange.start(
            503, [JSON_HEADER, (b"content-length", b"%d" % len(error_body)), *headers]
        )
        await exchange.body(error_body)
    else:
        await exchange.body(b"")


async def send_whole(
    exchange: Exchange,
    metrics: MetricsRecorder,
    endpoint: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    fault: str | None,
    max_hang: float,
) -> None:
    """A whole JSON answer, spoiled as its fault says: cut in half (``truncate``), not JSON
    (``malformed``), held back after the headers (``stall``), or dropped half-way
    (``reset``)."""
    if fault == "truncate":
        body = body[: len(body) // 2]
    elif fault == "malformed":
        body = body[:-1] + b",}"  # a trailing comma: looks complete, is not JSON
    metrics.response(endpoint, 200)
    await exchange.start(200, [JSON_HEADER, (b"content-length", b"%d" % len(body)), *headers])
    if fault == "stall":
        stalled = await exchange.pause_until(exchange.now() + max_hang)
        if not stalled and exchange.disconnected:
            return
    elif fault == "reset":
        await exchange.body(body[: len(body) // 2], more=True)
        raise SimulatedReset("simulated connection reset")
    await exchange.body(body)


async def mid_stream_fault(
    exchange: Exchange,
    fault: str | None,
    malformed: bytes,
    schedule: TokenSchedule,
    max_hang: float,
) -> str:
    """The mid-stream fault, where it strikes: `GO` on (after a ``malformed`` event, or a
    stall that shifts the rest of the schedule), ``ENDED`` (``truncate``: the stream is
    closed), `STOPPED` (a stall cut short: the exchange is to be stopped); ``reset`` raises
    `SimulatedReset`."""
    if fault == "truncate":
        await exchange.body(b"")
        return ENDED
    if fault == "reset":
        raise SimulatedReset("simulated connection reset")
    if fault == "malformed":
        await exchange.body(malformed, more=True)
    elif fault == "stall":
        if not await exchange.pause_until(exchange.now() + max_hang):
            return STOPPED
        schedule.deadline = exchange.now()  # the rest follows, shifted by the stall
    return GO
