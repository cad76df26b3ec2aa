"""The clients ``bench_batch.py`` compares, each run in a child process of its own.

A child runs one client over the input and prints one JSON line: when the run started and
ended (``time.monotonic``, shared with the parent on Linux), the CPU seconds the client
process used, the answers it wrote, and the simulator's counters at its start. Imports are
lazy: the curator child runs under another interpreter, which has aiohttp and curator but not
necessarily tenacity.

    python benchmarks/_batch_clients.py sluice-pinned --base-url URL --input in.jsonl ...
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "sim-model"
MAX_TOKENS = 16
# The baseline as users write it: the OpenAI cookbook's tenacity decorator, a round
# semaphore, and everything gathered at once.
BASELINE_CONCURRENCY = 100
BASELINE_ATTEMPTS = 6
_FILLER = (
    "Answer briefly and precisely, in plain words, citing the part of the question that "
    "matters most and leaving out everything that does not change the answer. "
) * 3

CLIENTS = ("sluice-pinned", "sluice-learned", "baseline", "curator", "curator-rpm")


def write_input(path: Path, count: int) -> None:
    """``count`` chat requests in the Batch API format, every body distinct."""
    with open(path, "w") as file:
        for i in range(count):
            body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"Question {i}. {_FILLER}"}],
                "max_tokens": MAX_TOKENS,
            }
            line = {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions"}
            file.write(json.dumps({**line, "body": body}) + "\n")


def read_bodies(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with open(path) as file:
        return [(row["custom_id"], row["body"]) for row in map(json.loads, file)]


def counters(base_url: str) -> dict[str, int]:
    """The simulator's response counters now: 200s, 429s, all, and tokens."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {"ok": 0, "limited": 0, "total": 0, "tokens": 0, "admitted": 0}
    for line in text.splitlines():
        if line.startswith(("sim_requests_active ", "sim_requests_queued ")):
            # Past the rate limit, not answered yet.
            out["admitted"] += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("sim_requests_total{"):
            value = int(float(line.rsplit(" ", 1)[1]))
            out["total"] += value
            out["ok"] += value if 'status="200"' in line else 0
            out["limited"] += value if 'status="429"' in line else 0
        elif line.startswith("sim_tokens_total{"):
            out["tokens"] += int(float(line.rsplit(" ", 1)[1]))
    out["admitted"] += out["ok"]
    return out


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# ---------------------------------------------------------------- the clients


async def run_sluice(args: argparse.Namespace, pinned: bool) -> int:
    import sluice.batch

    limits = {"rpm": args.rpm, "tpm": args.tpm or None} if pinned else {}
    result = await sluice.batch.run(
        args.input,
        Path(args.workdir) / "out.jsonl",
        base_url=args.base_url,
        api_key=args.key,
        progress_every=3600.0,
        **limits,
    )
    return result.done


async def run_baseline(args: argparse.Namespace) -> int:
    import aiohttp
    from tenacity import (
        retry,
        retry_if_exception_type,
        stop_after_attempt,
        wait_random_exponential,
    )

    class RateLimited(Exception):
        pass

    url = args.base_url + "/chat/completions"
    semaphore = asyncio.Semaphore(BASELINE_CONCURRENCY)
    out = open(Path(args.workdir) / "out.jsonl", "w")  # noqa: SIM115 - closed below

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {args.key}"}) as session:

        @retry(
            retry=retry_if_exception_type(RateLimited),
            wait=wait_random_exponential(min=1, max=60),
            stop=stop_after_attempt(BASELINE_ATTEMPTS),
        )
        async def complete(body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(url, json=body) as response:
                if response.status == 429:
                    raise RateLimited(await response.text())
                response.raise_for_status()
                answer: dict[str, Any] = await response.json()
                return answer

        async def one(custom_id: str, body: dict[str, Any]) -> int:
            async with semaphore:
                try:
                    answer = await complete(body)
                except Exception:
                    return 0
            out.write(json.dumps({"custom_id": custom_id, "response": answer}) + "\n")
            return 1

        rows = read_bodies(Path(args.input))
        try:
            done = await asyncio.gather(*(one(cid, body) for cid, body in rows))
        finally:
            out.close()
    return sum(done)


def prepare_curator(args: argparse.Namespace) -> Callable[[], int]:
    # curator counts tokens with tiktoken, which downloads its encodings on first use;
    # litellm (a dependency of curator) ships them in the cache layout tiktoken reads.
    litellm = importlib.util.find_spec("litellm")
    if litellm is not None and litellm.origin is not None:
        shipped = Path(litellm.origin).parent / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(shipped))
    from bespokelabs import curator

    limits = {"max_requests_per_minute": args.rpm}
    if args.tpm and args.client == "curator":
        limits["max_tokens_per_minute"] = args.tpm
    llm = curator.LLM(
        model_name=MODEL,
        backend="openai",
        generation_params={"max_tokens": MAX_TOKENS},
        backend_params={"base_url": args.base_url, "api_key": args.key, **limits},
    )
    prompts = [body["messages"][0]["content"] for _, body in read_bodies(Path(args.input))]

    def run() -> int:
        response = llm(prompts, working_dir=str(Path(args.workdir) / "curator"))
        return len(response.dataset)

    return run


# ---------------------------------------------------------------- the child


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="one client of bench_batch.py")
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rpm", type=int, required=True)
    parser.add_argument("--tpm", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ["OPENAI_API_KEY"] = args.key
    # Imports and set-up before the clock starts.
    if args.client.startswith("curator"):
        run = prepare_curator(args)
    elif args.client == "baseline":
        import aiohttp  # noqa: F401
        import tenacity  # noqa: F401

        def run() -> int:
            return asyncio.run(run_baseline(args))
    else:
        import sluice.batch  # noqa: F401

        def run() -> int:
            return asyncio.run(run_sluice(args, pinned=args.client == "sluice-pinned"))

    base = counters(args.base_url)
    cpu, started = cpu_seconds(), time.monotonic()
    done = run()
    ended, cpu = time.monotonic(), cpu_seconds() - cpu
    report = {"started": started, "ended": ended, "cpu": cpu, "done": done}
    print(json.dumps({**report, "base": base}), flush=True)


if __name__ == "__main__":
    child(sys.argv[1:])
