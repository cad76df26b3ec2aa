from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sluice
from sluice.asgi import Deadlines, Shed
from sluice.asgi._types import Receive, Scope, Send

from .apps import Recorder, app_of, client, http_scope, now, ok


async def boom() -> None:
    raise ConnectionError("upstream down")


async def open_breaker(gate: sluice.Gate) -> None:
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await gate.run(boom)
    assert gate.statistics().breaker_state == "open"


def breaker_gate(name: str = "llm") -> sluice.Gate:
    return sluice.Gate(name, breaker=sluice.Breaker(window=2, min_calls=2, open_for=30.0))


async def test_a_healthy_gate_lets_requests_through() -> None:
    gate = breaker_gate()
    app = Shed(app_of(lambda: gate.run(ok)), gates=[gate])
    async with client(app) as http:
        response = await http.get("/")
    assert response.status_code == 200
    assert response.json()["result"] == "ok"
    stats = app.statistics()
    assert (stats.requests, stats.shed) == (1, 0)


async def test_an_open_breaker_sheds_with_its_retry_after() -> None:
    gate = breaker_gate()
    await open_breaker(gate)
    await asyncio.sleep(10.2)  # 19.8 s left of the 30 s
    app = Shed(app_of(lambda: gate.run(ok)), gates=[gate])
    async with client(app) as http:
        response = await http.post("/v1/chat", json={"prompt": "hi"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "20"
    assert response.json() == {
        "error": "overloaded",
        "gate": "llm",
        "reason": "circuit_open",
        "retry_after": 20,
    }
    stats = app.statistics()
    assert stats.shed == 1
    assert stats.by_reason["circuit_open"] == 1
    assert stats.by_gate == {"llm": 1}
    assert gate.statistics().rejected_total == 0  # shed before the gate saw anything


async def test_a_paused_gate_sheds_until_the_pause_ends() -> None:
    gate = sluice.Gate("llm")
    gate.pause(2.2)
    app = Shed(app_of(ok), gates=[gate])
    async with client(app) as http:
        response = await http.get("/")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert response.json()["reason"] == "paused"
        await asyncio.sleep(2.2)
        assert (await http.get("/")).status_code == 200


async def test_a_closed_gate_sheds_with_the_default_retry_after() -> None:
    gate = sluice.Gate("llm")
    await gate.aclose()
    async with client(Shed(app_of(ok), gates=[gate], retry_after=4.5)) as http:
        response = await http.get("/")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["reason"] == "closed"


async def _queue_behind(gate: sluice.Gate, waiting: int) -> tuple[asyncio.Event, list[Any]]:
    """Fill ``gate``'s permits with calls that wait for the event, and queue ``waiting``."""
    release = asyncio.Event()
    limit = gate.statistics().concurrency_limit or 0
    tasks = [asyncio.create_task(gate.run(release.wait)) for _ in range(limit + waiting)]
    await asyncio.sleep(0)
    assert gate.statistics().waiting == waiting
    return release, tasks


async def test_a_queue_as_long_as_the_limit_sheds() -> None:
    gate = sluice.Gate("llm", concurrency=2)
    app = Shed(app_of(ok), gates=[gate])
    release, tasks = await _queue_behind(gate, 1)
    async with client(app) as http:
        assert (await http.get("/")).status_code == 200  # 1 waiting < the limit of 2
        tasks.append(asyncio.create_task(gate.run(release.wait)))
        await asyncio.sleep(0)
        response = await http.get("/")
        assert response.status_code == 503
        assert response.json()["reason"] == "queue_full"
        assert response.headers["retry-after"] == "1"
    release.set()
    await asyncio.gather(*tasks)


async def test_max_queue_sets_the_bound_and_none_removes_it() -> None:
    gate = sluice.Gate("llm", concurrency=1)
    release, tasks = await _queue_behind(gate, 3)
    async with client(Shed(app_of(ok), gates=[gate], max_queue=4)) as http:
        assert (await http.get("/")).status_code == 200
    async with client(Shed(app_of(ok), gates=[gate], max_queue=3)) as http:
        assert (await http.get("/")).status_code == 503
    async with client(Shed(app_of(ok), gates=[gate], max_queue=None)) as http:
        assert (await http.get("/")).status_code == 200
    release.set()
    await asyncio.gather(*tasks)


async def test_a_rate_wait_past_the_request_deadline_sheds() -> None:
    gate = sluice.Gate("llm", rate=sluice.Rate(rps=0.5, burst=1))
    await gate.run(ok)  # the next slot is 2 s away
    app = Deadlines(Shed(app_of(lambda: gate.run(ok)), gates=[gate]))
    start = now()
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "1.5"})
        assert response.status_code == 503
        assert response.json()["reason"] == "rate_limited"
        assert response.headers["retry-after"] == "2"
        assert now() == start
        # With time enough, the request waits for its slot.
        response = await http.get("/", headers={"x-request-timeout": "5"})
        assert response.status_code == 200
        assert now() - start == pytest.approx(2.0)


async def test_max_rate_wait_bounds_the_wait_without_a_deadline() -> None:
    gate = sluice.Gate("llm", rate=sluice.Rate(rps=0.5, burst=1))
    await gate.run(ok)
    async with client(Shed(app_of(ok), gates=[gate], max_rate_wait=1.0)) as http:
        assert (await http.get("/")).status_code == 503
    async with client(Shed(app_of(ok), gates=[gate], max_rate_wait=3.0)) as http:
        assert (await http.get("/")).status_code == 200
    async with client(Shed(app_of(ok), gates=[gate])) as http:
        assert (await http.get("/")).status_code == 200  # no deadline, no bound


async def test_routes_check_the_gates_under_their_prefix() -> None:
    chat, search, everywhere = breaker_gate("chat"), sluice.Gate("search"), sluice.Gate("all")
    await open_breaker(chat)
    app = Shed(app_of(ok), gates=[everywhere], routes={"/v1/chat/": [chat], "/v1": [search]})
    assert app.gates_for("/v1/chat/completions") == (everywhere, chat)
    assert app.gates_for("/v1/chat") == (everywhere, chat)
    assert app.gates_for("/v1/chatty") == (everywhere, search)
    assert app.gates_for("/v2") == (everywhere,)
    async with client(app) as http:
        assert (await http.get("/v1/chat/completions")).status_code == 503
        assert (await http.get("/v1/chatty")).status_code == 200
        assert (await http.get("/health")).status_code == 200
    assert app.statistics().by_gate == {"chat": 1}


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
async def test_other_scopes_pass_through_untouched(kind: str) -> None:
    gate = sluice.Gate("llm")
    gate.pause(10)
    seen: list[Any] = []
    recorder = Recorder()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    scope = {"type": kind, "path": "/"}
    middleware = Shed(app, gates=[gate])
    await middleware(scope, recorder.receive, recorder.send)
    assert seen == [(scope, recorder.receive, recorder.send)]
    assert recorder.sent == []
    assert middleware.statistics().requests == 0


async def test_called_by_hand() -> None:
    gate = sluice.Gate("llm")
    gate.pause(1)
    recorder = Recorder()
    await Shed(app_of(ok), gates=[gate])(http_scope(), recorder.receive, recorder.send)
    assert recorder.status == 503
    assert (b"retry-after", b"1") in recorder.sent[0]["headers"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "gates"),
        ({"gates": sluice.Gate()}, "gates"),
        ({"gates": ["llm"]}, "gates"),
        ({"routes": {"v1": [sluice.Gate()]}}, "routes"),
        ({"routes": {"/v1": [1]}}, "routes"),
        ({"routes": [sluice.Gate()]}, "routes"),
        ({"gates": [sluice.Gate()], "max_queue": 0}, "max_queue"),
        ({"gates": [sluice.Gate()], "max_queue": "full"}, "max_queue"),
        ({"gates": [sluice.Gate()], "max_rate_wait": -1}, "max_rate_wait"),
        ({"gates": [sluice.Gate()], "retry_after": 0}, "retry_after"),
    ],
)
def test_bad_configuration_is_refused_by_name(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(sluice.ConfigError, match=rf"Shed\({named}"):
        Shed(app_of(ok), **kwargs)


@pytest.mark.realtime
async def test_a_shared_gate_failing_closed_without_its_store_sheds(
    redis_server: Any, redis_url: str
) -> None:
    from sluice.stores import RedisState

    store = RedisState(redis_url, fail="closed", timeout=0.2)
    gate = sluice.Gate("shared-shed", concurrency=4, shared=store)
    app = Shed(app_of(lambda: gate.run(ok)), gates=[gate])
    try:
        async with client(app) as http:
            assert (await http.get("/")).status_code == 200
            redis_server.stop()
            with pytest.raises(sluice.RejectedError):
                await gate.run(ok)  # the gate finds its store gone
            response = await http.get("/")
        assert response.status_code == 503
        assert response.json()["reason"] == "store_unavailable"
        assert response.headers["retry-after"] == "1"
    finally:
        await gate.aclose()
        await store.aclose()
