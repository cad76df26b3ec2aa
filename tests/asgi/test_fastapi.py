"""The middlewares under FastAPI's ``add_middleware`` (skipped where FastAPI is missing)."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice.asgi import Deadlines, Shed

from .apps import client

fastapi = pytest.importorskip("fastapi")


async def test_fastapi_add_middleware() -> None:
    gate = sluice.Gate("llm")
    app = fastapi.FastAPI()

    @app.get("/v1/answer")
    async def answer() -> dict[str, object]:
        remaining = sluice.time_remaining()
        await gate.run(asyncio.sleep, 0.1)
        return {"remaining": remaining}

    @app.get("/v1/slow")
    async def slow() -> dict[str, object]:
        await gate.run(asyncio.sleep, 60)
        return {}

    app.add_middleware(Shed, routes={"/v1": [gate]})
    app.add_middleware(Deadlines, default=30.0)  # added last: outermost
    async with client(app) as http:
        response = await http.get("/v1/answer", headers={"x-request-timeout": "2"})
        assert response.status_code == 200
        assert response.json()["remaining"] == pytest.approx(2.0)
        assert (await http.get("/v1/answer")).json()["remaining"] == pytest.approx(30.0)
        response = await http.get("/v1/slow", headers={"grpc-timeout": "500m"})
        assert response.status_code == 504
        gate.pause(5)
        response = await http.get("/v1/answer")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
