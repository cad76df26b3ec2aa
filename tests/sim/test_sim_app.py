"""The ASGI app driven in-process on virtual time: exact emission instants, queueing, hangs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from sluice.sim import SimConfig
from sluice.sim._app import SimApp


@dataclass
class Reply:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    parts: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.parts)

    def json(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]


async def call(
    app: SimApp, path: str, body: object = None, headers: dict[str, str] | None = None
) -> Reply:
    """One request through the app, recording when each body part was sent."""
    loop = asyncio.get_running_loop()
    raw = json.dumps(body).encode() if body is not None else b""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    finished = asyncio.Event()
    reply = Reply()

    async def receive() -> dict[str, object]:
        if pending:
            return pending.pop()
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]  # type: ignore[assignment]
            reply.headers = dict(message["headers"])  # type: ignore[arg-type]
        else:
            reply.parts.append((loop.time(), message.get("body", b"")))  # type: ignore[arg-type]
            if not message.get("more_body"):
                finished.set()

    scope = {
        "type": "http",
        "method": "POST" if body is not None else "GET",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return reply


def make_app(**settings: object) -> SimApp:
    return SimApp(SimConfig(**settings), clock=asyncio.get_running_loop().time)  # type: ignore[arg-type]


def chat(**extra: object) -> dict[str, object]:
    return {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], **extra}


async def test_stream_chunks_leave_on_the_absolute_schedule() -> None:
    app = make_app(ttft=0.5, itl=0.1, output_tokens=5)
    reply = await call(app, "/v1/chat/completions", chat(stream=True))
    assert reply.status == 200
    times = [t for t, data in reply.parts if b'"content":"' in data]
    assert times == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert reply.parts[-1][1].endswith(b"data: [DONE]\n\n")
    assert app.snapshot().lateness_count == 5
    assert app.snapshot().lateness_max == pytest.approx(0.0, abs=1e-9)


async def test_chunks_of_several_tokens_leave_with_their_last_token() -> None:
    app = make_app(ttft=1.0, itl=0.1, output_tokens=5, tokens_per_chunk=2)
    reply = await call(app, "/v1/chat/completions", chat(stream=True))
    times = [t for t, data in reply.parts if b'"content":"' in data]
    assert times == pytest.approx([1.1, 1.3, 1.4])


async def test_whole_answer_arrives_after_ttft_plus_decode() -> None:
    app = make_app(ttft=0.2, prefill_per_token=0.01, itl=0.05, output_tokens=11)
    reply = await call(app, "/v1/chat/completions", chat())
    prompt_tokens = 7
    assert reply.parts[0][0] == pytest.approx(0.2 + 0.01 * prompt_tokens + 0.05 * 10)
    assert reply.json()["usage"] == {  # type: ignore[comparison-overlap]
        "prompt_tokens": 7,
        "completion_tokens": 11,
        "total_tokens": 18,
    }


async def test_queue_wait_adds_to_time_to_first_token() -> None:
    app = make_app(ttft=1.0, max_concurrency=1, max_queue=5)
    replies = await asyncio.gather(
        *(call(app, "/v1/completions", {"model": "m", "prompt": "x"}) for _ in range(3))
    )
    assert [r.parts[0][0] for r in replies] == pytest.approx([1.0, 2.0, 3.0])
    snapshot = app.snapshot()
    assert snapshot.peak_active == 1
    assert snapshot.active == snapshot.queued == 0


async def test_load_factor_slows_a_full_batch() -> None:
    app = make_app(ttft=1.0, max_concurrency=3, load_factor=2.0)
    replies = await asyncio.gather(
        *(call(app, "/v1/completions", {"model": "m", "prompt": "x"}) for _ in range(3))
    )
    # TTFT is drawn at admission: one, two, then three requests active.
    assert sorted(r.parts[0][0] for r in replies) == pytest.approx([1.0, 1.5, 2.0])


async def test_hang_is_bounded_by_max_hang() -> None:
    app = make_app(max_hang=300.0)
    reply = await call(app, "/v1/chat/completions", chat(), {"x-sim-fault": "hang"})
    assert reply.status == 200
    assert reply.parts[0][0] == pytest.approx(300.0)


async def test_stall_pauses_mid_stream_then_resumes() -> None:
    app = make_app(itl=1.0, output_tokens=4, max_hang=60.0)
    reply = await call(app, "/v1/chat/completions", chat(stream=True), {"x-sim-fault": "stall"})
    times = [t for t, data in reply.parts if b'"content":"' in data]
    assert times == pytest.approx([0.0, 1.0, 62.0, 63.0])
    assert reply.body.endswith(b"data: [DONE]\n\n")


async def test_close_ends_hangs_with_503() -> None:
    app = make_app(max_hang=300.0)
    task = asyncio.create_task(call(app, "/v1/chat/completions", chat(), {"x-sim-fault": "hang"}))
    await asyncio.sleep(1.0)
    app.close()
    reply = await task
    assert reply.status == 503
    assert reply.parts[0][0] == pytest.approx(1.0)
    after = await call(app, "/v1/chat/completions", chat())
    assert after.status == 503


async def test_unknown_path_and_wrong_method() -> None:
    app = make_app()
    assert (await call(app, "/v1/nothing")).status == 404
    assert (await call(app, "/v1/chat/completions")).status == 405
    assert (await call(app, "/healthz", {})).status == 405
    # A base URL without /v1 reaches the same endpoints.
    assert (await call(app, "/chat/completions", chat())).status == 200
