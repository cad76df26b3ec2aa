"""Token estimates: any shape of content, tiktoken optional and never fatal."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.llm import _tokens, estimate_tokens, estimate_tokens_by_chars


@pytest.fixture
def loader() -> Iterator[_tokens._TiktokenLoader]:
    """The process-wide tiktoken loader, reset around the test."""
    yield _tokens._tiktoken
    thread = _tokens._tiktoken.thread
    if thread is not None:
        thread.join(5)
    _tokens._tiktoken.reset(_tokens._load_tiktoken)


def test_plain_chat() -> None:
    body = {"messages": [{"role": "user", "content": "Hello there!"}], "max_tokens": 50}
    assert estimate_tokens_by_chars(body) == 12 / 4 + 4 + 50


def test_max_completion_tokens_wins_and_n_multiplies() -> None:
    body = {"messages": [], "max_tokens": 10, "max_completion_tokens": 30, "n": 2}
    assert estimate_tokens_by_chars(body) == 60


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        42,
        3.5,
        True,
        [],
        [{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {"url": "x" * 9999}}],
        [{"type": "input_audio", "input_audio": {"data": "AAAA" * 5000, "format": "wav"}}],
        [{"type": "unknown", "payload": {"deep": [["abcd"]]}}],
        {"weird": object()},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
        b"bytes",
    ],
)
def test_odd_content_never_crashes(content: Any) -> None:
    body = {"messages": [{"role": "user", "content": content}, "not a message", None]}
    assert estimate_tokens_by_chars(body) >= 0
    assert estimate_tokens(body) >= 0


def test_images_count_flat_not_by_payload_size() -> None:
    small = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
        ]
    }
    big = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x" * 10**6}}]}
        ]
    }
    assert estimate_tokens_by_chars(small) == estimate_tokens_by_chars(big) == 4 + 765


def test_tool_calls_and_tools_count() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"x": 1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
    }
    assert estimate_tokens_by_chars(body) > 8


def test_embedding_inputs() -> None:
    assert estimate_tokens_by_chars({"input": "abcdefgh"}) == 2
    assert estimate_tokens_by_chars({"input": ["abcd", "abcd"]}) == 2
    assert estimate_tokens_by_chars({"input": [1, 2, 3]}) == 3
    assert estimate_tokens_by_chars({"input": [[1, 2], [3]]}) == 3


def test_bad_limits_are_ignored() -> None:
    assert estimate_tokens_by_chars({"max_tokens": "many", "n": "two"}) == 0
    assert estimate_tokens_by_chars({"max_tokens": -5}) == 0
    assert estimate_tokens_by_chars({"max_tokens": True}) == 0


def test_missing_tiktoken_falls_back(
    monkeypatch: pytest.MonkeyPatch, loader: _tokens._TiktokenLoader
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import raises ImportError
    loader.reset(_tokens._load_tiktoken)
    body = {"messages": [{"role": "user", "content": "abcdefgh"}]}
    assert estimate_tokens(body) == estimate_tokens_by_chars(body)
    assert loader.thread is not None
    loader.thread.join(5)
    assert loader.counter() is None
    assert estimate_tokens(body) == estimate_tokens_by_chars(body)


def test_broken_tiktoken_falls_back(
    monkeypatch: pytest.MonkeyPatch, loader: _tokens._TiktokenLoader
) -> None:
    fake = types.ModuleType("tiktoken")

    def get_encoding(name: str) -> object:
        raise OSError("no network, no cached encoding")

    fake.get_encoding = get_encoding  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setattr(_tokens, "_encoding_is_cached", lambda: True)
    loader.reset(_tokens._load_tiktoken)
    loader.counter()
    assert loader.thread is not None
    loader.thread.join(5)
    assert loader.counter() is None
    assert estimate_tokens({"input": "abcd"}) == 1


def test_uncached_encoding_is_never_downloaded(
    monkeypatch: pytest.MonkeyPatch, loader: _tokens._TiktokenLoader, tmp_path: Any
) -> None:
    fake = types.ModuleType("tiktoken")

    def get_encoding(name: str) -> object:
        raise AssertionError("would download")

    fake.get_encoding = get_encoding  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    loader.reset(_tokens._load_tiktoken)
    loader.counter()
    assert loader.thread is not None
    loader.thread.join(5)
    assert loader.counter() is None


def test_working_tokenizer_is_used(
    monkeypatch: pytest.MonkeyPatch, loader: _tokens._TiktokenLoader
) -> None:
    class Encoding:
        def encode(self, text: str, disallowed_special: object = ()) -> list[int]:
            if text == "explode":
                raise RuntimeError("tokenizer bug")
            return [0] * len(text.split())

    fake = types.ModuleType("tiktoken")
    fake.get_encoding = lambda name: Encoding()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setattr(_tokens, "_encoding_is_cached", lambda: True)
    loader.reset(_tokens._load_tiktoken)
    loader.counter()
    assert loader.thread is not None
    loader.thread.join(5)
    body = {"messages": [{"role": "user", "content": "one two three"}]}
    assert estimate_tokens(body) == 3 + 4
    # A tokenizer failing on some input falls back to characters for that call.
    odd = {"messages": [{"role": "user", "content": "explode"}]}
    assert estimate_tokens(odd) == estimate_tokens_by_chars(odd)
