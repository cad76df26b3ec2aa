"""Requests as the simulator reads them: bodies in, checked and sized; the answers' shapes
come from `sluice.openai`.

Parsing turns a body into an `Inference` (what to answer and how big it is) or raises
`RequestError` with an OpenAI-shaped error, whatever the body holds. Tools, tool turns and
response formats are read by `_tools`; sampling parameters and other fields the simulator does
not act on are accepted and ignored.

Counting a prompt's tokens stops once it passes ``token_limit`` (the model's context length):
beyond it the request is refused anyway, and the count says only "more than the limit".

    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    inference = parse_request("chat", body)
    inference.prompt_tokens     # 3 (message) + 1 (text) + 3 (reply) = 7
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._body import decode_json
from ._chat_tools import read_structured
from ._config import MAX_EMBEDDING_DIMENSIONS, MAX_EMBEDDING_INPUTS
from ._content import MEDIA_TOKENS, MESSAGE_OVERHEAD, REPLY_PRIMING, TokenBudget
from ._conversation import conversation_tokens
from ._request_error import RequestError, invalid
from ._tools import Structured

__all__ = ["Inference", "RequestError", "parse_request", "read_model", "shown"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


_SHOWN = 60  # characters of a rejected value quoted back in an error message


def shown(value: object) -> str:
    """``repr(value)``, cut short: an error must not echo a megabyte back."""
    text = repr(value) if not isinstance(value, list | dict) else type(value).__name__
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


@dataclass(slots=True)
class Inference:
    """One parsed request: ``kind`` is ``chat``, ``completion`` or ``embedding``.

    ``prompt_tokens`` is exact up to the token limit parsing was given; beyond it, it is some
    count above the limit (see the module docstring).
    """

    kind: str
    model: str
    prompt_tokens: int
    prompt_key: bytes
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    # vLLM's stream_options.continuous_usage_stats (with include_usage): usage on every chunk.
    continuous_usage: bool = False
    # Embeddings only: one key and token count per input.
    inputs: list[tuple[bytes, int]] = field(default_factory=list)
    dimensions: int | None = None
    base64: bool = False
    # Chat only: tools, tool choice and response format, when the request has any.
    structured: Structured | None = None


def _optional_int(
    body: dict[str, Any], name: str, minimum: int, maximum: int | None = None
) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(f"{name} must be {rule}, got {shown(value)}", name)
    if maximum is not None and value > maximum:
        raise invalid(f"{name} must be {rule}, got {shown(value)}", name)
    return value


def read_model(body: dict[str, Any]) -> str:
    """The body's ``model``: a non-empty string, else `RequestError`."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter (a non-empty string)", "model")
    return model


def _common(body: dict[str, Any]) -> tuple[str, bool, bool, int | None]:
    model = read_model(body)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise invalid(f"stream must be a boolean, got {shown(stream)}", "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise invalid("stream_options is only allowed when stream is true", "stream_options")
        if not isinstance(options, dict):
            raise invalid("stream_options must be an object", "stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise invalid("stream_options.include_usage must be a boolean", "stream_options")
    n = body.get("n")
    if n is not None and n != 1:
        raise invalid(
            f"n={shown(n)} is not supported by the simulator: only n=1; send separate requests",
            "n",
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


def _image_key(part: dict[str, Any], where: str) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        message = f"{where}.content image parts need an object with a string 'url'"
        raise invalid(message, "messages")
    detail = image.get("detail") if isinstance(image, dict) else None
    return f"image\x1f{url}\x1f{detail if isinstance(detail, str) else ''}"


def _add_content(content: object, where: str, tokens: TokenBudget) -> str:
    """Count a message's content (a string, a list of parts, or null); its text."""
    if content is None:
        return ""
    if isinstance(content, str):
        tokens.add_text(content)
        return content
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or a list of content parts", "messages")
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise invalid(f"{where}.content parts must be objects", "messages")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"{where}.content text parts need a string 'text'", "messages")
            tokens.add_text(text)
            texts.append(text)
        elif kind == "image_url":
            tokens.total += MEDIA_TOKENS
            texts.append(_image_key(part, where))
    return "\n".join(texts)


def _parse_chat(body: dict[str, Any], token_limit: int | None) -> Inference:
    model, stream, include_usage, max_tokens = _common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list", "messages")
    tokens = TokenBudget(token_limit)
    tokens.total = REPLY_PRIMING
    key_parts: list[bytes] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(f"{where} must be an object", "messages")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise invalid(f"{where}.role must be one of {', '.join(sorted(_ROLES))}", "messages")
        tokens.total += MESSAGE_OVERHEAD + (1 if message.get("name") else 0)
        text = _add_content(message.get("content"), where, tokens)
        key_parts.append(f"{role}\x1f{text}".encode())
    history_tokens, history_key, after_tool = conversation_tokens(messages)
    if history_key:
        key_parts.append(history_key)
    prompt_key = b"\x1e".join(key_parts)
    structured, tool_tokens = read_structured(body, prompt_key, after_tool)
    total = tokens.total + history_tokens + tool_tokens
    inference = Inference("chat", model, total, prompt_key, stream, include_usage, max_tokens)
    inference.structured = structured
    return inference


def _token_ids(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    )


def _prompt(value: object, name: str, token_limit: int | None) -> tuple[bytes, int]:
    """Key and token count of one prompt or input: a string or a list of token ids."""
    if isinstance(value, str):
        tokens = TokenBudget(token_limit)
        tokens.add_text(value)
        return value.encode(), tokens.total
    if _token_ids(value):
        assert isinstance(value, list)
        return b"ids:" + ",".join(map(str, value)).encode(), len(value)
    raise invalid(f"{name} must be a string or a list of token ids", name)


def _parse_completion(body: dict[str, Any], token_limit: int | None) -> Inference:
    model, stream, include_usage, max_tokens = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and not _token_ids(prompt):
        if len(prompt) != 1:
            raise invalid("only one prompt per request is supported by the simulator", "prompt")
        prompt = prompt[0]
    key, tokens = _prompt(prompt, "prompt", token_limit)
    return Inference("completion", model, tokens, key, stream, include_usage, max_tokens)


def _parse_embedding(body: dict[str, Any], token_limit: int | None) -> Inference:
    model = read_model(body)
    raw = body.get("input")
    items: list[object]
    if isinstance(raw, str) or _token_ids(raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise invalid("input must be a string, a list of strings or token id lists", "input")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise invalid(f"input may hold at most {MAX_EMBEDDING_INPUTS} items", "input")
    # The limit applies to each input: each one must fit the model's context.
    inputs = [_prompt(item, "input", token_limit) for item in items]
    if any(not key or key == b"ids:" for key, _ in inputs):
        raise invalid("input items must not be empty", "input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid("encoding_format must be 'float' or 'base64'", "encoding_format")
    return Inference(
        "embedding",
        model,
        sum(tokens for _, tokens in inputs),
        b"",
        inputs=inputs,
        dimensions=_optional_int(body, "dimensions", 1, MAX_EMBEDDING_DIMENSIONS),
        base64=encoding == "base64",
    )


_PARSERS = {"chat": _parse_chat, "completion": _parse_completion, "embedding": _parse_embedding}


def parse_request(kind: str, raw: bytes, *, token_limit: int | None = None) -> Inference:
    """Check and summarise a request body of the given kind; `RequestError` if it is bad.

    ``token_limit`` bounds the work of counting prompt tokens (see the module docstring).
    """
    body = decode_json(raw)
    inference = _PARSERS[kind](body, token_limit)
    if inference.include_usage:
        inference.continuous_usage = _continuous_usage(body["stream_options"])
    return inference


def _continuous_usage(options: dict[str, Any]) -> bool:
    """vLLM's ``continuous_usage_stats``: read (as vLLM does) only along ``include_usage``."""
    value = options.get("continuous_usage_stats", False)
    if not isinstance(value, bool):
        message = "stream_options.continuous_usage_stats must be a boolean"
        raise invalid(message, "stream_options")
    return value
