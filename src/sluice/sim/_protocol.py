"""Requests as the simulator reads them: bodies in, checked and sized; the answers' shapes
come from `sluice.openai`.

Parsing turns a body into an `Inference` (what to answer and how big it is) or raises
`RequestError` with an OpenAI-shaped error. Tool definitions, sampling parameters and other
fields the simulator does not act on are accepted and ignored.

    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    inference = parse_request("chat", body)
    inference.prompt_tokens     # 3 (message) + 1 (text) + 3 (reply) = 7
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..openai import encode_error
from ._content import count_tokens

__all__ = ["Inference", "RequestError", "parse_request"]

_MESSAGE_OVERHEAD = 3
_REPLY_PRIMING = 3
_IMAGE_TOKENS = 85
_MAX_EMBEDDING_INPUTS = 2048
_MAX_DIMENSIONS = 8192
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class RequestError(Exception):
    """A request the simulator refuses, carrying the HTTP status and the error body fields."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> bytes:
        return encode_error(self.message, self.type, param=self.param, code=self.code)


def _invalid(message: str, param: str | None = None, code: str | None = None) -> RequestError:
    return RequestError(400, message, param=param, code=code)


@dataclass(slots=True)
class Inference:
    """One parsed request: ``kind`` is ``chat``, ``completion`` or ``embedding``."""

    kind: str
    model: str
    prompt_tokens: int
    prompt_key: bytes
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    # Embeddings only: one key and token count per input.
    inputs: list[tuple[bytes, int]] = field(default_factory=list)
    dimensions: int | None = None
    base64: bool = False


def _optional_int(
    body: dict[str, Any], name: str, minimum: int, maximum: int | None = None
) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid(f"{name} must be {rule}, got {value!r}", name)
    if maximum is not None and value > maximum:
        raise _invalid(f"{name} must be {rule}, got {value!r}", name)
    return value


def _common(body: dict[str, Any]) -> tuple[str, bool, bool, int | None]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("you must provide a model parameter (a non-empty string)", "model")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _invalid(f"stream must be a boolean, got {stream!r}", "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise _invalid("stream_options is only allowed when stream is true", "stream_options")
        if not isinstance(options, dict):
            raise _invalid("stream_options must be an object", "stream_options")
        include_usage = bool(options.get("include_usage", False))
    n = body.get("n")
    if n is not None and n != 1:
        raise _invalid(
            f"n={n!r} is not supported by the simulator: only n=1; send separate requests", "n"
        )
    caps = [
        v
        for v in (
            _optional_int(body, "max_tokens", 1),
            _optional_int(body, "max_completion_tokens", 1),
        )
        if v is not None
    ]
    return model, stream, include_usage, min(caps) if caps else None


def _content_tokens(content: object, where: str) -> tuple[int, str]:
    """Tokens and text of a message's content: a string, a list of parts, or null."""
    if content is None:
        return 0, ""
    if isinstance(content, str):
        return count_tokens(content), content
    if not isinstance(content, list):
        raise _invalid(f"{where}.content must be a string or a list of content parts", "messages")
    tokens = 0
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise _invalid(f"{where}.content parts must be objects", "messages")
        if part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid(f"{where}.content text parts need a string 'text'", "messages")
            tokens += count_tokens(text)
            texts.append(text)
        elif part.get("type") == "image_url":
            tokens += _IMAGE_TOKENS
            texts.append(json.dumps(part.get("image_url"), sort_keys=True))
    return tokens, "\n".join(texts)


def _parse_chat(body: dict[str, Any]) -> Inference:
    model, stream, include_usage, max_tokens = _common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list", "messages")
    tokens = _REPLY_PRIMING
    key_parts: list[bytes] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(f"{where} must be an object", "messages")
        role = message.get("role")
        if role not in _ROLES:
            raise _invalid(f"{where}.role must be one of {', '.join(sorted(_ROLES))}", "messages")
        content_tokens, text = _content_tokens(message.get("content"), where)
        tokens += _MESSAGE_OVERHEAD + content_tokens + (1 if message.get("name") else 0)
        key_parts.append(f"{role}\x1f{text}".encode())
    return Inference(
        "chat", model, tokens, b"\x1e".join(key_parts), stream, include_usage, max_tokens
    )


def _token_ids(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


def _prompt(value: object, name: str) -> tuple[bytes, int]:
    """Key and token count of one prompt or input: a string or a list of token ids."""
    if isinstance(value, str):
        return value.encode(), count_tokens(value)
    if _token_ids(value):
        assert isinstance(value, list)
        return b"ids:" + ",".join(map(str, value)).encode(), len(value)
    raise _invalid(f"{name} must be a string or a list of token ids", name)


def _parse_completion(body: dict[str, Any]) -> Inference:
    model, stream, include_usage, max_tokens = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and not _token_ids(prompt):
        if len(prompt) != 1:
            raise _invalid("only one prompt per request is supported by the simulator", "prompt")
        prompt = prompt[0]
    key, tokens = _prompt(prompt, "prompt")
    return Inference("completion", model, tokens, key, stream, include_usage, max_tokens)


def _parse_embedding(body: dict[str, Any]) -> Inference:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("you must provide a model parameter (a non-empty string)", "model")
    raw = body.get("input")
    items: list[object]
    if isinstance(raw, str) or _token_ids(raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise _invalid("input must be a string, a list of strings or token id lists", "input")
    if len(items) > _MAX_EMBEDDING_INPUTS:
        raise _invalid(f"input may hold at most {_MAX_EMBEDDING_INPUTS} items", "input")
    inputs = [_prompt(item, "input") for item in items]
    if any(not key or key == b"ids:" for key, _ in inputs):
        raise _invalid("input items must not be empty", "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _invalid("encoding_format must be 'float' or 'base64'", "encoding_format")
    return Inference(
        "embedding",
        model,
        sum(tokens for _, tokens in inputs),
        b"",
        inputs=inputs,
        dimensions=_optional_int(body, "dimensions", 1, _MAX_DIMENSIONS),
        base64=encoding == "base64",
    )


_PARSERS = {"chat": _parse_chat, "completion": _parse_completion, "embedding": _parse_embedding}


def parse_request(kind: str, raw: bytes) -> Inference:
    """Check and summarise a request body of the given kind."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _invalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _invalid("request body must be a JSON object")
    return _PARSERS[kind](body)
