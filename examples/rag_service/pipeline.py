"""The RAG pipeline on sluice gates: one question in, one grounded answer out.

    retrieve ─┐
              ├─► tools (fanned out under a cap, each with its timeout, fallback, breaker) ─► answer
    plan ─────┘

Retrieval and tool planning run in parallel; the planned tool calls run at once, at most
``tool_cap`` of them in the whole process; every tool has its own timeout and a fallback, and
the flaky web search a breaker, so a failing tool degrades an answer instead of failing it.
Whole answers are cached (in memory, or in Redis when ``redis_url`` is set, shared by every
worker); a request may bypass the cache to measure the uncached path.

    rag = Rag(Settings(llm_url="http://127.0.0.1:8000/v1"))
    reply = await rag.ask("What is the weather for our meeting next week?")
    await rag.aclose()
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sluice
from sluice import llm
from sluice.stores import MemoryStore, RedisStore, Store

from .tools import Document, calendar, plan_tools, search_documents, weather, web_search

__all__ = ["Rag", "Settings"]


@dataclass(frozen=True)
class Settings:
    """What the service talks to and how patient it is."""

    llm_url: str
    api_key: str = "sk-rag-example"
    model: str = "sim-model"
    tool_cap: int = 64  # tool calls in flight in the whole process
    tool_timeout: float = 0.3  # seconds per tool attempt
    llm_concurrency: int = 128
    search_failure_rate: float = 0.1
    redis_url: str | None = None
    cache_ttl: float = 600.0
    request_timeout: float = 30.0  # seconds a request may take when it does not say


class Rag:
    """The pipeline and its gates (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.llm_gate = sluice.Gate(
            "llm",
            concurrency=settings.llm_concurrency,
            retry=sluice.Retry(attempts=3),
            timeout=sluice.Timeout(attempt=10.0),
            breaker=sluice.Breaker(failure_rate=0.5, window=50, min_calls=20, open_for=5.0),
        )
        self.llm = llm.Client(settings.llm_url, api_key=settings.api_key, gate=self.llm_gate)
        self.retriever = sluice.Gate(
            "retriever",
            concurrency=64,
            retry=2,
            timeout=1.0,
            cache=sluice.Cache(ttl=300.0, serializer="pickle"),  # in-process: objects as they are
        )
        self.tool_cap = sluice.Gate("tool-fanout", concurrency=settings.tool_cap)
        self.tools = {
            "web_search": sluice.Gate(
                "tool:web_search",
                timeout=settings.tool_timeout,
                breaker=sluice.Breaker(failure_rate=0.5, window=20, min_calls=10, open_for=5.0),
                fallback="(web search unavailable)",
            ),
            "weather": sluice.Gate(
                "tool:weather", timeout=settings.tool_timeout, fallback="(weather unavailable)"
            ),
            "calendar": sluice.Gate(
                "tool:calendar", timeout=settings.tool_timeout, fallback="(calendar unavailable)"
            ),
        }
        store: Store = (
            MemoryStore(max_items=50_000)
            if settings.redis_url is None
            else RedisStore(settings.redis_url, namespace="rag:answers", lock_for=10.0)
        )
        self.answers = sluice.Gate(
            "answers", cache=sluice.Cache(store=store, ttl=settings.cache_ttl, serializer="json")
        )

    @property
    def gates(self) -> list[sluice.Gate]:
        return [self.llm_gate, self.retriever, self.tool_cap, *self.tools.values(), self.answers]

    async def ask(self, question: str, *, use_cache: bool = True) -> dict[str, Any]:
        """The answer to ``question``, from the cache when it has it (and ``use_cache``)."""
        if not use_cache:
            return await self._answer(question)
        reply: dict[str, Any] = await self.answers.run(self._answer, question)
        return reply

    async def _answer(self, question: str) -> dict[str, Any]:
        docs, plan = await asyncio.gather(self._retrieve(question), self._plan(question))
        results = await self.tool_cap.map(self._tool, plan) if plan else []
        context = "\n".join(doc.text for doc in docs)
        tool_notes = "\n".join(
            f"{name}: {result}" for (name, _), result in zip(plan, results, strict=True)
        )
        reply = await self.llm.chat(
            model=self.settings.model,
            messages=[
                {"role": "system", "content": f"Answer from:\n{context}\n{tool_notes}"},
                {"role": "user", "content": question},
            ],
            max_tokens=64,
        )
        return {
            "answer": reply.text,
            "sources": [doc.title for doc in docs],
            "tools": {name: result for (name, _), result in zip(plan, results, strict=True)},
        }

    async def _retrieve(self, question: str) -> list[Document]:
        return await self.retriever.run(search_documents, question)

    async def _plan(self, question: str) -> list[tuple[str, str]]:
        # The planning model is asked (its latency is real); which tools run is decided from
        # the question's words, as the simulated model's text carries no plan.
        await self.llm.chat(
            model=self.settings.model,
            messages=[{"role": "user", "content": f"Which tools answer: {question}"}],
            max_tokens=16,
        )
        return plan_tools(question)

    async def _tool(self, action: tuple[str, str]) -> str:
        name, argument = action
        gate = self.tools[name]
        if name == "web_search":
            failure_rate = self.settings.search_failure_rate
            return str(await gate.run(web_search, argument, failure_rate=failure_rate))
        if name == "weather":
            return str(await gate.run(weather, argument))
        return str(await gate.run(calendar, argument))

    def statistics(self) -> dict[str, Any]:
        """Every gate's statistics, as JSON-ready dictionaries."""
        return {gate.name: _plain(gate.statistics()) for gate in self.gates}

    async def aclose(self) -> None:
        await self.llm.aclose()  # its connections: the client closes only a gate it made
        for gate in self.gates:
            await gate.aclose()


def _plain(value: Any) -> Any:
    """A statistics snapshot as JSON-ready data (dataclasses and mappings become dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
