from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import sluice
from sluice._core.deadline import DEADLINE
from sluice.asgi import Deadlines
from sluice.asgi._types import Receive, Scope, Send

from .apps import Recorder, app_of, client, http_scope, now, ok, reply


async def test_the_header_becomes_the_deadline_of_the_handler() -> None:
    seen: dict[str, Any] = {}

    async def handler() -> None:
        seen["deadline"] = sluice.current_deadline()
        seen["at"] = now()

    async with client(Deadlines(app_of(handler))) as http:
        response = await http.get("/", headers={"x-request-timeout": "2.5"})
    assert response.status_code == 200
    assert response.json()["remaining"] == pytest.approx(2.5)
    assert seen["deadline"] == pytest.approx(seen["at"] + 2.5)  # loop clock, the gates' clock
    assert sluice.current_deadline() is None  # reset once the request is over


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"grpc-timeout": "250m"}, 0.25),
        ({"grpc-timeout": "2S"}, 2.0),
        ({"grpc-timeout": "1M"}, 60.0),
        ({"grpc-timeout": "1500000u"}, 1.5),
        ({"x-request-timeout": "3", "grpc-timeout": "1S"}, 1.0),  # the shorter wins
        ({"x-request-timeout": ".5"}, 0.5),
        ({"X-Request-Timeout": " 4.0 "}, 4.0),
    ],
)
async def test_header_formats(headers: dict[str, str], expected: float) -> None:
    async with client(Deadlines(app_of(ok))) as http:
        response = await http.get("/", headers=headers)
    assert response.json()["remaining"] == pytest.approx(expected)


async def test_a_gate_call_gives_up_at_the_deadline_and_the_client_gets_504() -> None:
    gate = sluice.Gate("llm")
    app = Deadlines(app_of(lambda: gate.run(asyncio.sleep, 10)))
    start = now()
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "2.5"})
    assert response.status_code == 504
    assert response.json()["error"] == "deadline_exceeded"
    assert now() - start == pytest.approx(2.5)
    # The gate's timer and the middleware's fire at the same instant: either stops the call.
    assert gate.statistics().timeouts + gate.statistics().cancelled == 1
    assert app.statistics().timed_out == 1


async def test_a_rate_wait_past_the_deadline_fails_at_once() -> None:
    gate = sluice.Gate("llm", rate=sluice.Rate(rps=1, burst=1))
    await gate.run(ok)  # the next slot is a second away
    caught: list[sluice.DeadlineExceeded] = []

    async def handler() -> str:
        try:
            return await gate.run(ok)
        except sluice.DeadlineExceeded as exc:
            caught.append(exc)
            return "gave up"

    start = now()
    async with client(Deadlines(app_of(handler))) as http:
        response = await http.get("/", headers={"x-request-timeout": "0.5"})
    assert response.json()["result"] == "gave up"
    assert now() == start  # no wait at all
    assert caught[0].retry_after == pytest.approx(1.0)


async def test_an_unhandled_deadline_exceeded_is_a_504() -> None:
    gate = sluice.Gate("llm", rate=sluice.Rate(rps=1, burst=1))
    await gate.run(ok)
    app = Deadlines(app_of(lambda: gate.run(ok)))
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "0.5"})
    assert response.status_code == 504


async def test_a_handler_that_never_calls_a_gate_is_cancelled_at_the_deadline() -> None:
    cancelled: list[float] = []

    async def handler() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(now())
            raise

    start = now()
    async with client(Deadlines(app_of(handler))) as http:
        response = await http.get("/", headers={"grpc-timeout": "1500m"})
    assert response.status_code == 504
    assert cancelled == [pytest.approx(start + 1.5)]


async def test_tasks_the_handler_starts_inherit_the_deadline_and_grace_lets_it_answer() -> None:
    gate = sluice.Gate("llm")

    async def handler() -> object:
        task = asyncio.create_task(gate.run(asyncio.sleep, 10))
        try:
            await task
        except sluice.DeadlineExceeded:
            return f"child gave up at {now()}"
        return "child finished"

    start = now()
    app = Deadlines(app_of(handler), grace=0.5)
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "1"})
    assert response.status_code == 200
    assert response.json()["result"] == f"child gave up at {start + 1.0}"
    assert gate.statistics().timeouts == 1
    assert app.statistics().timed_out == 0


async def test_grace_is_a_bounded_extension() -> None:
    start = now()
    async with client(Deadlines(app_of(lambda: asyncio.sleep(60)), grace=0.5)) as http:
        response = await http.get("/", headers={"x-request-timeout": "1"})
    assert response.status_code == 504
    assert now() - start == pytest.approx(1.5)


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf", "1e3", "", "2s", "9" * 40])
async def test_an_invalid_header_is_ignored_by_default(value: str) -> None:
    app = Deadlines(app_of(ok), default=7.0)
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": value})
    assert response.status_code == 200
    assert response.json()["remaining"] == pytest.approx(7.0)
    assert app.statistics().invalid == 1
    assert app.statistics().defaulted == 1


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-request-timeout", "-2"), ("grpc-timeout", "250"), ("grpc-timeout", "1x")],
)
async def test_an_invalid_header_is_a_400_when_asked(header: str, value: str) -> None:
    app = Deadlines(app_of(ok), invalid="reject")
    async with client(app) as http:
        response = await http.get("/", headers={header: value})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_timeout",
        "message": f"{header} must be a number of seconds > 0",
    }


async def test_a_huge_budget_is_clamped_to_max() -> None:
    app = Deadlines(app_of(ok), max=20.0)
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "99999999999999"})
    assert response.json()["remaining"] == pytest.approx(20.0)
    assert app.statistics().clamped == 1


async def test_the_default_applies_without_a_header_and_none_means_no_deadline() -> None:
    async with client(Deadlines(app_of(ok), default=3.0)) as http:
        assert (await http.get("/")).json()["remaining"] == pytest.approx(3.0)
    async with client(Deadlines(app_of(ok))) as http:
        assert (await http.get("/")).json()["remaining"] is None


async def test_an_earlier_enclosing_deadline_is_kept() -> None:
    token = DEADLINE.set(now() + 1.0)
    try:
        async with client(Deadlines(app_of(ok))) as http:
            response = await http.get("/", headers={"x-request-timeout": "5"})
    finally:
        DEADLINE.reset(token)
    assert response.json()["remaining"] == pytest.approx(1.0)


async def test_a_deadline_already_passed_answers_504_without_calling_the_app() -> None:
    called: list[bool] = []

    async def handler() -> None:
        called.append(True)

    token = DEADLINE.set(now())
    try:
        async with client(Deadlines(app_of(handler))) as http:
            response = await http.get("/", headers={"x-request-timeout": "5"})
    finally:
        DEADLINE.reset(token)
    assert response.status_code == 504
    assert called == []


def _streaming(pause: float) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first ", "more_body": True})
        await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    return app


async def test_a_started_response_finishes_by_default() -> None:
    app = Deadlines(_streaming(5.0))
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-timeout": "1"})
    assert response.status_code == 200
    assert response.text == "first second"
    assert app.statistics().timed_out == 0


async def test_a_started_response_is_cut_short_when_asked() -> None:
    app = Deadlines(_streaming(5.0), once_started="cancel")
    recorder = Recorder()
    start = now()
    await app(http_scope(headers=[(b"x-request-timeout", b"1")]), recorder.receive, recorder.send)
    assert now() - start == pytest.approx(1.0)
    assert [m.get("more_body") for m in recorder.sent[1:]] == [True]  # never completed
    assert app.statistics().cut_short == 1
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_handler_that_swallows_the_cancellation_still_gets_its_504() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        await reply(send, 200, "too late")

    recorder = Recorder()
    await Deadlines(app)(
        http_scope(headers=[(b"x-request-timeout", b"1")]), recorder.receive, recorder.send
    )
    assert recorder.status == 504
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_cancellation_from_outside_is_not_a_504() -> None:
    recorder = Recorder()
    app = Deadlines(app_of(lambda: asyncio.sleep(60)))
    task = asyncio.create_task(
        app(http_scope(headers=[(b"x-request-timeout", b"10")]), recorder.receive, recorder.send)
    )
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.sent == []


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
async def test_other_scopes_pass_through_untouched(kind: str) -> None:
    seen: list[Any] = []
    recorder = Recorder()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send, sluice.current_deadline()))

    scope = {"type": kind, "headers": [(b"x-request-timeout", b"1")]}
    middleware = Deadlines(app, default=5.0)
    await middleware(scope, recorder.receive, recorder.send)
    assert seen == [(scope, recorder.receive, recorder.send, None)]
    assert middleware.statistics().requests == 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max": 0}, "max"),
        ({"max": float("nan")}, "max"),
        ({"default": -1.0}, "default"),
        ({"default": 10.0, "max": 5.0}, "default"),
        ({"header": None, "grpc_header": None}, "default"),
        ({"header": ""}, "header"),
        ({"grpc_header": 3}, "grpc_header"),
        ({"invalid": "drop"}, "invalid"),
        ({"once_started": "abort"}, "once_started"),
        ({"grace": -1}, "grace"),
    ],
)
def test_bad_configuration_is_refused_by_name(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(sluice.ConfigError, match=rf"Deadlines\({named}="):
        Deadlines(app_of(ok), **kwargs)


def test_the_app_must_be_callable() -> None:
    with pytest.raises(sluice.ConfigError, match=r"Deadlines\(app="):
        Deadlines(None)  # type: ignore[arg-type]


@pytest.mark.realtime
async def test_on_a_real_loop() -> None:
    gate = sluice.Gate("llm")
    app = Deadlines(app_of(lambda: gate.run(asyncio.sleep, 10)))
    async with client(app) as http:
        response = await http.get("/", headers={"grpc-timeout": "50m"})
    assert response.status_code == 504
