"""Hostile request bodies: every one is refused with a 4xx in OpenAI's error shape, never an
unexpected exception (which the server would turn into a plain-text 500)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.sim import SimConfig
from sluice.sim._body import decode_json, read_body
from sluice.sim._checks import check_request
from sluice.sim._protocol import RequestError, parse_request

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _refusal(raw: bytes, kind: str = "chat") -> RequestError:
    with pytest.raises(RequestError) as info:
        parse_request(kind, raw)
    error = info.value
    assert 400 <= error.status < 500
    assert set(json.loads(error.body())["error"]) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"model": "m", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
        (b'{"model": "\xff"}', "not UTF-8 text (byte 11)"),
        # A surrogate written as UTF-8 bytes: Python's json.loads(bytes) would let it through.
        (b'{"model": "\xed\xa0\x80"}', "not UTF-8 text"),
        ('{"model": "m"}'.encode("utf-16"), "not UTF-8 text"),
        (b'{"model": "m",}', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"max_tokens": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b"[1]", "must be a JSON object, got an array"),
        (b"null", "must be a JSON object, got null"),
    ],
)
def test_undecodable_bodies_are_400(raw: bytes, message: str) -> None:
    error = _refusal(raw)
    assert error.status == 400
    assert message in error.message


@pytest.mark.parametrize(
    "body",
    [
        {**CHAT, "messages": [{"role": "user", "content": "\ud800"}]},
        {**CHAT, "messages": [{"role": "user", "content": [{"type": "text", "text": "a\udfff"}]}]},
        {**CHAT, "tools": [{"deep": [[["\udc00"]]]}]},  # a field the simulator ignores
        {**CHAT, "\ud83d": 1},  # a key
        {"model": "e", "input": ["ok", "\ud800"]},
    ],
)
def test_lone_surrogates_are_400_wherever_they_are(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \\udxxx
    assert b"\\ud" in raw
    kind = "embedding" if "input" in body else "chat"
    assert "lone UTF-16 surrogate" in _refusal(raw, kind).message


def test_surrogate_pairs_and_non_ascii_text_are_fine() -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "caf\u00e9 \U0001f600"}]}
    for raw in (json.dumps(body).encode(), json.dumps(body, ensure_ascii=False).encode()):
        assert decode_json(raw)["messages"][0]["content"] == "caf\u00e9 \U0001f600"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**CHAT, "messages": [{"role": ["user"]}]}, "role must be one of"),
        ({**CHAT, "messages": [{"role": {"a": 1}}]}, "role must be one of"),
        (
            {**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "image parts need an object with a string 'url'",
        ),
        (
            {
                **CHAT,
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}
                ],
            },
            "image parts need an object with a string 'url'",
        ),
        (
            {**CHAT, "stream": True, "stream_options": {"include_usage": "yes"}},
            "include_usage must be a boolean",
        ),
        ({**CHAT, "max_tokens": [1] * 10_000}, "max_tokens must be an integer"),
        ({**CHAT, "n": {"a": 1}}, "only n=1"),
    ],
)
def test_wrong_types_are_400(body: dict[str, Any], message: str) -> None:
    assert message in _refusal(json.dumps(body).encode()).message


def test_an_error_quotes_a_huge_value_briefly() -> None:
    error = _refusal(json.dumps({**CHAT, "stream": "x" * 1_000_000}).encode())
    assert "stream must be a boolean" in error.message
    assert len(error.body()) < 300


def test_token_counting_stops_past_the_limit() -> None:
    text = "word " * 200_000
    body = json.dumps({**CHAT, "messages": [{"role": "user", "content": text}]}).encode()
    limited = parse_request("chat", body, token_limit=100)
    assert 100 < limited.prompt_tokens <= 110  # counted just past the limit, not 200 000
    assert parse_request("chat", body).prompt_tokens == 3 + 3 + 200_000
    with pytest.raises(RequestError, match="more than 100 tokens") as info:
        check_request(limited, SimConfig(context_length=100))
    assert info.value.code == "context_length_exceeded"
    short = parse_request("chat", json.dumps(CHAT).encode(), token_limit=100)
    assert short.prompt_tokens == 7  # exact within the limit


def test_each_embedding_input_is_counted_against_the_limit() -> None:
    body = json.dumps({"model": "e", "input": ["a b c", "x " * 50_000]}).encode()
    inference = parse_request("embedding", body, token_limit=10)
    assert inference.inputs[0][1] == 3
    with pytest.raises(RequestError, match="more than 10 tokens in an input"):
        check_request(inference, SimConfig(context_length=10))


# Any JSON at all, surrogates included, in any field of a plausible body.
_TEXT = st.text(st.characters(blacklist_categories=()), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_FIELDS = (
    "model",
    "messages",
    "prompt",
    "input",
    "stream",
    "stream_options",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "dimensions",
    "encoding_format",
)
_MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "system"]) | _JSON,
        "content": _JSON
        | st.lists(st.dictionaries(st.sampled_from(["type", "text", "image_url"]), _JSON)),
        "name": _JSON,
    },
)
_BODY = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(_FIELDS, _JSON),
        "model": st.just("m") | _JSON,
        "messages": st.lists(_MESSAGE | _JSON, max_size=3) | _JSON,
        "input": st.lists(_TEXT | _JSON, max_size=3) | _JSON,
    },
)


def _refusal_or_none(kind: str, raw: bytes) -> RequestError | None:
    try:
        inference = parse_request(kind, raw, token_limit=50)
        check_request(inference, SimConfig(context_length=50))
    except RequestError as error:
        return error
    return None


@settings(max_examples=400, deadline=None)
@given(body=_BODY | _JSON, kind=st.sampled_from(["chat", "completion", "embedding"]))
def test_any_json_is_parsed_or_refused_with_a_request_error(body: object, kind: str) -> None:
    error = _refusal_or_none(kind, json.dumps(body).encode())
    if error is not None:
        assert 400 <= error.status < 500
        assert json.loads(error.body())["error"]["message"]


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_are_parsed_or_refused_with_a_request_error(raw: bytes) -> None:
    error = _refusal_or_none("chat", raw)
    if error is not None:
        assert error.status == 400


def _receiver(messages: list[dict[str, Any]]) -> Any:
    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that stops sending
        return {"type": "http.disconnect"}

    return receive


def _scope(length: int | None = None) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", b"%d" % length)]
    return {"headers": headers}


async def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]
    with pytest.raises(RequestError) as info:
        await read_body(_scope(10**12), _receiver(messages), max_bytes=1024, time_limit=5)
    assert (info.value.status, info.value.code) == (413, "request_too_large")
    assert "max_body_bytes" in info.value.message
    assert info.value.headers() == [(b"connection", b"close")]
    assert messages, "nothing was read"


async def test_a_body_growing_past_the_limit_is_413() -> None:
    chunk = {"type": "http.request", "body": b"x" * 600, "more_body": True}
    with pytest.raises(RequestError) as info:
        await read_body(_scope(), _receiver([chunk, dict(chunk)]), max_bytes=1024, time_limit=5)
    assert info.value.status == 413
    single = [{"type": "http.request", "body": b"x" * 2000, "more_body": False}]
    with pytest.raises(RequestError):
        await read_body(_scope(), _receiver(single), max_bytes=1024, time_limit=5)


async def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = [{"type": "http.request", "body": b"{", "more_body": True}]
    with pytest.raises(RequestError) as info:
        await read_body(_scope(100), _receiver(first), max_bytes=1024, time_limit=2.5)
    assert (info.value.status, info.value.code) == (408, "request_timeout")
    assert "body_timeout" in info.value.message
    assert loop.time() - started == pytest.approx(2.5)  # virtual time


async def test_a_body_in_pieces_is_joined_and_a_departed_client_is_none() -> None:
    pieces = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b" 1}", "more_body": False},
    ]
    assert await read_body(_scope(), _receiver(pieces), max_bytes=1024, time_limit=5) == (
        b'{"a": 1}'
    )
    gone = [{"type": "http.disconnect"}]
    assert await read_body(_scope(), _receiver(gone), max_bytes=1024, time_limit=5) is None
