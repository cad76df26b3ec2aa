"""Part 3 of bench_shared.py: how much of a server's request budget four processes use, and
how many 429s they draw, with one shared rate limit, a static split, or none shared; and,
when one process is busy and three idle, what the shared limit and the static split leave.

    budget(redis_url, seconds=30.0, prefix="sluice-bench-1234")
"""

from __future__ import annotations

import asyncio
import shlex
import time
from typing import Any

import aiohttp

from _common import table
from _shared_workers import WORKERS, run_workers, utilisation
from sluice.sim import SimConfig, SimMetrics, SimProcess

RPM = 600
ALLOWANCE = 3  # requests in the server's bucket at the start: < 1 after the drain, + 0.2 s
REFILL = 0.15  # seconds from the drain to the start signal (run_workers adds 0.05 s)
# (tag, label, rpm per gate, shared, busy processes): the busy ones send, the others idle.
CONFIGS = (
    ("a", "shared Rate(rpm=600) through Redis", RPM, True, WORKERS),
    ("b", "static split: Rate(rpm=150) per process", RPM // WORKERS, False, WORKERS),
    ("c", "unshared: Rate(rpm=600) per process", RPM, False, WORKERS),
    ("d", "1 busy, 3 idle: shared Rate(rpm=600)", RPM, True, 1),
    ("e", "1 busy, 3 idle: static split Rate(rpm=150)", RPM // WORKERS, False, 1),
)
HEAD = ["configuration", "ok", "429 seen", "server 200/429", "utilisation", "degraded", "other"]


async def drain(base_url: str, key: str) -> None:
    """Empty ``key``'s request bucket on the simulator: send until it answers 429."""
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    headers = {"authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            url = base_url + "/chat/completions"
            async with session.post(url, json=body, headers=headers) as reply:
                await reply.read()
                return reply.status

        for _ in range(4 * RPM // 32):  # bounded: the bucket holds RPM requests
            if 429 in await asyncio.gather(*(one() for _ in range(32))):
                return
    raise RuntimeError(f"the simulator never answered 429 for {key}")


def _configuration(
    sim: SimProcess,
    url: str,
    seconds: float,
    prefix: str,
    config: tuple[str, str, int, bool, int],
) -> tuple[list[str], float, int]:
    """One configuration: its table row, its utilisation and its server 429s."""
    tag, label, rpm, shared, busy = config
    key = f"sk-{prefix}-{tag}"
    marks: list[SimMetrics] = []

    def empty_the_bucket() -> None:
        asyncio.run(drain(sim.base_url, key))
        time.sleep(REFILL)
        marks.append(sim.metrics())

    job: dict[str, Any] = {"url": sim.base_url, "key": key, "rpm": rpm, "seconds": seconds}
    job.update(name=f"{prefix}-budget-{tag}", concurrency=16, callers=4)
    job.update(redis=url if shared else None, prefix=prefix)
    jobs = [job if worker < busy else {**job, "callers": 0} for worker in range(WORKERS)]
    reports = run_workers(utilisation, jobs, empty_the_bucket)
    after = sim.metrics()
    counts: dict[str, int] = {}
    for report in reports:
        for name, value in report.items():
            counts[name] = counts.get(name, 0) + value
    served = after.status_count(200) - marks[0].status_count(200)
    refused = after.status_count(429) - marks[0].status_count(429)
    ok, seen, degraded = counts.pop("ok", 0), counts.pop("429", 0), counts.pop("degraded", 0)
    rest = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "-"
    share = ok / (RPM * seconds / 60 + ALLOWANCE)
    print(f"   ({tag}) {ok} ok, {refused} server 429s", flush=True)
    row = [f"({tag}) {label}", str(ok), str(seen), f"{served}/{refused}", f"{share:.1%}"]
    return [*row, str(degraded), rest], share, refused


def budget(url: str, seconds: float, prefix: str) -> None:
    allowed = RPM * seconds / 60 + ALLOWANCE
    print(f"\n3. Budget utilisation: {WORKERS} processes for {seconds:g} s", flush=True)
    rows, shares, refusals = [], [], []
    with SimProcess(SimConfig(rpm=RPM)) as sim:
        command = shlex.join(["sluice", "sim", *sim.args])
        for config in CONFIGS:
            row, share, refused = _configuration(sim, url, seconds, prefix, config)
            rows.append(row)
            shares.append(share)
            refusals.append(refused)
    print(f"   against `{command}`; allowed = {RPM} x {seconds:g} / 60 + {ALLOWANCE} = {allowed:g}")
    table(rows, HEAD)
    verdict = "meets" if shares[0] >= 0.95 and refusals[0] == 0 else "MISSES"
    print(
        f"   (a): {shares[0]:.1%} of the allowed requests, {refusals[0]} server 429s; "
        f"{verdict} the target (>= 95 %, 0 server 429s)"
    )
