"""A local OpenAI-compatible service that is slow, busy and unreliable on purpose.

It answers ``/v1/chat/completions`` (streamed or not), ``/v1/completions``,
``/v1/embeddings``, ``/v1/models``, the Responses API ``/v1/responses`` and Anthropic's
``/v1/messages`` like a loaded LLM service would: time to first token and inter-token
latency from a latency model, a capacity with a wait queue, per-key rate limits with each
API's headers, and seeded or forced faults (``x-sim-fault: 429``). Content is deterministic
and usage counts match it, so tests and benchmarks run on one machine, without network or
API key. Requests with ``tools`` get schema-valid tool calls, and a ``response_format`` gets
JSON satisfying its schema (see docs/sim-tools.md). Needs the ``sim`` extra (uvicorn,
uvloop, httptools, orjson).

    async with SimServer(SimConfig(ttft=0.05, itl=0.01, rpm=600)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test")
        reply = await client.chat.completions.create(model="sim-model", messages=[...])

From a shell: ``sluice sim --port 8000 --ttft 200ms --itl 20ms --max-concurrency 64``.
"""

from __future__ import annotations

from ..openai import format_duration as format_reset
from ._app import SimApp
from ._config import FAULT_NAMES, SimConfig, load_config
from ._content import count_tokens
from ._metrics import SimMetrics
from ._process import SimProcess
from ._server import SimServer

__all__ = [
    "FAULT_NAMES",
    "SimApp",
    "SimConfig",
    "SimMetrics",
    "SimProcess",
    "SimServer",
    "count_tokens",
    "format_reset",
    "load_config",
]
