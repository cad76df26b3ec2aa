"""Streams from synchronous code: each step of the async stream runs on sluice's portal
loop (and from there on the loop that owns the client), so a plain ``for`` loop can consume
it::

    for delta in client.stream_chat_sync(model="m", messages=msgs):
        print(delta.text, end="")
"""

from __future__ import annotations

from typing import Any

from ..openai import ChatDelta, ToolCall, Usage
from ._stream import ChatStream
from ._sync_steps import SyncStream

__all__ = ["SyncChatStream"]


class SyncChatStream(SyncStream[ChatStream, ChatDelta]):
    """A plain iterator over a `ChatStream`, with the same figures once iteration is over.
    For example::

        with client.stream_chat_sync(model="m", messages=msgs) as stream:
            text = "".join(delta.text for delta in stream)
        print(stream.ttft, stream.usage)
    """

    @property
    def text(self) -> str:
        return self.stream.text

    @property
    def ttft(self) -> float | None:
        return self.stream.ttft

    @property
    def itl(self) -> tuple[float, ...]:
        return self.stream.itl

    @property
    def usage(self) -> Usage | None:
        return self.stream.usage

    @property
    def finish_reason(self) -> str | None:
        return self.stream.finish_reason

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.stream.tool_calls

    @property
    def refusal(self) -> str | None:
        return self.stream.refusal

    def json(self) -> Any:
        """The text received, decoded from JSON (see `ChatStream.json`)."""
        return self.stream.json()

    @property
    def request_id(self) -> str | None:
        return self.stream.request_id
