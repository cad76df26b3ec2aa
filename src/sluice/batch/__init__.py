"""sluice.batch: run a file of LLM requests to the end, at the provider's limit, surviving
``kill -9`` without losing an answer or paying for one twice.

The input is the OpenAI Batch API format (``{"custom_id", "method", "url", "body"}`` per
line, or plain request bodies); the output is the Batch API's output format, one line per
answered ``custom_id``, in completion order (or in input order: ``ordered=True``). A SQLite
journal beside the output (``OUTPUT.journal.sqlite``) records what became of each id: running
the same call again resumes, sending only what has no answer yet. Failures (malformed lines,
400s, context length, anything not retryable once the gate's retries are spent) go to
``OUTPUT.failed.jsonl`` and the run goes on. Needs the ``http`` extra (aiohttp).

    result = await sluice.batch.run("requests.jsonl", "answers.jsonl",
                                    base_url="https://api.openai.com/v1", api_key=key)
    print(result.summary())
    result = sluice.batch.run_sync("requests.jsonl", "answers.jsonl", base_url=url)  # sync

``max_cost=`` stops sending before the spending (from the answers' usage, prices from a
built-in table or ``prices=``) could pass a sum; ``dry_run=True`` sends nothing and says what
a run would send and cost.

From the shell: ``sluice run requests.jsonl --base-url URL --output answers.jsonl``.
On a Ray cluster (extra ``ray``): `run_ray`, or ``sluice run ... --ray``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from .. import run_sync as _run_sync
from ..llm import Client
from ..stores import Store
from ._estimate import Estimate
from ._input import ENDPOINTS, Malformed, Request, read_input
from ._options import BatchOptions, parse_max_failures
from ._prices import BUILTIN_PRICES, Price, PricesSource
from ._ray import run_ray
from ._result import BatchResult, Progress
from ._runner import run_batch
from ._spend import DEFAULT_OUTPUT_TOKENS

__all__ = [
    "BUILTIN_PRICES",
    "DEFAULT_OUTPUT_TOKENS",
    "ENDPOINTS",
    "BatchResult",
    "Estimate",
    "Malformed",
    "Price",
    "Progress",
    "Request",
    "parse_max_failures",
    "read_input",
    "run",
    "run_ray",
    "run_sync",
]


async def run(
    input: str | Path,
    output: str | Path,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    concurrency: int | str | None = "auto",
    window: int | None = None,
    retry_failed: bool = False,
    max_failures: int | str | None = None,
    dedup: bool = True,
    client: Client | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 5.0,
    notice: Callable[[str], None] | None = None,
    stop_event: asyncio.Event | None = None,
    shared: str | None = None,
    max_cost: float | None = None,
    prices: PricesSource | None = None,
    dry_run: bool = False,
    ordered: bool = False,
    ordered_hold: int | None = None,
    cache: str | Path | Store | None = None,
) -> BatchResult:
    """Send every request of ``input`` that has no answer in ``output`` yet.

    Args:
        input: a JSONL file of Batch API requests or plain bodies.
        output: the JSONL file answers are appended to; its journal and failed file are
            named after it (``OUTPUT.journal.sqlite``, ``OUTPUT-stem.failed.jsonl``).
        base_url, api_key: the API (``https://api.openai.com/v1``); or ``client=`` a
            `sluice.llm.Client` of your own, whose gate then sets the limits.
        rpm, tpm: pin the request and token rates (default: learned from the server's
            ``x-ratelimit-*`` headers).
        concurrency: ``"auto"`` (adaptive, the default) or a fixed limit.
        window: requests taken from the input at once (default: ``concurrency``, or 128).
        retry_failed: send again the requests an earlier run recorded as failed for good
            (400, 401, 404...); those that failed for a passing reason (429, 5xx, timeout)
            are always tried again.
        max_failures: stop sending once this many requests failed (``10``) or this share
            of the finished ones did (``"5%"``, checked from 20 finished on); malformed
            lines do not count.
        dedup: send a body repeated under several custom_ids once, and write its answer for
            each of them.
        progress: called with a `Progress` every ``progress_every`` seconds and at the end.
        notice: called with messages for the user (plain lines given ids, a torn output
            line repaired); default: the ``sluice.batch`` logger.
        stop_event: set it to stop sending; requests in flight finish and the journal is
            left ready to resume.
        shared: a Redis URL: every runner on it sending to the same base URL shares the
            limits (rate, concurrency, breaker, cooldown after a 429).
        max_cost: USD this run may spend: no request is sent whose cost (estimated, with the
            answers' usage settling it) could take the spending past it; the requests in flight
            finish; ``stopped`` then starts with ``"max cost"``. Every model sent needs a price.
        prices: a JSON or TOML file (or a mapping) of ``{"model": {"input": usd_per_1M,
            "output": usd_per_1M}}`` over the built-in table (`BUILTIN_PRICES`).
        dry_run: send nothing and write nothing: the result's ``estimate`` says what would
            be sent (after resume and dedup), the tokens and the cost range.
        ordered: write the output in input order: an answer that arrives early is held
            until the ones before it are written (or failed).
        ordered_hold: with ``ordered``, at most this many requests are taken and not yet
            written (default ``8 * window``), so memory stays bounded; a kill -9 may send
            that many again.
        cache: a file path (a SQLite cache, made if missing) or a `sluice.stores` store:
            successful answers are kept there, keyed by the base URL and the request's
            url and body, and a later run asking the same is answered without sending.

    Raises:
        ConfigError: bad arguments (a bad prices file, ``max_cost`` with a model that has
            no price), one custom_id with two different bodies, or an input that no longer
            matches the journal (start a new output, or delete the old output and its
            journal).
    """
    # run's parameters are BatchOptions.make's, one for one (tests/batch/test_options.py
    # pins it), so they are forwarded whole rather than listed a third time.
    return await run_batch(BatchOptions.make(**locals()))


def run_sync(input: str | Path, output: str | Path, **options: object) -> BatchResult:
    """`run` from synchronous code (a script, a notebook cell); same arguments.

    result = sluice.batch.run_sync("in.jsonl", "out.jsonl", base_url=url, rpm=500)
    """
    return _run_sync(lambda: run(input, output, **options))  # type: ignore[arg-type]
