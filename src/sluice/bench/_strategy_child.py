"""One strategy of ``sluice bench strategies``, run in a fresh process of its own.

`main` (run as ``python -c ... '<json job>'``, see `CHILD_COMMAND`) imports what the strategy
needs, then measures only the strategy: wall time, CPU time (this process and any child it
reaped) and memory: peak resident set size (this process's ``ru_maxrss``, plus, for the
process pool, the peak RSS each pool process reported for itself) and, on Linux, the
proportional set size (PSS: pages shared between processes divided among them), which does
not count the pages a forked pool shares with its parent once per process as RSS does. The
last line printed is the result as JSON.

The blocking client is the standard library's ``urllib.request``; the async client is
`sluice.llm.Client`. Traffic goes only to the URL in the job (the embedded simulator).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from ._memory import peak_rss, pss

__all__ = ["CHILD_COMMAND", "blocking_chat", "main"]

CHILD_COMMAND = (
    "import sys; from sluice.bench._strategy_child import main; sys.exit(main(sys.argv))"
)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _body(max_tokens: int) -> bytes:
    message = {"role": "user", "content": "Summarise the plot of a short story."}
    return json.dumps(
        {"model": "sim-model", "messages": [message], "max_tokens": max_tokens}
    ).encode()


def blocking_chat(url: str, max_tokens: int = 1, timeout: float = 60.0) -> str:
    """One chat completion with urllib (blocks the calling thread until the answer is in)."""
    request = urllib.request.Request(
        url.rstrip("/") + "/chat/completions",
        data=_body(max_tokens),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read())
    return str(data["choices"][0]["message"]["content"])


def _call_in_process(url: str, timeout: float) -> tuple[int, int, int]:
    """A pool process makes one call and reports its pid, its own peak RSS and its PSS."""
    blocking_chat(url, 1, timeout)
    return os.getpid(), peak_rss(), pss()


def _sequential(job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(job["calls"]):
        blocking_chat(job["url"], 1, job["timeout"])
    return {}


def _threads(job: dict[str, Any]) -> dict[str, Any]:
    with ThreadPoolExecutor(job["width"]) as pool:
        list(pool.map(lambda _: blocking_chat(job["url"], 1, job["timeout"]), range(job["calls"])))
    return {"threads": job["width"]}


def _gather_blocking(job: dict[str, Any]) -> dict[str, Any]:
    async def step() -> str:
        # The classic mistake, on purpose: a blocking call inside `async def` holds the loop.
        return blocking_chat(job["url"], 1, job["timeout"])

    async def run() -> None:
        await asyncio.gather(*(step() for _ in range(job["calls"])))

    asyncio.run(run())
    return {}


def _executor(job: dict[str, Any]) -> dict[str, Any]:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        calls = (
            loop.run_in_executor(None, blocking_chat, job["url"], 1, job["timeout"])
            for _ in range(job["calls"])
        )
        await asyncio.gather(*calls)

    asyncio.run(run())
    # What the default executor of asyncio uses (ThreadPoolExecutor's default size).
    return {"threads": min(32, (os.cpu_count() or 1) + 4)}


def _sluice(job: dict[str, Any]) -> dict[str, Any]:
    import sluice
    from sluice import llm

    async def run() -> None:
        message = {"role": "user", "content": "Summarise the plot of a short story."}
        async with (
            sluice.Gate("llm", concurrency=job["width"], timeout=job["timeout"]) as gate,
            llm.Client(job["url"], api_key="sk-bench", gate=gate) as client,
        ):
            calls = (
                client.chat(model="sim-model", messages=[message], max_tokens=1)
                for _ in range(job["calls"])
            )
            await asyncio.gather(*calls)

    asyncio.run(run())
    return {"in_flight": job["width"]}


def _processes(job: dict[str, Any]) -> dict[str, Any]:
    import multiprocessing

    peaks: dict[int, int] = {}
    shares: dict[int, int] = {}
    with ProcessPoolExecutor(job["width"]) as pool:
        args = [job["url"]] * job["calls"], [job["timeout"]] * job["calls"]
        for pid, peak, pss in pool.map(_call_in_process, *args):
            peaks[pid] = max(peak, peaks.get(pid, 0))
            shares[pid] = max(pss, shares.get(pid, 0))
    return {
        "processes": len(peaks),
        "pool_peak_rss": sum(peaks.values()),
        "pool_pss": sum(shares.values()),
        "start_method": multiprocessing.get_start_method(),
    }


def _shared(job: dict[str, Any]) -> dict[str, Any]:
    from ._shared_child import run_shared

    return run_shared(job)


def _agents(job: dict[str, Any]) -> dict[str, Any]:
    import sluice

    url, timeout, tokens = job["url"], job["timeout"], job["step_tokens"]
    walls: dict[str, float] = {}

    start = time.perf_counter()
    for count in tokens:
        blocking_chat(url, count, timeout)
    walls["sequential"] = time.perf_counter() - start

    async def step(count: int) -> str:
        return blocking_chat(url, count, timeout)  # blocks the loop: the steps serialise

    async def naive() -> None:
        await asyncio.gather(*(step(count) for count in tokens))

    start = time.perf_counter()
    asyncio.run(naive())
    walls["gather_blocking"] = time.perf_counter() - start

    async def gated() -> None:
        async with sluice.Gate("agents", concurrency=len(tokens)) as gate:
            await asyncio.gather(
                *(gate.run(blocking_chat, url, count, timeout) for count in tokens)
            )

    start = time.perf_counter()
    asyncio.run(gated())
    walls["gate"] = time.perf_counter() - start
    return {"walls": walls}


RUNNERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sequential": _sequential,
    "threads": _threads,
    "gather_blocking": _gather_blocking,
    "executor": _executor,
    "sluice": _sluice,
    "processes": _processes,
    "shared": _shared,
    "agents": _agents,
}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job's strategy; wall, CPU and memory figures around it."""
    runner = RUNNERS[job["strategy"]]
    if job["strategy"] in ("sluice", "agents", "shared"):
        import sluice.llm  # noqa: F401 - imported before measuring, like the others' urllib
    if job["strategy"] == "shared":
        import redis.asyncio  # noqa: F401 - likewise; forked processes inherit it
    baseline = peak_rss()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    ok, error = True, None
    try:
        extra = runner(job)
    except Exception as exc:  # reported, not raised: the parent shows it in the table
        ok, error, extra = False, f"{type(exc).__name__}: {exc}", {}
    wall = time.perf_counter() - wall0
    cpu = _cpu_seconds() - cpu0
    peak = peak_rss() + int(extra.pop("pool_peak_rss", 0))
    own = pss()
    proportional = own + int(extra.pop("pool_pss", 0)) if own else 0
    return {
        "ok": ok,
        "error": error,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss": peak,
        "baseline_rss": baseline,
        "pss": proportional or None,
        **extra,
    }


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    print(json.dumps(measure(job)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
