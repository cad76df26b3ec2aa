"""What does the Responses API cost the simulator, next to chat completions?

Drives the simulator's ASGI app in this process at zero latency (no sockets, no HTTP server:
only the app's own work per request) and reports requests per second of each case and its
ratio to the chat baseline of the same shape measured in the same run (whole answers against
whole chat answers, streams against chat streams). A ratio below 1 means Responses costs more.

Cases: whole answers of 16 tokens (chat; Responses text; Responses with a function tool) and
streams of 100 tokens (chat with usage; Responses text; Responses with a function tool).

With ``--http``, the whole-answer cases also go over HTTP: the simulator in a child process
pinned to CPU 0, wrk (one thread, 50 connections, 5 s, best of two interleaved rounds)
pinned to CPU 1, as in bench_sim.py: the figure a load tool sees.

Run:  .venv/bin/python benchmarks/bench_sim_responses.py [--quick] [--http]
Each case runs for a fixed time (1 s, 0.3 s with --quick), best of three interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sluice.sim import SimApp, SimConfig

TOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
MESSAGES = [{"role": "user", "content": "Tell me a story."}]
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("whole", "chat", "/v1/chat/completions", {"messages": MESSAGES}),
    ("whole", "responses", "/v1/responses", {"input": "Tell me a story."}),
    ("whole", "responses + tool", "/v1/responses", {"input": "Weather?", "tools": [TOOL]}),
    (
        "stream",
        "chat",
        "/v1/chat/completions",
        {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}},
    ),
    ("stream", "responses", "/v1/responses", {"input": "Tell me a story.", "stream": True}),
    (
        "stream",
        "responses + tool",
        "/v1/responses",
        {"input": "Weather?", "tools": [TOOL], "stream": True},
    ),
]


async def one(app: SimApp, path: str, raw: bytes) -> int:
    """One request through the app; the bytes it answered with."""
    sent = 0
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent
        sent += len(message.get("body", b""))

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def rate(app: SimApp, path: str, body: dict[str, Any], seconds: float) -> float:
    """Requests per second, one at a time, for ``seconds``."""
    raw = json.dumps({"model": "sim-model", **body}).encode()
    assert await one(app, path, raw) > 0
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            await one(app, path, raw)
        count += 20
    return count / (time.perf_counter() - start)


def wrk_script(body: dict[str, Any]) -> str:
    text = json.dumps({"model": "sim-model", **body}).replace("'", "\\'")
    return (
        f"wrk.method = \"POST\"\nwrk.body = '{text}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def over_http() -> None:
    from bench_sim import run_wrk, start_sim  # the same wrk setup as the simulator's bench

    results: dict[str, float] = {}
    cases = [(name, path, body) for shape, name, path, body in CASES if shape == "whole"]
    with tempfile.TemporaryDirectory() as workdir, start_sim(SimConfig()) as sim:
        for _ in range(2):  # interleaved rounds, best of each: the machine may be shared
            for name, path, body in cases:
                script = Path(workdir) / "case.lua"
                script.write_text(wrk_script(body))
                result = run_wrk(sim.base_url.removesuffix("/v1") + path, script)
                if result.non_2xx:
                    raise RuntimeError(f"{name}: {result.non_2xx} answers were not 2xx")
                results[name] = max(results.get(name, 0.0), result.requests_per_second)
    print(f"\n{'over HTTP (wrk)':<25} {'req/s':>9} {'vs chat':>8}")
    for name, value in results.items():
        print(f"whole   {name:<17} {value:>9.0f} {value / results['chat']:>8.2f}")


async def main(quick: bool) -> None:
    seconds = 0.3 if quick else 1.0
    results: dict[tuple[str, str], float] = {}
    apps = [SimApp(SimConfig(output_tokens=16 if case[0] == "whole" else 100)) for case in CASES]
    for _ in range(3):  # rounds interleave the cases, so a busy moment hits them all alike
        for app, (shape, name, path, body) in zip(apps, CASES, strict=True):
            value = await rate(app, path, body, seconds)
            results[shape, name] = max(results.get((shape, name), 0.0), value)
    print(f"{'shape':<7} {'case':<17} {'req/s':>9} {'vs chat':>8}")
    for (shape, name), value in results.items():
        print(f"{shape:<7} {name:<17} {value:>9.0f} {value / results[shape, 'chat']:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    parser.add_argument("--http", action="store_true", help="also over HTTP, driven by wrk")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick))
    if arguments.http:
        over_http()
