"""The ASGI app driven in-process on virtual time: exact emission instants, queueing, hangs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from sluice.sim import SimConfig
from sluice.sim._app import SimApp, _request_headers


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


async def test_posts_to_unknown_paths_share_one_metrics_label() -> None:
    app = make_app()
    for i in range(50):
        reply = await call(app, f"/v1/random-{i}", {})
        assert reply.status == 404
        assert reply.json()["error"]["code"] == "not_found"  # type: ignore[index]
    assert (await call(app, "/v1/models/sim-model", {})).status == 405
    assert dict(app.snapshot().requests) == {("other", 404): 50, ("/v1/models/{id}", 405): 1}


async def test_embedding_answers_are_bounded_by_max_embedding_values() -> None:
    app = make_app(max_embedding_values=4096, embedding_dim=256)
    asked = {"model": "sim-embedding", "input": ["a"] * 2048, "dimensions": 8192}
    reply = await call(app, "/v1/embeddings", asked)
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["param"] == "dimensions"  # type: ignore[index]
    assert error["code"] == "embedding_too_large"  # type: ignore[index]
    message = error["message"]  # type: ignore[index]
    assert "2048 embeddings of 8192 dimensions (16777216 numbers)" in message
    assert "at most 4096" in message
    assert "max_embedding_values" in message
    # At the default size, the number of inputs is what counts.
    reply = await call(app, "/v1/embeddings", {"model": "e", "input": ["a"] * 17})
    assert reply.status == 400
    assert reply.json()["error"]["param"] == "input"  # type: ignore[index]
    exactly = await call(app, "/v1/embeddings", {"model": "e", "input": ["a"] * 16})
    assert exactly.status == 200
    assert len(exactly.json()["data"]) == 16  # type: ignore[arg-type]


async def test_an_oversized_body_is_413_and_the_connection_is_closed() -> None:
    app = make_app(max_body_bytes=2048)
    reply = await call(app, "/v1/chat/completions", chat(padding="x" * 4096))
    assert reply.status == 413
    assert reply.headers[b"connection"] == b"close"
    assert reply.json()["error"]["code"] == "request_too_large"  # type: ignore[index]
    assert (await call(app, "/v1/chat/completions", chat(padding="x" * 1000))).status == 200


async def test_a_body_that_stops_arriving_is_408_after_body_timeout() -> None:
    app = make_app(body_timeout=3.0)
    loop = asyncio.get_running_loop()
    pending = [{"type": "http.request", "body": b'{"model":', "more_body": True}]
    sent: list[dict[str, object]] = []
    never = loop.create_future()

    async def receive() -> dict[str, object]:
        if pending:
            return pending.pop()
        await never
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert loop.time() == pytest.approx(3.0)  # virtual time
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]  # type: ignore[operator]
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"  # type: ignore[arg-type]


async def test_a_defect_while_reading_a_request_is_a_json_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a defect")

    monkeypatch.setattr("sluice.sim._app.parse_request", broken)
    reply = await call(make_app(), "/v1/chat/completions", chat())
    assert reply.status == 500
    assert reply.headers[b"content-type"] == b"application/json"
    assert reply.json()["error"]["type"] == "server_error"  # type: ignore[index]


def test_long_api_keys_are_kept_as_digests() -> None:
    def key(token: bytes) -> str:
        return _request_headers({"headers": [(b"authorization", b"Bearer " + token)]})[0]

    assert key(b"sk-short") == "sk-short"
    long_a, long_b = key(b"a" * 100_000), key(b"a" * 99_999 + b"b")
    assert long_a != long_b
    assert long_a == key(b"a" * 100_000)
    assert len(long_a) < 100
