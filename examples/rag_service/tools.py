"""The service's stand-ins for a vector store and external tools, with realistic latencies.

Each waits like the real thing would (a vector search ~40 ms, a web search ~120 ms that fails
now and then, a weather API that is sometimes too slow) so the service spends its time where
a real one does: waiting on I/O. Randomness is seeded per request, so a question always gets
the same documents and the same plan.

    docs = await search_documents("What is our leave policy?")
    found = await web_search("leave policy", failure_rate=0.2)
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass

__all__ = [
    "TOOLS",
    "Document",
    "ToolUnavailable",
    "calendar",
    "plan_tools",
    "search_documents",
    "weather",
    "web_search",
]


class ToolUnavailable(ConnectionError):
    """A tool's service refused or dropped the call (the breaker counts these)."""


@dataclass(frozen=True)
class Document:
    title: str
    text: str
    score: float


def _rng(*parts: str) -> random.Random:
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


async def search_documents(question: str, *, k: int = 4, latency: float = 0.04) -> list[Document]:
    """A vector search: ``k`` documents, after ``latency`` seconds, give or take a quarter."""
    rng = _rng("docs", question)
    await asyncio.sleep(latency * rng.uniform(0.75, 1.25))
    return [
        Document(f"doc-{rng.randrange(10_000)}", f"passage {i} about {question[:40]}", 1 - i / k)
        for i in range(k)
    ]


async def web_search(query: str, *, failure_rate: float = 0.1, latency: float = 0.12) -> str:
    """A web search that fails with ``failure_rate`` (a flaky upstream)."""
    rng = random.Random()
    await asyncio.sleep(latency * rng.uniform(0.75, 1.25))
    if rng.random() < failure_rate:
        raise ToolUnavailable("web search: 503 from upstream")
    return f"top result for {query!r}"


async def weather(city: str, *, slow_rate: float = 0.05, latency: float = 0.06) -> str:
    """A weather API that now and then takes ten times as long (a timeout's job)."""
    rng = random.Random()
    slow = rng.random() < slow_rate
    await asyncio.sleep(latency * (10 if slow else rng.uniform(0.75, 1.25)))
    return f"{city}: 21 C, clear"


async def calendar(day: str, *, latency: float = 0.05) -> str:
    """Free meeting rooms on ``day``."""
    await asyncio.sleep(latency)
    return f"rooms free on {day}: 3"


TOOLS = ("web_search", "weather", "calendar")


def plan_tools(question: str) -> list[tuple[str, str]]:
    """The tool calls a question needs, as (tool, argument): none to three, by its words
    (the planning model's answer stands in for this in a real agent)."""
    words = question.lower()
    plan: list[tuple[str, str]] = []
    if any(word in words for word in ("latest", "news", "who", "compare")):
        plan.append(("web_search", question[:60]))
    if "weather" in words:
        plan.append(("weather", "Hangzhou"))
    if any(word in words for word in ("meeting", "room", "book")):
        plan.append(("calendar", "next monday"))
    return plan
