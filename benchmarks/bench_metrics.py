"""What Prometheus metrics cost: one scrape of N gates, and a gate's construction.

A scrape reads one `Gate.statistics()` per gate and renders every family; its floor is taking
those N snapshots and nothing else, measured in the same run. Gates carry a concurrency limit,
a rate limit, retries, a breaker and a cache, and have run 1,000 calls each (full latency ring).

Nothing is added to a call's path: the only new work on a gate is joining the weak registry
once, when it is made. That is timed as `Gate(...)` against `Gate(...)` with registration
replaced by a no-op, in the same run.

    python benchmarks/bench_metrics.py [--gates N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
from unittest import mock

import prometheus_client

import sluice
import sluice._gate
from _common import header, median, table, timed
from sluice.observe._prometheus import register_metrics


def make_gate(index: int) -> sluice.Gate:
    return sluice.Gate(
        f"gate-{index}",
        concurrency=16,
        rate=sluice.Rate(rps=1e9, burst=1000),
        retry=3,
        breaker=sluice.Breaker(),
        cache=True,
    )


def _no_registration(gate: object) -> None:
    return None


async def echo(x: int) -> int:
    return x


async def warm(gates: list[sluice.Gate]) -> None:
    for gate in gates:
        await asyncio.gather(*(gate.run(echo, i) for i in range(1000)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gates", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--constructions", type=int, default=5000)
    args = parser.parse_args()
    header(
        "Prometheus metrics: scrape cost, and a gate's registration",
        f"python benchmarks/bench_metrics.py --gates {args.gates} --rounds {args.rounds}",
    )
    gates = [make_gate(i) for i in range(args.gates)]
    asyncio.run(warm(gates))
    registry = prometheus_client.CollectorRegistry()
    register_metrics(registry, gates=gates)

    def snapshots() -> None:
        for gate in gates:
            gate.statistics()

    def construct() -> None:
        for _ in range(args.constructions):
            sluice.Gate("bench", concurrency=16, retry=3)

    def construct_unregistered() -> None:
        with mock.patch.object(sluice._gate, "register", _no_registration):
            construct()

    variants = {
        f"{args.gates} x gate.statistics() (floor)": snapshots,
        f"scrape of {args.gates} gates (generate_latest)": lambda: generate(registry),
        f"{args.constructions} x Gate(...), registration a no-op": construct_unregistered,
        f"{args.constructions} x Gate(...), registered": construct,
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            seconds[name].append(timed(run))
    names = list(variants)
    rows = [[name, f"{median(seconds[name]) * 1e3:.2f} ms"] for name in names]
    table(rows, ["variant", "median"])
    scrape = median(seconds[names[1]])
    floor = median(seconds[names[0]])
    per_gate = scrape / args.gates * 1e6
    print(f"   scrape: {per_gate:.1f} us per gate, {scrape / floor:.2f}x the snapshots alone")
    unregistered, registered = median(seconds[names[2]]), median(seconds[names[3]])
    print(f"   Gate(...) with registration: {registered / unregistered:.3f}x without")
    print(f"   exposition size: {len(generate(registry))} bytes for {args.gates} gates")


def generate(registry: prometheus_client.CollectorRegistry) -> bytes:
    return prometheus_client.generate_latest(registry)


if __name__ == "__main__":
    main()
