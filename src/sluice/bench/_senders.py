"""Opening a target: a ready-to-call sender for a `TargetSpec`, through the client it names.

async with open_target(TargetSpec("http://127.0.0.1:8000/v1"), clock=loop.time) as send:
    reply = await send()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from .._clock import Reader
from ._targets import Send, TargetSpec

__all__ = ["open_target"]


@contextlib.asynccontextmanager
async def open_target(spec: TargetSpec, *, clock: Reader) -> AsyncIterator[Send]:
    """A sender for ``spec`` (one connection pool, closed on exit): the generator's own
    aiohttp client, or `sluice.llm.Client`. Each is imported when used, so that the bench
    command starts without loading an HTTP stack it may not need."""
    if spec.client == "sluice":
        from ._llm_target import open_llm_target

        async with open_llm_target(spec, clock=clock) as send:
            yield send
    else:
        from ._aiohttp_target import open_aiohttp_target

        async with open_aiohttp_target(spec, clock=clock) as send:
            yield send
