"""``ordered=True``: the output in input order, a bounded hold, failures that never block it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import sluice
import sluice.batch
from sluice.batch._journal import Journal
from sluice.batch._order import SPAN_PER_WINDOW, InputOrder
from sluice.llm import Client, MockResponse, MockTransport, Request
from sluice.sim import SimConfig, SimServer

from .files import chat_line, failed_entries, output_ids, write_chat_input, write_lines


def _slow_head(
    started_before_head: list[str], others_take: float = 0.0
) -> Callable[[Request], Awaitable[MockResponse]]:
    """A handler on which q0 takes 30 s and the others ``others_take``; the questions that
    start before q0's answer are added to ``started_before_head``."""
    head_done = asyncio.Event()

    async def handler(request: Request) -> MockResponse:
        text = request.json()["messages"][0]["content"]
        if text == "question 0":
            await asyncio.sleep(30)
            head_done.set()
        else:
            if not head_done.is_set():
                started_before_head.append(text)
            if others_take:
                await asyncio.sleep(others_take)
        return _reply(text)

    return handler


def _numbers(ids: list[str]) -> list[int]:
    return [int(custom_id[1:]) for custom_id in ids]


def _reply(text: str) -> MockResponse:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "sim-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }  # fmt: skip
    return MockResponse(200, json=body)


# ---------------------------------------------------------------- InputOrder on its own
def test_an_early_answer_is_held_until_the_head_settles() -> None:
    written: list[str] = []
    order = InputOrder(span=4)
    for name in ("a", "b", "c"):
        order.take(name)
    order.hold("c", lambda: written.append("c"))
    order.hold("b", lambda: written.append("b"))
    assert written == []
    assert order.held == 2
    order.hold("a", lambda: written.append("a"))
    assert written == ["a", "b", "c"]
    assert order.open == 0
    assert order.held_peak == 2


def test_a_failure_at_the_head_releases_what_follows() -> None:
    written: list[str] = []
    order = InputOrder(span=8)
    for name in ("a", "b", "c", "d"):
        order.take(name)
    order.skip(order.take())  # a malformed line: no name, settled at once
    order.hold("b", lambda: written.append("b"))
    order.hold("d", lambda: written.append("d"))
    order.give_up("a")  # failed: no line, and no wait for it
    assert written == ["b"]
    order.give_up("c")
    assert written == ["b", "d"]
    assert order.open == 0


async def test_room_waits_while_the_span_is_open() -> None:
    order = InputOrder(span=2)
    order.take("a")
    order.take("b")
    waiter = asyncio.create_task(order.room())
    await asyncio.sleep(1)
    assert not waiter.done()
    order.hold("b", lambda: None)
    await asyncio.sleep(1)
    assert not waiter.done()  # b is held behind a: still two open
    order.give_up("a")
    await asyncio.wait_for(waiter, 1)
    assert order.open == 0


async def test_wake_and_flush_end_the_wait_and_keep_what_is_held() -> None:
    written: list[str] = []
    order = InputOrder(span=3)
    for name in ("a", "b", "c"):
        order.take(name)
    order.hold("c", lambda: written.append("c"))
    order.hold("b", lambda: written.append("b"))
    waiter = asyncio.create_task(order.room())
    order.wake()
    await asyncio.wait_for(waiter, 1)
    order.flush()
    assert written == ["b", "c"]
    order.hold("a", lambda: written.append("a"))  # after a flush: written at once
    assert written == ["b", "c", "a"]


def test_a_span_below_one_is_refused() -> None:
    with pytest.raises(sluice.ConfigError, match="at least 1"):
        InputOrder(span=0)


# ---------------------------------------------------------------- a run with a slow head
async def test_a_slow_head_holds_at_most_the_span(tmp_path: Path) -> None:
    """q0 takes 30 s, the others 10 ms: with a window of 2 the run takes 4 * 2 requests at
    most (q0 included) before q0's answer comes; then everything goes out in order."""
    count, window = 30, 2
    started_before_head: list[str] = []
    handler = _slow_head(started_before_head, others_take=0.01)
    source = write_chat_input(tmp_path / "in.jsonl", count)
    out = tmp_path / "out.jsonl"
    async with Client("http://test/v1", transport=MockTransport(handler)) as client:
        result = await sluice.batch.run(source, out, client=client, window=window, ordered=True)
    assert result.succeeded
    assert len(started_before_head) == SPAN_PER_WINDOW * window - 1
    assert _numbers(output_ids(out)) == list(range(count))


async def test_failures_do_not_block_the_order(tmp_path: Path) -> None:
    async def handler(request: Request) -> MockResponse:
        number = int(request.json()["messages"][0]["content"].split()[1])
        await asyncio.sleep(0.5 if number % 3 == 0 else 0.01 * (20 - number % 20))
        if number % 5 == 0:
            return MockResponse(400, json={"error": {"message": "bad", "type": "invalid"}})
        return _reply(str(number))

    source = write_chat_input(tmp_path / "in.jsonl", 40)
    with open(source, "a") as file:
        file.write("{broken\n")
    write_lines(tmp_path / "more.jsonl", [chat_line("q40", "question 40")])
    with open(source, "a") as file:
        file.write((tmp_path / "more.jsonl").read_text())
    out = tmp_path / "out.jsonl"
    async with Client("http://test/v1", transport=MockTransport(handler)) as client:
        result = await sluice.batch.run(source, out, client=client, window=4, ordered=True)
    answered = [n for n in range(41) if n % 5]
    assert _numbers(output_ids(out)) == answered
    assert result.failed == 9
    assert result.malformed == 1
    assert sorted(e["custom_id"] or "" for e in failed_entries(result.failed_path))[1:] == sorted(
        f"q{n}" for n in range(41) if n % 5 == 0
    )


# ---------------------------------------------------------------- against the simulator
@pytest.mark.realtime
async def test_ordered_output_follows_the_input_and_resumes_in_order(tmp_path: Path) -> None:
    count = 120
    source = write_chat_input(tmp_path / "in.jsonl", count, distinct=100)  # 20 repeated bodies
    config = SimConfig(ttft=0.01, itl=0.004, jitter="lognormal", jitter_cv=1.5, seed=5)
    loose, ordered = tmp_path / "loose.jsonl", tmp_path / "ordered.jsonl"
    async with SimServer(config) as sim:
        await sluice.batch.run(source, loose, base_url=sim.base_url, concurrency=8)
        # Stopped after ten answers, then resumed: each run appends in input order.
        event = asyncio.Event()

        def stop_after_ten(progress: sluice.batch.Progress) -> None:
            if progress.done >= 10:
                event.set()

        first = await sluice.batch.run(
            source, ordered, base_url=sim.base_url, concurrency=8, ordered=True,
            stop_event=event, progress=stop_after_ten, progress_every=0.005,
        )  # fmt: skip
        written = _numbers(output_ids(ordered))
        second = await sluice.batch.run(
            source, ordered, base_url=sim.base_url, concurrency=8, ordered=True
        )
    assert _numbers(output_ids(loose)) != list(range(count))  # the check below can fail
    assert first.stopped == "interrupted"
    assert 10 <= len(written) < count
    assert written == sorted(written)
    rest = _numbers(output_ids(ordered))[len(written) :]
    assert rest == sorted(rest)
    assert sorted(written + rest) == list(range(count))
    assert second.succeeded
    lines = [json.loads(line) for line in ordered.read_text().splitlines()]
    assert all(line["response"]["status_code"] == 200 for line in lines)


async def test_a_hard_stop_writes_what_is_held(tmp_path: Path) -> None:
    """The run cancelled while q0 hangs (a second Ctrl-C): the answers held behind q0 were
    paid for, so they are written, in order, and journaled; q0 is left for the next run."""

    async def handler(request: Request) -> MockResponse:
        text = request.json()["messages"][0]["content"]
        await asyncio.sleep(300 if text == "question 0" else 0.01)
        return _reply(text)

    source = write_chat_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    async with Client("http://test/v1", transport=MockTransport(handler)) as client:
        run = asyncio.create_task(
            sluice.batch.run(source, out, client=client, window=2, ordered=True)
        )
        await asyncio.sleep(5)
        assert output_ids(out) == []  # everything is held behind q0
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    held = SPAN_PER_WINDOW * 2 - 1
    assert _numbers(output_ids(out)) == list(range(1, 1 + held))
    journal = Journal(Path(f"{out}.journal.sqlite")).load()
    assert journal.done == {f"q{n}" for n in range(1, 1 + held)}


async def test_the_hold_can_be_set(tmp_path: Path) -> None:
    started: list[str] = []
    handler = _slow_head(started)
    source = write_chat_input(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    async with Client("http://test/v1", transport=MockTransport(handler)) as client:
        await sluice.batch.run(source, out, client=client, window=8, ordered=True, ordered_hold=3)
    assert len(started) == 2
    assert _numbers(output_ids(out)) == list(range(10))
    with pytest.raises(sluice.ConfigError, match="ordered_hold must be an int >= 1"):
        await sluice.batch.run(source, out, client=client, ordered=True, ordered_hold=0)
