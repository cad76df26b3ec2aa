"""One client, several loops and threads: calls from anywhere run on the loop that owns the
client; a blocking call inside a running loop is refused or warned about; a pool whose loop
ended is not dropped silently."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import Client, MockResponse, MockTransport
from sluice.sim import SimConfig, SimServer

from .fakes import BASE, MESSAGES, completion

pytestmark = pytest.mark.realtime


class Recorder:
    """Answers every request, noting the loop and thread each one ran on."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.threads: set[int] = set()
        self.cancelled = 0

    async def __call__(self, request: llm.Request) -> MockResponse:
        self.loops.append(asyncio.get_running_loop())
        self.threads.add(threading.get_ident())
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if request.url.endswith("/embeddings"):
            return MockResponse(json={"data": [{"index": 0, "embedding": [1.0]}]})
        if (request.json() or {}).get("stream"):
            return MockResponse.sse([{"choices": [{"index": 0, "delta": {"content": "yo"}}]}])
        return MockResponse(json=completion("hi"))


def client_with(recorder: Recorder, **settings: Any) -> Client:
    return Client(BASE, transport=MockTransport(recorder), **settings)


async def every_async_call(client: Client) -> list[str]:
    texts = [(await client.chat(model="m", messages=MESSAGES)).text]
    async with client.stream_chat(model="m", messages=MESSAGES) as stream:
        texts += [delta.text async for delta in stream]
    texts += [r.text for r in await client.chat_many([{"messages": MESSAGES}] * 3, model="m")]
    async with client.chat_iter([{"messages": MESSAGES}] * 2, model="m") as results:
        texts += [outcome.value.text async for _, outcome in results]
    await client.embed(model="e", input="x")
    return texts


def test_a_client_used_from_sync_code_first_serves_async_code_on_another_loop() -> None:
    recorder = Recorder()
    client = client_with(recorder)
    assert client.chat_sync(model="m", messages=MESSAGES).text == "hi"  # sluice's loop owns it
    texts = asyncio.run(every_async_call(client))  # a loop of its own: forwarded
    texts += asyncio.run(every_async_call(client))  # and another one
    client.close()
    assert texts == ["hi", "yo", "hi", "hi", "hi", "hi", "hi"] * 2
    assert len(set(recorder.loops)) == 1  # every request ran on the owning loop
    assert client.statistics().gate.calls_started == 1 + 2 * 8


async def test_an_async_client_serves_sync_callers_in_other_threads() -> None:
    recorder = Recorder(delay=0.01)
    client = client_with(recorder)
    async with client:
        await client.chat(model="m", messages=MESSAGES)  # this loop owns it

        def sync_work() -> list[str]:
            texts = [client.chat_sync(model="m", messages=MESSAGES).text]
            with client.stream_chat_sync(model="m", messages=MESSAGES) as deltas:
                texts += [delta.text for delta in deltas]
            many = client.chat_many_sync([{"messages": MESSAGES}] * 4, model="m")
            texts += [result.text for result in many]
            texts += [str(len(client.embed_many_sync([{"input": "a"}], model="e")))]
            return texts

        results = await asyncio.gather(*(asyncio.to_thread(sync_work) for _ in range(3)))
        stats = client.statistics()
    assert results == [["hi", "yo", "hi", "hi", "hi", "hi", "1"]] * 3
    assert set(recorder.loops) == {asyncio.get_running_loop()}
    assert stats.gate.calls_started == 1 + 3 * 7


async def test_cancelling_a_forwarded_call_cancels_it_where_it_runs() -> None:
    recorder = Recorder()
    client = client_with(recorder)
    await asyncio.to_thread(client.chat_sync, model="m", messages=MESSAGES)  # sluice's loop
    recorder.delay = 30.0
    task = asyncio.create_task(client.chat(model="m", messages=MESSAGES))
    async with asyncio.timeout(5):
        while len(recorder.loops) < 2:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        while not recorder.cancelled:
            await asyncio.sleep(0.01)
    await client.aclose()
    assert recorder.loops[0] is recorder.loops[1] is not asyncio.get_running_loop()
    assert recorder.cancelled == 1


async def test_a_sync_call_inside_a_running_loop_warns_and_on_the_owner_is_refused() -> None:
    client = client_with(Recorder())
    with pytest.warns(llm.BlockingCallWarning, match=r"await client\.chat\(\.\.\.\)"):
        assert client.chat_sync(model="m", messages=MESSAGES).text == "hi"
    await client.aclose()
    owned = client_with(Recorder())
    async with owned:
        await owned.chat(model="m", messages=MESSAGES)
        for call in (
            lambda: owned.chat_sync(model="m", messages=MESSAGES),
            lambda: owned.stream_chat_sync(model="m", messages=MESSAGES),
            lambda: owned.embed_sync(model="e", input="x"),
            lambda: owned.models_sync(),
            lambda: owned.chat_many_sync([]),
        ):
            with pytest.raises(RuntimeError, match="on the event loop that runs this client"):
                call()


def test_a_stopped_owner_is_named_and_an_ended_one_is_taken_over() -> None:
    recorder = Recorder()
    client = client_with(recorder)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(client.chat(model="m", messages=MESSAGES))
        with pytest.raises(RuntimeError, match=r"owns this sluice\.llm\.Client is not running"):
            client.chat_sync(model="m", messages=MESSAGES)
    finally:
        loop.close()
    assert client.chat_sync(model="m", messages=MESSAGES).text == "hi"  # sluice's loop now
    client.close()
    assert recorder.loops[0] is loop
    assert recorder.loops[1] is not loop


@pytest.fixture
def sim_url() -> Iterator[str]:
    """The simulator, on sluice's background loop (so plain sync code can reach it)."""
    sim = SimServer(SimConfig())
    sluice.run_sync(sim.__aenter__)
    try:
        yield sim.base_url
    finally:
        sluice.run_sync(sim.__aexit__, None, None, None)


def test_a_pool_left_open_is_closed_when_asyncio_run_ends_its_loop(sim_url: str) -> None:
    client = Client(sim_url, api_key="sk-test")
    transport = client._transport  # the pool is what is checked here

    async def use() -> None:  # and forget to close the client
        await client.chat(model="sim-model", messages=MESSAGES, max_tokens=2)
        assert "open" in repr(transport)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all: nothing leaked
        asyncio.run(use())
        assert "idle" in repr(transport)  # closed on that loop, as it ended
        asyncio.run(use())  # the next loop takes the client over
        client.close()
    assert "closed" in repr(transport)


def test_a_pool_whose_loop_was_closed_without_shutdown_is_dropped_with_a_warning(
    sim_url: str,
) -> None:
    client = Client(sim_url, api_key="sk-test")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(client.chat(model="sim-model", messages=MESSAGES, max_tokens=2))
    loop.close()  # without loop.shutdown_asyncgens(): the pool could not be closed with it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.close()
        gc.collect()  # its sockets close when collected: here, not in another test
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert any("could not be closed cleanly" in m for m in messages), messages
    assert client.closed
