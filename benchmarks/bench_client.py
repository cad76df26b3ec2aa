"""How much does `sluice.llm.Client` cost over raw aiohttp, and how does it compare with the
OpenAI SDK? Measured in one run, against the simulator in a child process.

1. Throughput: non-streamed chat completions at zero simulated latency, closed loop, at
   concurrency 1, 10 and 100, for a raw aiohttp loop, `sluice.llm.Client` (its default gate:
   concurrency limit, retries, breaker, attempt timeout) and `openai.AsyncOpenAI`. Requests/s,
   p50 and p99 per cell; cells are run in rotating order, ``--rounds`` times, and the medians
   are reported. Targets: the client >= 0.9x raw aiohttp, and >= 3x the SDK at concurrency 100.
2. Little's law: 1,000 requests at concurrency 200 against 1 s of simulated latency should
   take 1000 / 200 x 1 s = 5 s; target within 10 %.

Run:  .venv/bin/python benchmarks/bench_client.py [--seconds 2] [--rounds 3]
The simulator is pinned to CPU 0 and this process to CPU 1 where possible. Traffic goes to
127.0.0.1 only; every phase is time-bounded; the whole run takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import openai

from sluice.llm import Client
from sluice.sim import SimConfig, SimProcess

SIM_CPU = 0
CLIENT_CPU = 1
KEY = "sk-bench"
MODEL = "sim-model"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CONCURRENCIES = (1, 10, 100)
LITTLE_REQUESTS = 1000
LITTLE_CONCURRENCY = 200
LITTLE_LATENCY = 1.0

ALL_CPUS: set[int] = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()

Call = Callable[[], Awaitable[object]]


@dataclass
class Cell:
    requests: int
    seconds: float
    latencies: list[float]
    cpu: float  # seconds of this process's CPU time during the measured window

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / max(1, self.requests)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def closed_loop(call: Call, concurrency: int, seconds: float, warmup: float) -> Cell:
    """``concurrency`` workers calling back to back; only calls started after the warm-up
    and finished before the end count."""
    clock = time.perf_counter
    start = clock()
    measure_from = start + warmup
    until = measure_from + seconds
    latencies: list[float] = []
    cpu_marks: list[float] = []

    async def mark(at: float) -> None:
        await asyncio.sleep(at - clock())
        cpu_marks.append(time.process_time())

    async def worker() -> None:
        while (began := clock()) < until:
            await call()
            ended = clock()
            if began >= measure_from and ended <= until:
                latencies.append(ended - began)

    await asyncio.wait_for(
        asyncio.gather(mark(measure_from), mark(until), *(worker() for _ in range(concurrency))),
        timeout=warmup + seconds + 60,
    )
    return Cell(len(latencies), seconds, latencies, cpu_marks[1] - cpu_marks[0])


# ---------------------------------------------------------------- the three clients
class RawAiohttp:
    """The floor: one pooled session; per call, the body encoded and the answer decoded (the
    work any client must do), and nothing else."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url + "/chat/completions"
        self.headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def call(self) -> object:
        body = json.dumps({"model": MODEL, "messages": MESSAGES, "max_tokens": 16}).encode()
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            data = json.loads(await response.read())
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return data["choices"][0]["message"]["content"]

    async def close(self) -> None:
        await self.session.close()


class Sluice:
    """The client as it comes: concurrency limit, retries, breaker, attempt timeout."""

    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url, api_key=KEY)

    async def call(self) -> object:
        result = await self.client.chat(model=MODEL, messages=MESSAGES, max_tokens=16)
        return result.text

    async def close(self) -> None:
        await self.client.aclose()


class SluiceLean(Sluice):
    """The client with only its concurrency limit: what the other policies cost."""

    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url, api_key=KEY, retry=None, timeout=None, breaker=None)


class OpenAISDK:
    def __init__(self, base_url: str) -> None:
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)

    async def call(self) -> object:
        response = await self.client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=16,
        )
        return response.choices[0].message.content

    async def close(self) -> None:
        await self.client.close()


CLIENTS: dict[str, Callable[[str], RawAiohttp | Sluice | OpenAISDK]] = {
    "raw aiohttp": RawAiohttp,
    "sluice.llm.Client": Sluice,
    "sluice, limit only": SluiceLean,
    "openai.AsyncOpenAI": OpenAISDK,
}


async def throughput(base_url: str, seconds: float, rounds: int) -> dict[tuple[str, int], Cell]:
    cells: dict[tuple[str, int], list[Cell]] = {}
    names = list(CLIENTS)
    for round_ in range(rounds):
        for concurrency in CONCURRENCIES:
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                client = CLIENTS[name](base_url)
                try:
                    cell = await closed_loop(client.call, concurrency, seconds, warmup=0.5)
                finally:
                    await client.close()
                cells.setdefault((name, concurrency), []).append(cell)
                print(
                    f"  round {round_ + 1} c={concurrency:<3} {name:<20} {cell.rate:>8,.0f} req/s",
                    file=sys.stderr,
                )
    # The median round of each cell, by rate.
    return {key: sorted(runs, key=lambda c: c.rate)[len(runs) // 2] for key, runs in cells.items()}


async def littles_law(base_url: str) -> tuple[float, int]:
    """Wall time of LITTLE_REQUESTS calls through one client at LITTLE_CONCURRENCY."""
    async with Client(
        base_url, api_key=KEY, max_connections=LITTLE_CONCURRENCY, timeout=60.0
    ) as client:
        await client.chat(model=MODEL, messages=MESSAGES, max_tokens=1)  # warm the pool
        remaining = LITTLE_REQUESTS
        failures = 0

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                try:
                    await client.chat(model=MODEL, messages=MESSAGES, max_tokens=16)
                except Exception:
                    failures += 1

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(LITTLE_CONCURRENCY))), timeout=60
        )
        return time.perf_counter() - started, failures


def start_sim(config: SimConfig) -> SimProcess:
    return SimProcess(config, cpus={SIM_CPU} if SIM_CPU in ALL_CPUS else None)


def sim_command(sim: SimProcess) -> str:
    prefix = f"taskset -c {SIM_CPU} " if sim.cpus else ""
    return prefix + shlex.join(sim.command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per cell")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every cell")
    args = parser.parse_args()
    if not 0.5 <= args.seconds <= 10 or not 1 <= args.rounds <= 3:
        parser.error("--seconds must be in [0.5, 10] and --rounds in [1, 3] (bounded run time)")
    if CLIENT_CPU in ALL_CPUS and len(ALL_CPUS) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    command = shlex.join([sys.executable, *sys.argv])
    print(f"# sluice.llm.Client benchmark\n\ncommand: {command}")
    versions = f"aiohttp {aiohttp.__version__}, openai {openai.__version__}"
    print(f"python {sys.version.split()[0]}, {versions}, event loop: asyncio\n")

    with start_sim(SimConfig()) as sim:
        print(f"simulator (zero latency): {sim_command(sim)}\n")
        cells = asyncio.run(throughput(sim.base_url, args.seconds, args.rounds))
    print(f"## 1. Throughput, closed loop, {args.seconds:g} s per cell, median of {args.rounds}\n")
    print("| concurrency | client | requests/s | p50 ms | p99 ms | client CPU us/request |")
    print("|---|---|---|---|---|---|")
    for concurrency in CONCURRENCIES:
        for name in CLIENTS:
            cell = cells[(name, concurrency)]
            print(
                f"| {concurrency} | {name} | {cell.rate:,.0f} | {cell.percentile(0.5) * 1e3:.2f} "
                f"| {cell.percentile(0.99) * 1e3:.2f} | {cell.cpu_per_request * 1e6:.0f} |"
            )
    print(
        "\n| concurrency | sluice / raw aiohttp, req/s (target >= 0.9) | same, by CPU per "
        "request | sluice / openai, req/s (target >= 3 at 100) |"
    )
    print("|---|---|---|---|")
    for concurrency in CONCURRENCIES:
        ours = cells[("sluice.llm.Client", concurrency)]
        raw = cells[("raw aiohttp", concurrency)]
        sdk = cells[("openai.AsyncOpenAI", concurrency)]
        print(
            f"| {concurrency} | {ours.rate / raw.rate:.2f}x "
            f"| {raw.cpu_per_request / ours.cpu_per_request:.2f}x | {ours.rate / sdk.rate:.1f}x |"
        )
    lean = [
        f"c={c} {cells[('sluice, limit only', c)].rate / cells[('raw aiohttp', c)].rate:.2f}x"
        for c in CONCURRENCIES
    ]
    print(f"\nsluice with its concurrency limit only / raw aiohttp, req/s: {', '.join(lean)}")

    config = SimConfig(ttft=LITTLE_LATENCY)
    with start_sim(config) as sim:
        print(f"\nsimulator ({LITTLE_LATENCY:g} s latency): {sim_command(sim)}\n")
        wall, failures = asyncio.run(littles_law(sim.base_url))
    ideal = LITTLE_REQUESTS / LITTLE_CONCURRENCY * LITTLE_LATENCY
    print(f"## 2. Little's law: {LITTLE_REQUESTS} requests, concurrency {LITTLE_CONCURRENCY}\n")
    print("| ideal | measured | overhead (target <= 10 %) | failures |")
    print("|---|---|---|---|")
    print(f"| {ideal:.2f} s | {wall:.2f} s | {wall / ideal - 1:+.1%} | {failures} |")


if __name__ == "__main__":
    main()
