"""`Limit`: a route's requests run at most ``limit`` at once, with a bounded line; the rest
get 503 at once. On virtual time: the waits below are exact instants."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice.asgi import Limit

from .apps import app_of, client, http_scope, now


def slow_app(seconds: float, running: list[int]) -> sluice.asgi.Limit:
    peak = [0]

    async def handler() -> float:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(seconds)
        running[0] -= 1
        return peak[0]

    return app_of(handler)  # type: ignore[return-value]


async def test_requests_past_the_limit_and_the_line_get_503_at_once() -> None:
    running = [0]
    app = Limit(slow_app(1.0, running), limit=2, max_queue=1)
    async with client(app) as http:
        began = now()
        replies = await asyncio.gather(*(http.get("/ask") for _ in range(5)))
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [200, 200, 200, 503, 503]
    refused = [reply for reply in replies if reply.status_code == 503]
    assert {reply.json()["reason"] for reply in refused} == {"queue_full"}
    assert all(reply.headers["retry-after"] == "1" for reply in refused)
    peaks = [reply.json()["result"] for reply in replies if reply.status_code == 200]
    assert max(peaks) == 2  # never more than the limit at once
    assert now() - began == pytest.approx(2.0)  # the one in line ran after a first finished
    assert app.gate.statistics().rejected == {"queue_full": 2}
    await app.aclose()


async def test_a_wait_in_line_is_bounded_by_max_wait() -> None:
    app = Limit(slow_app(10.0, [0]), limit=1, max_queue=5, max_wait=0.5)
    async with client(app) as http:
        first, second = await asyncio.gather(http.get("/"), http.get("/"))
    assert (first.status_code, second.status_code) == (200, 503)
    assert second.json()["reason"] == "max_wait"
    await app.aclose()


async def test_only_the_named_routes_are_held_and_other_scopes_pass() -> None:
    running = [0]
    app = Limit(slow_app(1.0, running), limit=1, routes=["/ask"])
    assert app.covers("/ask")
    assert app.covers("/ask/more")
    assert not app.covers("/asking")
    async with client(app) as http:
        replies = await asyncio.gather(http.get("/healthz"), http.get("/healthz"))
    assert [reply.status_code for reply in replies] == [200, 200]
    seen: list[str] = []

    async def lifespan(scope: object, receive: object, send: object) -> None:
        seen.append("lifespan")

    await Limit(lifespan, limit=1)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
    await app.aclose()


async def test_a_refusal_inside_the_application_is_not_taken_for_the_limits() -> None:
    inner = sluice.Gate("inner", concurrency=sluice.Concurrency(1, max_queue=0))

    async def app(scope: object, receive: object, send: object) -> None:
        await inner.run(asyncio.sleep, 1.0)

    limited = Limit(app, limit=5)
    results = await asyncio.gather(
        *(limited(http_scope("/"), _nothing, _discard) for _ in range(2)), return_exceptions=True
    )
    assert sum(isinstance(result, sluice.OverloadedError) for result in results) == 1
    await limited.aclose()
    await inner.aclose()


async def _nothing() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: object) -> None:
    return None


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1, "max_queue": -1}, "max_queue"),
        ({"limit": 1, "max_wait": 0}, "max_wait"),
        ({"limit": 1, "routes": "/ask"}, "routes"),
        ({"limit": 1, "routes": ["ask"]}, "routes"),
    ],
)
def test_bad_settings_are_named(arguments: dict[str, object], named: str) -> None:
    with pytest.raises(sluice.ConfigError, match=named):
        Limit(app_of(lambda: None), **arguments)  # type: ignore[arg-type]
