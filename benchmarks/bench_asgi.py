"""Per-request overhead of the `sluice.asgi` middlewares, against the bare application.

A trivial ASGI app (answers 200 with a 2-byte body) is called in process, N requests in a
loop with a hand-made scope, ``receive`` and ``send``: no server, no socket, so the figures
are the middleware's own cost. Variants, measured in the same run:

- the bare app (baseline);
- `Deadlines`, no header and no default (the pass-through path);
- `Deadlines` with ``x-request-timeout: 30`` (a deadline set, a loop timer armed and
  cancelled per request);
- `Shed` over one gate with concurrency, rate and breaker (healthy: every request passes);
- `Shed` over one gate whose breaker is open (every request answered 503 by the middleware);
- `Deadlines` around `Shed` (healthy), with the header.

Rounds alternate between the variants; each figure is the median of the rounds.

    python benchmarks/bench_asgi.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
from collections.abc import Callable, MutableMapping
from typing import Any

import sluice
from _common import header, median, table, timed
from sluice.asgi import Deadlines, Limit, Shed

BASELINE = "bare app (baseline)"
Message = MutableMapping[str, Any]
App = Callable[..., Any]

START: Message = {"type": "http.response.start", "status": 200, "headers": []}
BODY: Message = {"type": "http.response.body", "body": b"ok", "more_body": False}


async def trivial(scope: Message, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    return None


def scope(headers: list[tuple[bytes, bytes]]) -> Message:
    return {"type": "http", "method": "GET", "path": "/v1/chat", "headers": headers}


def healthy_gate() -> sluice.Gate:
    return sluice.Gate(
        "bench",
        concurrency=100,
        rate=sluice.Rate(rps=1e9, burst=1000),
        breaker=sluice.Breaker(),
    )


async def broken_gate() -> sluice.Gate:
    gate = sluice.Gate("bench", breaker=sluice.Breaker(window=2, min_calls=2, open_for=3600))

    async def boom() -> None:
        raise ConnectionError

    for _ in range(2):
        with contextlib.suppress(ConnectionError):
            await gate.run(boom)
    return gate


async def drive(make: Callable[[], Any], requests: int, headers: list[tuple[bytes, bytes]]) -> None:
    app = make()
    if asyncio.iscoroutine(app):
        app = await app
    request = scope(headers)
    for _ in range(requests):
        await app(request, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    header(
        "sluice.asgi middleware overhead per request vs the bare ASGI app",
        f"python benchmarks/bench_asgi.py --requests {args.requests} --rounds {args.rounds}",
    )
    n = args.requests
    timeout = [(b"x-request-timeout", b"30")]

    async def shed_open() -> Any:
        return Shed(trivial, gates=[await broken_gate()])

    variants: dict[str, tuple[Callable[[], Any], list[tuple[bytes, bytes]]]] = {
        BASELINE: (lambda: trivial, []),
        "Deadlines, no header, no default": (lambda: Deadlines(trivial), []),
        "Deadlines, x-request-timeout: 30": (lambda: Deadlines(trivial), timeout),
        "Shed, one healthy gate": (lambda: Shed(trivial, gates=[healthy_gate()]), []),
        "Limit(limit=64), under its limit": (lambda: Limit(trivial, limit=64), []),
        "Shed, breaker open (503 each)": (shed_open, []),
        "Deadlines + Shed, header, healthy": (
            lambda: Deadlines(Shed(trivial, gates=[healthy_gate()])),
            timeout,
        ),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (make, headers) in variants.items():
            run = functools.partial(asyncio.run, drive(make, n, headers))
            seconds[name].append(timed(run))
    base = median(seconds[BASELINE])
    rows = []
    for name, values in seconds.items():
        per_request = median(values) / n * 1e6
        added = (median(values) - base) / n * 1e6
        rows.append(
            [name, f"{per_request:.2f} us", f"{added:+.2f} us", f"{median(values) / base:.2f}x"]
        )
    table(rows, ["variant", "per request (median)", "added", "vs bare app"])


if __name__ == "__main__":
    main()
