"""The seventh row of ``sluice bench strategies``: four processes sharing one limit through
Redis, with the 429s of the service counted.

It needs a Redis: the URL given (``--redis``), else a private ``redis-server`` started for the
row on a random loopback port and stopped after it. Without either (or without the redis
client), the row is not run and says how to enable it; nothing fails. A named Redis that does
not answer fails the row (only the row).

The row has a simulator of its own, with the same latency as the other rows but a capacity:
it serves at most ``width`` calls at once and answers 429 to any call beyond (no queue), so
any moment the four processes together exceeded the shared limit would show as a 429.

    row = shared_row(20, 20, 0.1, redis=None, run_child=run_child, timeout=60.0)
    row["server_429"], row.get("skipped")
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from typing import Any

from ._redis import RedisUnavailable, bench_redis
from ._shared_child import shares
from ._simulator import SimulatorStartError, embedded_simulator

__all__ = ["SHARED", "explain_shared", "shared_row"]

SHARED = ("shared", "7. four processes, one limit shared through Redis")

RunChild = Callable[[dict[str, Any], float], dict[str, Any]]


def _capacity_sim(latency: float, width: int) -> Any:
    from sluice.sim import SimConfig

    return SimConfig(ttft=latency, max_concurrency=width, max_queue=0, overflow_status=429)


def explain_shared(row: dict[str, Any], calls: int, width: int) -> str:
    """Why the shared row lands where it does, and what the service said."""
    parts = row.get("shares") or shares(calls)
    refused = row.get("server_429")
    text = (
        f"{len(parts)} processes ({' + '.join(map(str, parts))} calls) keep at most {width} "
        "calls in flight between them: the leases live in Redis, one round trip per call. "
        f"The service takes {width} at once and answers 429 beyond: "
        f"{'?' if refused is None else refused} did."
    )
    if row.get("degraded"):
        text += f" {row['degraded']} admissions fell back to local limits (Redis unreachable)."
    return text


def shared_row(
    calls: int,
    width: int,
    latency: float,
    *,
    redis: str | None,
    run_child: RunChild,
    timeout: float,
) -> dict[str, Any]:
    """``calls`` calls of ``latency`` seconds, at most ``width`` in flight, measured as the
    shared strategy (see the module docstring); its row of the report."""
    name, label = SHARED
    row: dict[str, Any] = {"name": name, "label": label, "wall_s": None}
    prefix = f"sluice-bench-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(bench_redis(redis))
            sim = stack.enter_context(embedded_simulator(_capacity_sim(latency, width)))
            before = sim.metrics().status_count(429)
            job = {"url": sim.base_url, "calls": calls, "width": width}
            job.update(timeout=timeout, strategy=name, redis=url, prefix=prefix)
            result = run_child(job, timeout)
            row.update(result)
            row["server_429"] = sim.metrics().status_count(429) - before
    except RedisUnavailable as exc:
        if redis is not None:  # a Redis was named: that it does not answer is a failure
            row.update(ok=False, error=str(exc))
            return row
        row.update(ok=False, skipped=str(exc), error=None)
        return row
    except (SimulatorStartError, OSError) as exc:
        row.update(ok=False, error=str(exc))
    row["redis"] = "given" if redis else "private redis-server"
    if not row.get("ok"):
        row["wall_s"] = None
    return row
