"""The simulator's JSON codec against the standard library's, on the bodies of bench_sim.py.

Why `sluice.sim` reads and writes JSON through orjson (`sim/_json.py`): for each request body
of `bench_sim.py`'s tool and schema rows, and for the answers those rows get, the time of the
standard library's path and of the simulator's, as a ratio measured in the same run (each
operation repeated in rounds; the median round counts). Two more: the check that sends a
body with a long number to the standard library (a byte translation, against a regular
expression), and the image that tells cached tool definitions apart (JSON, against marshal).

    python benchmarks/bench_sim_json.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import marshal
import re
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from _common import header, median, table
from bench_sim import WRK_ROWS
from sluice.openai import encode_json
from sluice.sim import SimApp, SimConfig
from sluice.sim._json import dumps, holds_long_number, loads

CALLS = 2_000
# What the long-number check of sim/_json.py would be as a regular expression.
LONG_NUMBER = re.compile(rb"[0-9]{19}")


def per_call(operation: Callable[[], object], rounds: int) -> float:
    """Median seconds of one call, over ``rounds`` rounds of `CALLS` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(CALLS):
            operation()
        times.append((time.perf_counter() - start) / CALLS)
    return median(times)


async def answer(path: str, body: bytes) -> bytes:
    """The simulator's answer to one request (in process, at zero latency)."""
    sent: list[MutableMapping[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:  # pragma: no cover - the app reads the body once
            raise RuntimeError("the body was read twice")
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await SimApp(SimConfig())(scope, receive, send)
    return b"".join(m.get("body", b"") for m in sent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    header("sim JSON: orjson path vs the standard library", "benchmarks/bench_sim_json.py")
    rows = []
    for name, _config, path, body in WRK_ROWS:
        if name == "chat" or ("tools" not in name and "schema" not in name):
            continue
        request = json.dumps(body, separators=(",", ":")).encode()
        reply = json.loads(asyncio.run(answer(path, request)))
        pairs = [
            ("read request", lambda r=request: json.loads(r.decode()), lambda r=request: loads(r)),
            ("write answer", lambda a=reply: encode_json(a), lambda a=reply: dumps(a)),
        ]
        pairs.append(
            (
                "long-number check",
                lambda r=request: LONG_NUMBER.search(r),
                lambda r=request: holds_long_number(r),
            )
        )
        if "tools" in name:
            tools = json.loads(request)["tools"]
            pairs.append(
                (
                    "image tools",
                    lambda t=tools: marshal.dumps([t, None]),
                    lambda t=tools: dumps([t, None]),
                )
            )
        for what, standard, ours in pairs:
            before = per_call(standard, args.rounds)
            after = per_call(ours, args.rounds)
            rows.append([name, what, f"{before / after:.1f}x"])
    table(rows, ["row", "operation", "standard / sim (time)"])


if __name__ == "__main__":
    main()
