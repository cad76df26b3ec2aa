"""The official openai SDK, unchanged, against the simulator."""

from __future__ import annotations

import openai
import pytest

from sluice.sim import SimConfig, SimServer, count_tokens

pytestmark = pytest.mark.realtime

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "Name three rivers."}]},
]


async def test_openai_sdk_chat_stream_embeddings_models() -> None:
    config = SimConfig(itl=0.001, output_tokens=8, rpm=1000, embedding_dim=32)
    async with SimServer(config) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        async with client:
            reply = await client.chat.completions.create(model="sim-model", messages=MESSAGES)
            content = reply.choices[0].message.content or ""
            assert reply.usage is not None
            assert reply.usage.completion_tokens == count_tokens(content) == 8
            assert reply.choices[0].finish_reason == "stop"

            raw = await client.chat.completions.with_raw_response.create(
                model="sim-model", messages=MESSAGES, max_tokens=3
            )
            assert raw.headers["x-ratelimit-limit-requests"] == "1000"
            assert raw.parse().choices[0].finish_reason == "length"

            stream = await client.chat.completions.create(
                model="sim-model",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces: list[str] = []
            usage = None
            async for chunk in stream:
                if chunk.choices:
                    pieces.append(chunk.choices[0].delta.content or "")
                if chunk.usage is not None:
                    usage = chunk.usage
            assert "".join(pieces) == content
            assert usage is not None
            assert usage.completion_tokens == 8
            assert usage.prompt_tokens == reply.usage.prompt_tokens

            embeddings = await client.embeddings.create(model="sim-embedding", input=["a", "b c"])
            assert [len(d.embedding) for d in embeddings.data] == [32, 32]
            assert embeddings.usage.prompt_tokens == 3
            floats = await client.embeddings.create(
                model="sim-embedding", input="a", encoding_format="float"
            )
            assert floats.data[0].embedding == pytest.approx(embeddings.data[0].embedding, rel=1e-6)

            models = [m.id async for m in client.models.list()]
            assert models == ["sim-model", "sim-embedding"]

            completion = await client.completions.create(model="sim-model", prompt="Once")
            assert completion.choices[0].text


async def test_openai_sdk_sees_faults_as_its_own_errors() -> None:
    async with SimServer(SimConfig(context_length=10)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        async with client:
            with pytest.raises(openai.RateLimitError) as limited:
                await client.chat.completions.create(
                    model="sim-model",
                    messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"x-sim-fault": "429"},
                )
            assert limited.value.response.headers["retry-after"] == "1"
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(
                    model="sim-model",
                    messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"x-sim-fault": "500"},
                )
            with pytest.raises(openai.BadRequestError) as too_long:
                await client.chat.completions.create(
                    model="sim-model", messages=[{"role": "user", "content": "word " * 20}]
                )
            assert too_long.value.code == "context_length_exceeded"
