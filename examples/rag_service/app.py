"""The HTTP face of the RAG service: FastAPI, one pipeline per worker process.

    POST /ask   {"question": "..."}   -> {"answer", "sources", "tools"}
                header ``x-cache: bypass`` skips the answer cache (to load-test the
                uncached path with the same questions)
    GET  /healthz                     -> {"ok": true}
    GET  /stats                       -> every gate's statistics, and the loop's stalls
    GET  /metrics                     -> Prometheus: every gate, and the loop's lag

A request carries its deadline in ``x-request-timeout`` (seconds; default 30): no gate waits
past it, and the answer is 504 if it passes. A request the model's gates cannot take now is
answered 503 with Retry-After at once; an upstream that failed for good, 502.

Settings come from the environment when the app is made by `from_env` (how uvicorn's
``--factory`` makes it in each worker): ``RAG_LLM_URL`` (required), ``RAG_REDIS_URL``,
``RAG_SEARCH_FAILURE_RATE``, ``RAG_TOOL_TIMEOUT``.

    app = create_app(Settings(llm_url=sim.base_url))
    uvicorn examples.rag_service.app:from_env --factory --workers 2
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import prometheus_client
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import sluice
from sluice.asgi import Deadlines, Shed
from sluice.observe import LoopLagMonitor, LoopWatch, queue_logging, register_metrics, watch_loop

from .pipeline import Rag, Settings

__all__ = ["create_app", "from_env"]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


def create_app(settings: Settings) -> FastAPI:
    """The service for ``settings``; its pipeline lives as long as the app's lifespan."""
    rag = Rag(settings)
    # One registry per app (a process may build several, as the tests do).
    registry = prometheus_client.CollectorRegistry()
    register_metrics(registry, gates=rag.gates)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Log records go through a queue (a slow handler never holds the loop); a watchdog
        # names any code that blocks the loop for more than 100 ms; the loop's lag is a
        # histogram at /metrics.
        logs = queue_logging()
        try:
            async with (
                watch_loop(threshold=0.1) as watch,
                LoopLagMonitor(interval=0.5, registry=registry),
            ):
                app.state.watch = watch
                yield
        finally:
            await rag.aclose()
            logs.stop()

    app = FastAPI(title="RAG on sluice", lifespan=lifespan)
    app.state.rag = rag
    # Added last, runs first: the client's patience (x-request-timeout, else 30 s) bounds
    # every gate the request reaches; then a request the model cannot take now (its breaker
    # open, its queue full) is answered 503 at once instead of waiting in line.
    app.add_middleware(Shed, routes={"/ask": [rag.llm_gate, rag.tool_cap]})
    app.add_middleware(Deadlines, default=settings.request_timeout)

    @app.exception_handler(sluice.RejectedError)
    async def rejected(request: Request, exc: sluice.RejectedError) -> JSONResponse:
        retry_after = max(1, round(exc.retry_after or 1))
        body = {"error": "overloaded", "gate": exc.gate, "detail": str(exc)}
        return JSONResponse(body, status_code=503, headers={"retry-after": str(retry_after)})

    @app.exception_handler(sluice.DeadlineExceeded)
    async def too_late(request: Request, exc: sluice.DeadlineExceeded) -> JSONResponse:
        return JSONResponse({"error": "deadline exceeded", "detail": str(exc)}, status_code=504)

    @app.exception_handler(sluice.SluiceError)
    async def upstream(request: Request, exc: sluice.SluiceError) -> JSONResponse:
        return JSONResponse({"error": "upstream failed", "detail": str(exc)}, status_code=502)

    @app.post("/ask")
    async def ask(body: Question, request: Request) -> dict[str, Any]:
        use_cache = request.headers.get("x-cache", "").lower() != "bypass"
        return await rag.ask(body.question, use_cache=use_cache)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/stats")
    async def stats(request: Request) -> dict[str, Any]:
        watch: LoopWatch = request.app.state.watch
        loop = watch.statistics()
        stalls = [{"seconds": s.duration, "blocking": s.blocking} for s in watch.stalls[-5:]]
        return {**rag.statistics(), "loop": {"stalls": loop.stalls, "latest": stalls}}

    app.mount("/metrics", prometheus_client.make_asgi_app(registry))

    return app


def from_env() -> FastAPI:
    """The app, configured from ``RAG_*`` environment variables (see the module docstring)."""
    url = os.environ.get("RAG_LLM_URL")
    if not url:
        raise SystemExit("set RAG_LLM_URL to the model's base URL (http://host:port/v1)")
    return create_app(
        Settings(
            llm_url=url,
            redis_url=os.environ.get("RAG_REDIS_URL") or None,
            search_failure_rate=float(os.environ.get("RAG_SEARCH_FAILURE_RATE", "0.1")),
            tool_timeout=float(os.environ.get("RAG_TOOL_TIMEOUT", "0.3")),
        )
    )
