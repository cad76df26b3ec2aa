"""A streamed response from synchronous code: each step of the async stream runs on sluice's
portal loop (and from there on the loop that owns the client)::

    for event in client.stream_responses_sync(model="m", input="Hi"):
        print(event.delta, end="")
"""

from __future__ import annotations

from .. import run_sync
from ..openai import FunctionCall, ResponseEvent, ResponseOutput, ResponseUsage
from ._responses_stream import ResponseStream
from ._sync_steps import SyncStream

__all__ = ["SyncResponseStream"]


class SyncResponseStream(SyncStream[ResponseStream, ResponseEvent]):
    """A plain iterator over a `ResponseStream`, with the same figures once it is over.
    For example::

        with client.stream_responses_sync(model="m", input="Hi") as stream:
            text = "".join(event.delta for event in stream)
        print(stream.status, stream.usage)
    """

    def final(self) -> ResponseOutput:
        """Iterate what is left and return the finished response."""
        if self.stream.output is None:
            for _ in self:
                pass
        return run_sync(self.stream.final)

    @property
    def text(self) -> str:
        return self.stream.text

    @property
    def status(self) -> str | None:
        return self.stream.status

    @property
    def usage(self) -> ResponseUsage | None:
        return self.stream.usage

    @property
    def function_calls(self) -> tuple[FunctionCall, ...]:
        return self.stream.function_calls

    @property
    def ttft(self) -> float | None:
        return self.stream.ttft

    @property
    def itl(self) -> tuple[float, ...]:
        return self.stream.itl

    @property
    def request_id(self) -> str | None:
        return self.stream.request_id
