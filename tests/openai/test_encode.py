"""Answers written in OpenAI's shapes, and read back by the decoders the client uses."""

from __future__ import annotations

import json

import pytest

from sluice.openai import (
    DONE,
    ChatDelta,
    Choice,
    ChunkEncoder,
    Model,
    ShapeError,
    SSEDecoder,
    Usage,
    decode_chat,
    decode_chunk,
    decode_embedding_base64,
    decode_embeddings,
    decode_models,
    encode_completion,
    encode_embedding_base64,
    encode_embeddings,
    encode_model,
    encode_models,
)


def completion_body(
    kind: str, id_: str, created: int, model: str, text: str, finish: str, prompt: int, done: int
) -> bytes:
    return encode_completion(
        kind,
        id=id_,
        created=created,
        model=model,
        text=text,
        finish_reason=finish,
        prompt_tokens=prompt,
        completion_tokens=done,
    )


def test_encoded_bodies_and_chunks_are_valid_json() -> None:
    body = json.loads(completion_body("chat", "c1", 7, "m", "Hi there", "stop", 5, 2))
    assert body["choices"][0]["message"]["content"] == "Hi there"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    for kind in ("chat", "completion"):
        chunks = ChunkEncoder(kind, "id-1", 7, 'model "quoted"')
        events = [
            chunks.content([b'"Hi"', b'" there"']),
            chunks.finish("length"),
            chunks.usage(5, 2),
        ]
        if kind == "chat":
            events.append(chunks.opening())
        for event in events:
            assert event.startswith(b"data: ")
            assert event.endswith(b"\n\n")
            payload = json.loads(event[6:])
            assert payload["model"] == 'model "quoted"'
    text = json.loads(ChunkEncoder("completion", "i", 1, "m").content([b'"a"', b'" b"'])[6:])
    assert text["choices"][0]["text"] == "a b"


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_a_whole_completion_reads_back(kind: str) -> None:
    body = encode_completion(
        kind,
        id="c1",
        created=7,
        model="m",
        text='Say "hi"\n',
        finish_reason="length",
        prompt_tokens=5,
        completion_tokens=2,
        system_fingerprint="fp_1",
    )
    data = json.loads(body)
    assert data["system_fingerprint"] == "fp_1"
    assert decode_chat(data) == ((Choice(0, 'Say "hi"\n', (), "length"),), Usage(5, 2, 7))


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_a_streamed_completion_reads_back(kind: str) -> None:
    chunks = ChunkEncoder(kind, "c1", 7, "m")
    pieces = [json.dumps(word).encode() for word in ("Hel", "lo", ' "you"')]
    stream = (
        chunks.opening()
        + chunks.content(pieces[:2])
        + chunks.content(pieces[2:])
        + chunks.finish("stop")
        + chunks.usage(4, 3)
        + b"data: [DONE]\n\n"
    )
    decoder = SSEDecoder()
    deltas: list[ChatDelta] = []
    for event in decoder.feed(stream):
        if event.data != DONE:
            deltas += decode_chunk(json.loads(event.data))
    assert "".join(delta.text for delta in deltas) == 'Hello "you"'
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert deltas[-1] == ChatDelta(text="", usage=Usage(4, 3, 7))
    if kind == "chat":
        assert deltas[0].role == "assistant"


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="kind must be 'chat' or 'completion'"):
        ChunkEncoder("edit", "c1", 7, "m")
    with pytest.raises(ValueError, match="kind must be 'chat' or 'completion'"):
        completion_body("edit", "c1", 7, "m", "", "stop", 0, 0)


def test_embeddings_read_back_in_both_encodings() -> None:
    vectors = [[0.5, -1.0, 0.25], [1.0, 0.0, 2.0]]
    for encoding in ("float", "base64"):
        body = encode_embeddings("e", vectors, prompt_tokens=3, encoding_format=encoding)
        assert decode_embeddings(json.loads(body)) == (tuple(vectors), Usage(3, 0, 3))
    with pytest.raises(ValueError, match="encoding_format must be"):
        encode_embeddings("e", vectors, prompt_tokens=3, encoding_format="hex")


def test_base64_embeddings_round_trip_and_bad_ones_are_named() -> None:
    assert decode_embedding_base64(encode_embedding_base64([1.5, -2.0])) == [1.5, -2.0]
    with pytest.raises(ShapeError, match="not valid base64"):
        decode_embedding_base64("not base64!")
    with pytest.raises(ShapeError, match="whole number of float32"):
        decode_embedding_base64("AAA=")


def test_models_read_back() -> None:
    models = (Model("m", owned_by="me", created=7), Model("e", owned_by="me", created=7))
    assert decode_models(json.loads(encode_models(models))) == (models, None)
    assert json.loads(encode_model(models[0])) == {
        "id": "m",
        "object": "model",
        "created": 7,
        "owned_by": "me",
    }


def test_tool_call_arguments_nested_beyond_the_stack_are_a_shape_error() -> None:
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    message = {"content": None, "tool_calls": [{"function": {"name": "f", "arguments": nested}}]}
    with pytest.raises(ShapeError, match="arguments nest too deeply"):
        decode_chat({"choices": [{"message": message}]})
