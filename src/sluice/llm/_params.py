"""What a call may put in its request: the body parameters the API knows, headers, the query.

A keyword the API does not know is refused, never sent: a misspelt ``max_token=`` or a
setting meant for the client (``max_retries=``) would otherwise travel in the JSON body, where
most servers ignore it without a word. A server's own extensions go in ``extra_body=``, as
with the OpenAI SDK::

    await client.chat(model="m", messages=msgs, temperature=0, extra_body={"top_k": 20})
    await client.chat(model="m", messages=msgs, top_k=20)   # TypeError naming extra_body=
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from .. import ConfigError

__all__ = [
    "CHAT_PARAMETERS",
    "EMBEDDING_PARAMETERS",
    "RESPONSES_PARAMETERS",
    "ResponseInput",
    "chat_body",
    "check_headers",
    "check_model",
    "embedding_body",
    "responses_body",
    "streaming",
    "with_query",
]

CHAT_PARAMETERS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
"""The body parameters of ``POST /chat/completions`` besides ``model`` and ``messages``."""

EMBEDDING_PARAMETERS = frozenset({"dimensions", "encoding_format", "user"})
"""The body parameters of ``POST /embeddings`` besides ``model`` and ``input``."""

RESPONSES_PARAMETERS = frozenset(
    {
        "background",
        "conversation",
        "include",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
"""The body parameters of ``POST /responses`` besides ``model`` and ``input``."""

ResponseInput = str | Sequence[Mapping[str, Any]]
"""A string (one user message) or a list of input items."""

# Settings of the OpenAI SDK or of other clients that are not body parameters: where they go.
_ELSEWHERE = {
    "max_retries": "retries are the gate's: Client(retry=...)",
    "retry": "retries are the gate's: Client(retry=...)",
    "headers": "per-call headers go in extra_headers=",
    "query": "per-call query parameters go in extra_query=",
    "api_key": "the key is the client's: Client(api_key=...)",
    "base_url": "the URL is the client's: Client(base_url=...)",
}


def _refuse(method: str, params: Mapping[str, Any], known: frozenset[str]) -> TypeError:
    unknown = sorted(set(params) - known)
    name = unknown[0]
    hint = _ELSEWHERE.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        hint += (
            f"To send it in the request body anyway (a server's own extension), pass "
            f"extra_body={{{name!r}: ...}}"
        )
    names = ", ".join(repr(n) for n in unknown)
    return TypeError(
        f"{method}() got {names}, which the API does not know as a body parameter: {hint}"
    )


def check_model(model: object) -> None:
    if not isinstance(model, str) or not model:
        raise TypeError(f"model must be a non-empty string, got {model!r}")


def chat_body(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    extra_body: Mapping[str, Any] | None,
    method: str = "chat",
) -> dict[str, Any]:
    """The JSON body of a chat request, its arguments checked."""
    check_model(model)
    given: object = messages  # checked at run time: callers are not always type-checked
    if type(given) is not list and (
        isinstance(given, str | bytes) or not isinstance(given, Sequence)
    ):
        raise TypeError(
            "messages must be a list of {'role': ..., 'content': ...} mappings, "
            f"got {type(given).__name__}"
        )
    return _body(model, "messages", messages, params, CHAT_PARAMETERS, extra_body, method)


def embedding_body(
    model: str,
    input: object,
    params: dict[str, Any],
    extra_body: Mapping[str, Any] | None,
    method: str = "embed",
) -> dict[str, Any]:
    """The JSON body of an embeddings request, its arguments checked."""
    check_model(model)
    return _body(model, "input", input, params, EMBEDDING_PARAMETERS, extra_body, method)


def responses_body(
    model: str,
    input: ResponseInput,
    params: dict[str, Any],
    extra_body: Mapping[str, Any] | None,
    method: str = "responses",
) -> dict[str, Any]:
    """The JSON body of a Responses request, its arguments checked."""
    check_model(model)
    given: object = input  # checked at run time: callers are not always type-checked
    if not isinstance(given, str) and (isinstance(given, bytes) or not isinstance(given, Sequence)):
        raise TypeError(
            f"input must be a string or a list of input items, got {type(given).__name__}"
        )
    return _body(model, "input", input, params, RESPONSES_PARAMETERS, extra_body, method)


def streaming(params: dict[str, Any], method: str, whole: str) -> None:
    """Set ``stream=True`` in a streaming ``method``'s ``params``; any other value given is
    refused, naming ``whole``, the method for a whole answer."""
    if params.pop("stream", True) is not True:
        raise ConfigError(f"{method}() always streams; use client.{whole}(...) for a whole answer")
    params["stream"] = True


def _body(
    model: str,
    key: str,
    value: object,
    params: dict[str, Any],
    known: frozenset[str],
    extra_body: Mapping[str, Any] | None,
    method: str,
) -> dict[str, Any]:
    """``{"model": model, key: value, **params}`` with ``extra_body`` over it; a parameter
    not in ``known`` is refused."""
    if params and not known.issuperset(params):
        raise _refuse(method, params, known)
    body = {"model": model, key: value, **params}
    if extra_body:
        body.update(_mapping(extra_body, "extra_body"))
    return body


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def check_headers(headers: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """``headers`` as a dict, each name and value a string without a line break (which would
    end the header early and start another: header injection). TypeError or ValueError."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"{where} must be a mapping of header names to strings")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                f"{where}: header {name!r} must map a str to a str, got {type(value).__name__}"
            )
        if not name or any(c in name for c in "\r\n:\0 \t"):
            raise ValueError(f"{where}: {name!r} is not a valid header name")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"{where}: the value of header {name!r} contains a line break or NUL")
    return dict(headers)


def with_query(url: str, query: Mapping[str, Any] | None) -> str:
    """``url`` with ``query`` (``extra_query=``) appended, percent-encoded."""
    if not query:
        return url
    encoded = urlencode(_mapping(query, "extra_query"), doseq=True)
    return f"{url}{'&' if '?' in url else '?'}{encoded}"
