"""OpenAI-shaped bodies and a recording handler for `MockTransport` tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sluice.llm import Client, MockResponse, MockTransport, Request

BASE = "http://api.test/v1"
KEY = "sk-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def completion(
    text: str = "Hello!",
    *,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (5, 2),
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return body


def chunk(text: str | None = None, *, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if text is not None:
        delta["content"] = text
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int = 5, completion_tokens: int = 3) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        },
    }


def error_body(message: str, code: str | None = None, type_: str = "error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@dataclass
class Script:
    """A handler answering from a list (the last answer repeats), recording request times.

    An item may be a `MockResponse`, an exception to raise, or a callable taking the request.
    """

    answers: list[object]
    times: list[float] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: Request) -> MockResponse:
        self.times.append(asyncio.get_running_loop().time())
        self.bodies.append(request.json())
        self.headers.append(dict(request.headers))
        index = min(len(self.times) - 1, len(self.answers) - 1)
        answer = self.answers[index]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer) and not isinstance(answer, MockResponse):
            answer = answer(request)
        assert isinstance(answer, MockResponse)
        return answer


def ok(text: str = "Hello!", **kwargs: Any) -> MockResponse:
    return MockResponse(json=completion(text, **kwargs), headers={"x-request-id": "req_1"})


def client_for(*answers: object, **settings: Any) -> tuple[Client, Script, MockTransport]:
    """A client over a scripted mock transport."""
    script = Script(list(answers) or [ok()])
    transport = MockTransport(script)
    settings.setdefault("api_key", KEY)
    return Client(BASE, transport=transport, **settings), script, transport


def handler_from(fn: Callable[[Request], MockResponse]) -> MockTransport:
    return MockTransport(fn)
