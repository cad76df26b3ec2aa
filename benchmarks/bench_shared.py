"""What sharing a gate's state through Redis costs, and what it buys, measured in one run.

1. Latency: ``await gate.run(noop)`` one call at a time, a shared gate against a local one
   with the same policies (a rate too high to bind, concurrency 64, a breaker), p50 and p99
   per call; the added p50 is compared with a Redis PING's p50 (redis-py, same run): one round
   trip. Target: shared p50 - local p50 <= 0.3 ms on loopback. Rounds alternate the variants;
   each figure is the median over the rounds.
2. Decisions per second: 64 coroutines calling ``gate.run(noop)`` back to back in one
   process, then in each of four processes (aggregate), shared against local. Target: >= 10k
   shared decisions/s from one process. A bare EVALSHA of ``return 1`` from as many
   coroutines shows what redis-py allows one process. "round trips" is EVALSHA calls
   (admissions, lease polls, outcome batches; from Redis's INFO commandstats) per decision.
   The shared store has its default pool (64 connections; callers past that wait their turn).
3. Budget utilisation: the simulator with ``--rpm 600`` (zero latency), four worker processes
   for ``--seconds``, each sending chat completions (sluice.llm.Client, no retries) as fast
   as its gate allows, in three configurations: (a) one shared ``Rate(rpm=600)`` through
   Redis, (b) a static split, ``Rate(rpm=150)`` per process, (c) ``Rate(rpm=600)`` per
   process, unshared; then with one process busy and three idle: (d) shared, (e) the static
   split. Each gate also has concurrency 16 (shared in (a), (d)). Every configuration
   uses an API key of its own, whose bucket on the simulator is first emptied (as if the key
   had been busy) and refills for 0.2 s before the start, so the server allows
   600 x seconds / 60 + 3 requests in the window (the 3: what it holds at the start). Utilisation
   = successes / that. Target for (a): >= 95 % with 0 server 429s. A 429 pauses a gate for the
   Retry-After (1 s); no wait outlasts the window.

Run:  .venv/bin/python benchmarks/bench_shared.py [--seconds 30] [--rounds 5] [--calls 2000]
      [--decide-seconds 1.5] [--redis redis://host:port/db]
--seconds: the utilisation window (5 to 300); --rounds: latency rounds (part 2 runs half as
many); --calls: calls per latency round; --decide-seconds: per decisions/s cell; --redis: an
existing server (default: a private redis-server on a random loopback port, stopped after;
without one the benchmark says so and exits). About three minutes with the defaults (--seconds
10: about one and a half). Machines are shared and noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
import time
from collections.abc import Awaitable, Callable

import redis.asyncio

import sluice
from _common import header, median, table
from _shared_budget import budget
from _shared_workers import (
    WORKERS,
    decide,
    decisions,
    evalsha_calls,
    forget,
    leases_left,
    noop,
    run_workers,
)
from sluice.bench._redis import RedisUnavailable, bench_redis
from sluice.stores import RedisState

CALLERS = 64
PREFIX = f"sluice-bench-{os.getpid()}"


def policies(shared: RedisState | None, name: str, *, rate_only: bool = False) -> sluice.Gate:
    """The gate of parts 1 and 2: a rate too high to bind, concurrency 64, a breaker."""
    rate = sluice.Rate(rps=1e9, burst=1000)
    if rate_only:
        return sluice.Gate(name, rate=rate, shared=shared)
    return sluice.Gate(name, rate=rate, concurrency=64, breaker=sluice.Breaker(), shared=shared)


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# ---------------------------------------------------------------- 1. latency
async def latency(url: str, rounds: int, calls: int) -> None:
    client = redis.asyncio.Redis.from_url(url)
    store = RedisState(url, prefix=PREFIX)
    gates = [policies(None, "latency"), policies(store, "latency")]
    gates.append(policies(store, "latency-rate-only", rate_only=True))

    async def ping() -> None:
        await client.ping()

    def through(gate: sluice.Gate) -> Callable[[], Awaitable[None]]:
        return lambda: gate.run(noop)

    variants = {
        "local gate": through(gates[0]),
        "shared gate": through(gates[1]),
        "shared gate, rate only (no lease to release)": through(gates[2]),
        "Redis PING (redis-py)": ping,
    }
    p50s: dict[str, list[float]] = {name: [] for name in variants}
    p99s: dict[str, list[float]] = {name: [] for name in variants}
    for call in variants.values():
        for _ in range(200):  # connections, scripts loaded, caches warm
            await call()
    names = list(variants)
    for round_ in range(rounds):
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            call = variants[name]
            samples = []
            for _ in range(calls):
                began = time.perf_counter()
                await call()
                samples.append(time.perf_counter() - began)
            p50, p99 = quantiles(samples)
            p50s[name].append(p50)
            p99s[name].append(p99)
    for gate in gates:
        await gate.aclose()
    await store.aclose()
    await client.aclose()
    figures = {name: (median(p50s[name]) * 1e3, median(p99s[name]) * 1e3) for name in variants}
    print(f"\n1. Latency per call, c=1, {calls} calls x {rounds} rounds (medians of the rounds)")
    table(
        [[name, f"{p50:.3f}", f"{p99:.3f}"] for name, (p50, p99) in figures.items()],
        ["variant", "p50 ms", "p99 ms"],
    )
    added = figures["shared gate"][0] - figures["local gate"][0]
    trip = figures["Redis PING (redis-py)"][0]
    verdict = "meets" if added <= 0.3 else "MISSES"
    print(
        f"   added by sharing: {added:.3f} ms p50 = {added / trip:.2f}x a PING round trip "
        f"({trip:.3f} ms); {verdict} the 0.3 ms target"
    )


# ---------------------------------------------------------------- 2. decisions per second
async def timed_decisions(gate: sluice.Gate, seconds: float) -> tuple[int, float]:
    """Decisions made by CALLERS coroutines in about ``seconds``, and the seconds taken."""
    began = time.monotonic()
    done = await decide(gate, CALLERS, began + seconds)
    return done, time.monotonic() - began


async def bare_evalsha(url: str, seconds: float) -> float:
    """EVALSHA of a script that returns at once, from CALLERS coroutines, per second: what
    the client library allows one process, whatever the script does."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=CALLERS)
    client = redis.asyncio.Redis.from_pool(pool)
    sha = await client.script_load("return 1")
    end = time.monotonic() + seconds
    done = 0

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < end:
            await client.evalsha(sha, 0)
            done += 1

    began = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    took = time.monotonic() - began
    await client.aclose()
    return done / took


async def one_process(url: str, seconds: float, rounds: int) -> list[list[str]]:
    store = RedisState(url, prefix=PREFIX)
    local, shared = policies(None, "decisions"), policies(store, "decisions")
    await shared.run(noop)
    rates: dict[str, list[float]] = {"local": [], "shared": [], "bare": []}
    calls = made = 0
    for _ in range(rounds):
        rates["bare"].append(await bare_evalsha(url, seconds))
        done, took = await timed_decisions(local, seconds)
        rates["local"].append(done / took)
        before = evalsha_calls(url)
        done, took = await timed_decisions(shared, seconds)
        calls += evalsha_calls(url) - before
        made += done
        rates["shared"].append(done / took)
    stats = shared.statistics().shared
    degraded = 0 if stats is None else stats.degraded_admissions
    for gate in (shared, local):
        await gate.aclose()
    await store.aclose()
    base = median(rates["local"])
    trips = calls / made
    return [
        ["1 process, local", f"{base:,.0f}", "1.00x", "-", "-"],
        [
            "1 process, shared",
            f"{median(rates['shared']):,.0f}",
            f"{median(rates['shared']) / base:.3f}x",
            f"{trips:.2f}",
            str(degraded),
        ],
        [
            "1 process, bare EVALSHA (redis-py)",
            f"{median(rates['bare']):,.0f}",
            f"{median(rates['bare']) / base:.3f}x",
            "1.00",
            "-",
        ],
    ]


def four_processes(url: str | None, seconds: float, evalsha_url: str) -> tuple[float, str, int]:
    """Aggregate decisions/s of WORKERS processes, EVALSHA calls per decision, degraded ones.
    Shared: 4 x 64 leases, so its concurrency limit binds no more than the local ones."""
    job = {"name": f"{PREFIX}-decisions", "seconds": seconds, "callers": CALLERS}
    job.update(redis=url, prefix=PREFIX, concurrency=CALLERS * (WORKERS if url else 1))
    before = evalsha_calls(evalsha_url)
    reports = run_workers(decisions, [job] * WORKERS, None)
    total = sum(r["decisions"] for r in reports)
    rate = total / max(r["seconds"] for r in reports)
    trips = (evalsha_calls(evalsha_url) - before) / total if url else 0.0
    return rate, f"{trips:.2f}" if url else "-", sum(r["degraded"] for r in reports)


def throughput(url: str, seconds: float, rounds: int) -> None:
    rows = asyncio.run(one_process(url, seconds, rounds))
    local, _, _ = four_processes(None, seconds, url)
    shared, trips, degraded = four_processes(url, seconds, url)
    rows.append([f"{WORKERS} processes, local", f"{local:,.0f}", "1.00x", "-", "-"])
    ratio = f"{shared / local:.3f}x"
    rows.append([f"{WORKERS} processes, shared", f"{shared:,.0f}", ratio, trips, str(degraded)])
    print(f"\n2. Decisions per second, {CALLERS} callers per process, rate not binding")
    table(rows, ["where", "decisions/s", "vs local", "round trips", "degraded"])
    figure = float(rows[1][1].replace(",", ""))
    verdict = "meets" if figure >= 10_000 else "MISSES"
    print(f"   shared, one process: {figure:,.0f}/s; {verdict} the 10k/s target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="utilisation window (s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of parts 1 and 2")
    parser.add_argument("--calls", type=int, default=2000, help="calls per latency round")
    parser.add_argument("--decide-seconds", type=float, default=1.5, help="per throughput cell")
    parser.add_argument("--redis", help="an existing Redis URL (default: a private server)")
    args = parser.parse_args()
    if not 5 <= args.seconds <= 300 or not 1 <= args.rounds <= 20:
        parser.error("--seconds must be in [5, 300] and --rounds in [1, 20]")
    header("Shared gate state through Redis", shlex.join([sys.executable, *sys.argv]))
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(bench_redis(args.redis))
        except RedisUnavailable as exc:  # run_all.py goes on with the other benchmarks
            print(f"   skipped: {exc}")
            return
        print(f"   redis: {'given' if args.redis else 'private redis-server'} at {url}")
        try:
            asyncio.run(latency(url, args.rounds, args.calls))
            throughput(url, args.decide_seconds, max(1, args.rounds // 2))
            budget(url, args.seconds, PREFIX)
            print(f"\n   leases left in Redis after every gate closed: {leases_left(url, PREFIX)}")
        finally:
            forget(url, PREFIX)
    print(f"   total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
