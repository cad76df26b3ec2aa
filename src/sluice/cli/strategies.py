"""``sluice bench strategies``: six ways of making the same LLM calls, compared, and a
seventh: four processes sharing one limit through Redis."""

from __future__ import annotations

from pathlib import Path

import click

from ..bench._simulator import SimulatorStartError
from ._checks import MAX_CALLS, MAX_POOL, check_report_folder
from ._params import REPORT_FOLDER, DurationType, Interrupted, parse_agent_steps

__all__ = ["strategies"]

# A call of more than a minute shows nothing a shorter one does not, and keeps the whole
# comparison (2 x calls x latency at most per strategy) within what a process can wait for.
MAX_CALL_LATENCY = 60.0


@click.command("strategies")
@click.option(
    "--calls", type=click.IntRange(1, MAX_CALLS), default=20, show_default=True, help="LLM calls."
)
@click.option(
    "--latency",
    type=DurationType(maximum=MAX_CALL_LATENCY),
    default=1.0,
    show_default=True,
    help=f"Simulated latency of each call (before --quick; at most {MAX_CALL_LATENCY:g} s).",
)
@click.option("--quick", is_flag=True, help="Scale every latency by 0.1 (a run of seconds).")
@click.option(
    "--width",
    type=click.IntRange(1, MAX_POOL),
    help=f"Threads, processes and calls in flight (default: --calls; at most {MAX_POOL}).",
)
@click.option(
    "--agent-steps",
    default="8.29,6.96",
    show_default=True,
    help="Multi-agent case: seconds of each independent step (before --quick).",
)
@click.option(
    "--redis",
    metavar="URL",
    help="Redis for the shared-state row, e.g. redis://127.0.0.1:6379/0 (default: a "
    "redis-server started on a random loopback port for the run, when one is installed).",
)
@REPORT_FOLDER
def strategies(
    calls: int,
    latency: float,
    quick: bool,
    width: int | None,
    agent_steps: str,
    redis: str | None,
    out: Path,
) -> None:
    """Compare six ways of making the same LLM calls, against the embedded simulator.

    Sequential, a thread pool, asyncio.gather over async defs that block (the classic
    mistake), run_in_executor, a sluice Gate with the async client, and a process pool; then
    the calls split between four processes whose gates share one limit through Redis, with
    the 429s of a service that takes --width calls at once counted (needs --redis or an
    installed redis-server; otherwise the row says so); then two independent agent steps run
    one after the other and concurrently. Each strategy runs in a fresh process, which
    reports its wall time, CPU time and peak memory.
    """
    from ..bench._commands import strategies_test
    from ..bench._console import make_console
    from ..bench._strategies import StrategyConfig

    if latency <= 0:
        raise click.BadParameter("must be > 0", param_hint="--latency")
    if redis is not None and not redis.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter(
            "must be a Redis URL such as redis://127.0.0.1:6379/0", param_hint="--redis"
        )
    if width is None and calls > MAX_POOL:
        raise click.BadParameter(
            f"the pools would start {calls} threads and processes (--width defaults to "
            f"--calls); give --width of at most {MAX_POOL}",
            param_hint="--calls",
        )
    config = StrategyConfig(
        calls=calls,
        latency=latency,
        width=width,
        agent_steps=parse_agent_steps(agent_steps),
        scale=0.1 if quick else 1.0,
    )
    check_report_folder(out)
    try:
        outcome = strategies_test(
            config, out=out, console=make_console(), echo=click.echo, redis=redis
        )
    except SimulatorStartError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Report: {outcome.index}  (every figure: {outcome.index.parent / 'strategies.json'})"
    )
    if outcome.interrupted:
        raise Interrupted(f"Interrupted: the partial report is in {outcome.index}.")
