"""The Responses API in the client: the request body a call may send, and `ResponseResult`.

body = responses_body("gpt-4.1-mini", "Hi", {"max_output_tokens": 50}, None)
reply = await send_json(wire, request, decode_response)
result = response_result(reply, latency=wire.clock() - start)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..openai import (
    FunctionCall,
    RateLimits,
    ResponseOutput,
    ResponseUsage,
    decode_response_usage,
    parse_request_id,
)
from ._params import _mapping, _refuse, check_model
from ._wire import Reply

__all__ = ["RESPONSES_PARAMETERS", "ResponseInput", "ResponseResult", "response_result"]

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
    if params and not RESPONSES_PARAMETERS.issuperset(params):
        raise _refuse(method, params, RESPONSES_PARAMETERS)
    body = {"model": model, "input": input, **params}
    return body if not extra_body else {**body, **_mapping(extra_body, "extra_body")}


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """A response of the Responses API. ``status`` is the response's (``completed``, or
    ``incomplete`` with ``incomplete_reason``); ``http_status`` the HTTP one. ``text`` joins
    its messages' text; ``function_calls`` are the calls it asks for; ``output`` holds the
    output items as sent and ``raw`` the whole body.

        result = await client.responses(model="gpt-4.1-mini", input="Hi", tools=tools)
        for call in result.function_calls:
            follow_up.append(call.output(run(call.name, call.parsed_arguments())))
    """

    text: str
    function_calls: tuple[FunctionCall, ...]
    status: str | None
    incomplete_reason: str | None
    refusal: str | None
    usage: ResponseUsage | None
    model: str | None
    id: str | None
    output: tuple[Mapping[str, Any], ...]
    http_status: int
    request_id: str | None
    rate_limits: RateLimits | None
    latency: float
    ttfb: float
    headers: Mapping[str, str] = field(repr=False, compare=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def response_result(reply: Reply, latency: float) -> ResponseResult:
    """The `ResponseResult` of a Responses reply (``reply.value`` from `decode_response`)."""
    output: ResponseOutput = reply.value
    data = reply.data
    return ResponseResult(
        text=output.text,
        function_calls=output.function_calls,
        status=output.status,
        incomplete_reason=output.incomplete_reason,
        refusal=output.refusal,
        usage=decode_response_usage(data.get("usage")),
        model=output.model,
        id=output.id,
        output=output.output,
        http_status=reply.status,
        request_id=parse_request_id(reply.headers),
        rate_limits=reply.rate_limits,
        latency=latency,
        ttfb=reply.ttfb,
        headers=reply.headers,
        raw=data,
    )
