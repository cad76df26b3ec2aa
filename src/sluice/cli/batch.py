"""``sluice run``: a file of Batch API requests to the end, resumable after any stop.

    sluice run requests.jsonl --base-url https://api.openai.com/v1 --output answers.jsonl
    sluice run requests.jsonl --config run.toml          # the settings in a TOML file

On a terminal the progress is a live panel (with ``rich``); otherwise, or with
``--no-panel``, a line on stderr every ``--progress-every`` seconds.

Exit codes: 0 everything answered, 1 some requests failed (see the failed file) or the run
stopped early (``--max-failures``, ``--max-cost``), 2 a usage error (bad option, changed
input, a model without a price under ``--max-cost``), 130 interrupted (resumable).
``--dry-run`` prints what a run would send and cost, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .._errors import ConfigError
from ..batch import BatchResult, Progress, parse_max_failures, run_ray
from ..batch import run as run_batch
from ._batch_config import ConfigFileError, load_config
from ._params import DURATION, Interrupted

__all__ = ["run"]


def _max_failures(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        parse_max_failures(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _echo_progress(progress: Progress) -> None:
    click.echo(progress.line(), err=True)


_API_KEY = "sluice.api_key"


def _config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Eager: the file's settings become the defaults the other options start from."""
    if value is None:
        return None
    try:
        settings = load_config(value)
    except ConfigFileError as exc:
        raise click.BadParameter(str(exc)) from None
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    ctx.default_map = {**(ctx.default_map or {}), **settings.defaults}
    ctx.meta[_API_KEY] = settings.api_key
    return value


def _api_key(ctx: click.Context, api_key_env: str) -> str | None:
    """``--api-key-env`` given on the command line, else the file's api_key, else the
    variable the file (or the default) names."""
    from_file = ctx.meta.get(_API_KEY)
    given = ctx.get_parameter_source("api_key_env") == click.core.ParameterSource.COMMANDLINE
    if from_file is not None and not given:
        return str(from_file)
    return os.environ.get(api_key_env) or None


@contextlib.contextmanager
def _reporter(
    no_panel: bool, input: Path, output: Path, every: float
) -> Iterator[tuple[Callable[[Progress], None], float]]:
    """The progress callback and its period: a live panel on a terminal, else lines."""
    if no_panel or not sys.stderr.isatty():
        yield _echo_progress, every
        return
    try:
        from rich.console import Console

        from ._batch_panel import PANEL_EVERY, BatchPanel
    except ModuleNotFoundError:  # rich comes with the bench extra: lines without it
        yield _echo_progress, every
        return
    with BatchPanel(Console(stderr=True), str(input), str(output)) as panel:
        yield panel.update, PANEL_EVERY


@click.command("run")
@click.argument("input", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_config,
    help="A TOML file of settings (base_url, api_key or api_key_env, rpm, tpm, concurrency, "
    "...); flags given here win over it.",
)
@click.option("--base-url", required=True, help="The API root, e.g. https://api.openai.com/v1.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Answers are appended here; the journal and failed file are named after it.",
)
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="The environment variable holding the API key (none sent if it is unset).",
)
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True), help="Pin requests/min.")
@click.option("--tpm", type=click.FloatRange(min=0, min_open=True), help="Pin tokens/min.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Fixed limit (default: adaptive).")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Send again the requests an earlier run recorded as failed for good (400, 404...).",
)
@click.option(
    "--max-failures",
    callback=_max_failures,
    metavar="N|P%",
    help="Stop sending after N failures, or when P% of the finished requests failed.",
)
@click.option("--no-dedup", is_flag=True, help="Send repeated bodies once per custom_id.")
@click.option(
    "--ordered",
    is_flag=True,
    help="Write the output in input order (answers that come early are held).",
)
@click.option(
    "--ordered-hold",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --ordered: at most N requests taken and not yet written (default: 8 times "
    "the window, 128 or --concurrency).",
)
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A SQLite file keeping successful answers across runs: a request asked again "
    "(same base URL, url and body) is answered from it without sending.",
)
@click.option("--no-panel", is_flag=True, help="Progress lines, not the live panel.")
@click.option(
    "--shared",
    metavar="REDIS_URL",
    help="Share the limits with every runner on this Redis sending to the same base URL "
    "(needs aiosluice[redis]).",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0, min_open=True),
    metavar="USD",
    help="Stop sending before the spending (from the answers' usage) could pass USD; "
    "the requests in flight finish. Every model needs a price (built in, or --prices).",
)
@click.option(
    "--prices",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help='Prices over the built-in table, JSON or TOML: {"model": {"input": USD, '
    '"output": USD}} per 1M tokens.',
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Send nothing: say what would be sent (after resume and dedup), the tokens and "
    "the cost range.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    metavar="[ADDRESS]",
    help="Spread the job over a Ray cluster (needs aiosluice[ray]): this machine's, or the "
    "one at ADDRESS. With --workers > 1 give --shared, or --rpm/--tpm (then divided).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="With --ray: the shards, one async actor each (default 2; keep it to resume).",
)
@click.option(
    "--progress-every",
    type=DURATION,
    default=5.0,
    show_default=True,
    help="Seconds between progress lines (on stderr; the panel redraws 4 times a second).",
)
@click.pass_context
def run(
    ctx: click.Context,
    input: Path,
    base_url: str,
    output: Path,
    api_key_env: str,
    rpm: float | None,
    tpm: float | None,
    concurrency: int | None,
    retry_failed: bool,
    max_failures: str | None,
    no_dedup: bool,
    ordered: bool,
    ordered_hold: int | None,
    cache: Path | None,
    no_panel: bool,
    shared: str | None,
    max_cost: float | None,
    prices: Path | None,
    dry_run: bool,
    ray_address: str | None,
    workers: int | None,
    progress_every: float,
) -> None:
    """Send every request of INPUT (OpenAI Batch API JSONL, or plain bodies) that has no
    answer in OUTPUT yet, at the provider's limits. Run it again to resume: answered ids are
    never sent twice. Ctrl-C stops sending and lets what is in flight finish."""
    if workers is not None and ray_address is None:
        raise click.UsageError("--workers spreads a job over Ray: give --ray too")
    options: dict[str, Any] = {
        "base_url": base_url,
        "api_key": _api_key(ctx, api_key_env),
        "rpm": rpm,
        "tpm": tpm,
        "concurrency": concurrency or "auto",
        "retry_failed": retry_failed,
        "max_failures": max_failures,
        "dedup": not no_dedup,
        "ordered": ordered,
        "ordered_hold": ordered_hold,
        "cache": cache,
        "shared": shared,
        "max_cost": max_cost,
        "prices": prices,
        "dry_run": dry_run,
    }
    if ray_address is not None:  # the same job on Ray: the address and workers, then run's
        options["on_ray"] = {"address": ray_address or None}
        if workers is not None:
            options["on_ray"]["workers"] = workers
    try:
        with _reporter(no_panel or dry_run, input, output, progress_every) as (progress, every):
            result = asyncio.run(
                _run(input, output, progress=progress, progress_every=every, **options)
            )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise Interrupted("stopped: run the same command again to resume") from None
    if result.estimate is not None:
        click.echo(result.summary())
        sys.exit(0)
    click.echo(result.summary(), err=True)
    if result.failed or result.malformed:
        click.echo(f"failures are listed in {result.failed_path}", err=True)
    if result.stopped == "interrupted":
        raise Interrupted("interrupted: run the same command again to resume")
    sys.exit(0 if result.succeeded else 1)


async def _run(
    input: Path, output: Path, on_ray: dict[str, object] | None = None, **options: object
) -> BatchResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        # The next Ctrl-C raises KeyboardInterrupt: a stop at once, the journal consistent.
        loop.remove_signal_handler(signal.SIGINT)
        click.echo(
            "stopping: finishing the requests in flight (Ctrl-C again to stop now)", err=True
        )
        stop.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        loop.add_signal_handler(signal.SIGINT, interrupt)

    def notice(message: str) -> None:
        click.echo(message, err=True)

    if on_ray is not None:  # the same job on Ray: the workers and address, then run's arguments
        options.update(on_ray)
    runner = run_batch if on_ray is None else run_ray
    try:
        return await runner(
            input,
            output,
            notice=notice,
            stop_event=stop,
            **options,  # type: ignore[arg-type]
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)
