"""The Responses API methods of `Client`: create, stream, and their synchronous twins.

They stand on `ClientBase` as the chat methods do: one gate call per request (limits,
retries, the token budget reserved from an estimate and settled from the answer's usage).

    result = await client.responses(model="gpt-4.1-mini", input="Hi", instructions="Be terse.")
    async with client.stream_responses(model="gpt-4.1-mini", input="Hi") as stream:
        text = "".join([event.delta async for event in stream])
"""

from __future__ import annotations

from typing import Any

from .. import ConfigError, run_sync
from ..openai import decode_response
from ._base import Body, CallTimeout, ClientBase, Headers, Query
from ._loops import check_blocking
from ._params import ResponseInput, responses_body, streaming
from ._responses import ResponseResult, response_result
from ._responses_stream import ResponseStream
from ._responses_sync import SyncResponseStream
from ._settings import UNSET

__all__ = ["ResponsesClient"]


class ResponsesClient(ClientBase):
    """`ClientBase` with the Responses API; `Client` adds the rest of the API."""

    async def responses(
        self,
        *,
        model: str,
        input: ResponseInput,
        timeout: CallTimeout = UNSET,  # noqa: ASYNC109 - the SDK's per-call timeout
        extra_headers: Headers = None,
        extra_query: Query = None,
        extra_body: Body = None,
        **params: Any,
    ) -> ResponseResult:
        """A response of the Responses API (``POST /responses``): ``input`` is a string or a
        list of input items; ``params`` are the API's body parameters (``instructions=``,
        ``tools=``, ``max_output_tokens=``, ``text=``...), any other name refused as for
        `Client.chat`. ``timeout`` and the ``extra_*`` arguments as for `Client.chat`.

            result = await client.responses(model="m", input="Hi", tools=tools)
            calls = [call.output(run(call)) for call in result.function_calls]
            result.text, result.status, result.usage.total_tokens
        """
        if params.get("stream"):
            raise ConfigError("responses(stream=True): use client.stream_responses(...) to stream")
        body = responses_body(model, input, params, extra_body)
        call = self._call(
            "responses", "responses", body, decode_response, timeout, extra_headers, extra_query
        )
        clock = self._wire.clock
        start = clock()
        reply = await call
        return response_result(reply, clock() - start)

    def stream_responses(
        self,
        *,
        model: str,
        input: ResponseInput,
        timeout: CallTimeout = UNSET,
        extra_headers: Headers = None,
        extra_query: Query = None,
        extra_body: Body = None,
        **params: Any,
    ) -> ResponseStream:
        """A streamed response: an async iterator of `ResponseEvent` (``response.created``,
        ``response.output_text.delta``... ``response.completed``) recording ``ttft`` and
        ``itl``, and at its end the whole response (``text``, ``function_calls``,
        ``usage``, ``status``). Arguments as for `responses`; an attempt's time covers the
        whole stream.

            async with client.stream_responses(model="m", input="Hi") as stream:
                async for event in stream:
                    print(event.delta, end="")
            print(stream.status, stream.usage)
        """
        streaming(params, "stream_responses", "responses")
        body = responses_body(model, input, params, extra_body, "stream_responses")
        return self._stream(
            ResponseStream,
            "stream_responses",
            "responses",
            body,
            timeout,
            extra_headers,
            extra_query,
        )

    def responses_sync(self, *, model: str, input: ResponseInput, **params: Any) -> ResponseResult:
        """`responses` from synchronous code; same arguments. Not for async code, whose loop
        it would block: there, ``await client.responses(...)``."""
        check_blocking(self._wire.loop, "responses_sync", "await client.responses(...)")
        return run_sync(self.responses, model=model, input=input, **params)

    def stream_responses_sync(
        self, *, model: str, input: ResponseInput, **params: Any
    ) -> SyncResponseStream:
        """`stream_responses` from synchronous code: a plain iterator of events.

        with client.stream_responses_sync(model="m", input="Hi") as stream:
            text = "".join(event.delta for event in stream)
        """
        check_blocking(self._wire.loop, "stream_responses_sync", "client.stream_responses(...)")
        return SyncResponseStream(self.stream_responses(model=model, input=input, **params))
