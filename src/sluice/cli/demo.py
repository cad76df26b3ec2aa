"""``sluice demo``: what concurrency buys on this machine, measured, with a report to open."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from ._checks import MAX_POOL, check_connections, check_report_folder
from ._params import DURATION, LEVELS, REPORT_FOLDER, Interrupted, raise_file_limit


def _section(title: str) -> None:
    click.echo()
    click.secho(title, bold=True)
    click.echo("-" * len(title))


async def _policies() -> None:
    from ..bench import _scenarios as scenarios

    fan = await scenarios.rate_limited_fan_out()
    click.echo(
        f"  Rate-limited fan-out, 40 calls, Rate(rps={fan.rps:g}, burst={fan.burst}), "
        f"concurrency {fan.concurrency}: {fan.elapsed_s:.2f} s "
        f"(GCRA schedule predicts {fan.expected_s:.2f} s), peak in flight {fan.peak_in_flight}, "
        f"most starts in a second {fan.max_starts_per_second}"
    )
    flaky = await scenarios.flaky_upstream()
    click.echo(
        f"  Flaky upstream, {flaky.calls} calls, {flaky.failure_rate:.0%} transient failures: "
        f"{flaky.plain_successes} succeed without retries, {flaky.retried_successes} with "
        "Retry(attempts=4)"
    )
    click.echo(
        f"  Hung upstream, {flaky.outage_calls} calls: {flaky.outage_without_breaker_s:.2f} s of "
        f"timeouts without a breaker, {flaky.outage_with_breaker_s:.2f} s with one "
        f"({flaky.rejected_fast} rejected at once)"
    )
    stalled = await scenarios.stalled_loop()
    caught = stalled.stalls[0] if stalled.stalls else None
    if caught is None:
        click.echo(f"  Blocked loop ({stalled.blocked_s:g} s): the watchdog saw no stall")
    else:
        click.echo(
            f"  Blocked loop: sluice.observe.watch_loop caught a {caught.duration:.2f} s stall "
            f"in {caught.blocking}"
        )


@click.command()
@REPORT_FOLDER
@click.option(
    "--calls",
    type=click.IntRange(1, MAX_POOL),
    default=20,
    show_default=True,
    help="LLM calls in the strategy comparison (its pools start one thread or process each).",
)
@click.option(
    "-c",
    "--concurrency",
    type=LEVELS,
    default="10,50,100,200",
    show_default=True,
    help="Users per level of the load test through the sluice client.",
)
@click.option(
    "-d",
    "--duration",
    type=DURATION,
    default=2.0,
    show_default=True,
    help="Measured seconds per load level.",
)
@click.option(
    "--policies/--no-policies",
    default=True,
    show_default=True,
    help="Also show a rate-limited fan-out and a circuit breaker at work (about 10 s).",
)
def demo(
    out: Path, calls: int, concurrency: tuple[float, ...], duration: float, policies: bool
) -> None:
    """Show what concurrency buys on this machine, and write a report to open.

    Starts the embedded simulator, compares six ways of making the same LLM calls and a
    seventh, four processes sharing one limit through Redis when redis-server is installed
    (`sluice bench strategies --quick`), runs a short closed-model load test through the
    sluice client (`sluice bench load --client sluice`), prints the tables and writes
    OUT/index.html with the plots. Everything talks to 127.0.0.1 only.
    """
    from ..bench._commands import load_test, strategies_test
    from ..bench._console import make_console
    from ..bench._load import Phase
    from ..bench._simulator import SimulatorStartError, embedded_simulator
    from ..bench._strategies import StrategyConfig
    from ..bench._sweep import SweepConfig
    from ..bench._targets import TargetSpec
    from ..sim import SimConfig

    if duration <= 0:
        raise click.BadParameter("must be > 0", param_hint="--duration")
    if any(level != int(level) for level in concurrency):
        raise click.BadParameter("users are whole numbers", param_hint="--concurrency")
    users = int(max(concurrency))
    check_connections(users, processes=1, embedded=True, hint="'-c' / '--concurrency'")
    check_report_folder(out)
    started = time.perf_counter()
    console = make_console()
    click.secho("sluice demo: every figure below is measured now, on this machine.", bold=True)

    _section(
        f"1. The same {calls} LLM calls, six ways, then four processes sharing one limit "
        "(simulated latency 0.1 s per call)"
    )
    try:
        strategies = strategies_test(
            StrategyConfig(calls=calls, scale=0.1), out=out, console=console, echo=click.echo
        )
    except SimulatorStartError as exc:
        raise click.ClickException(str(exc)) from None
    if strategies.interrupted:
        raise Interrupted(f"Interrupted: the partial report is in {strategies.index}.")

    levels = ", ".join(f"{level:g}" for level in concurrency)
    _section(f"2. Load test through the sluice client: {levels} concurrent users")
    sim_config = SimConfig(ttft=0.1, itl=0.005, output_tokens=16)
    raise_file_limit(users + 256)
    try:
        with embedded_simulator(sim_config) as sim:
            spec = TargetSpec(sim.base_url, client="sluice", connections=users)
            config = SweepConfig(
                model="closed",
                levels=concurrency,
                phase=Phase(warmup=0.5, duration=duration, timeout=10.0),
                target=spec,
            )
            target = {
                "description": "embedded simulator (sluice sim "
                + " ".join(sim_config.to_args())
                + ") through sluice.llm.Client",
                "url": spec.request_url,
                "api": "chat",
                "stream": False,
                "client": "sluice",
                "simulator": sim_config.to_args(),
            }
            load = load_test(
                config,
                target=target,
                out=out,
                console=console,
                echo=click.echo,
                command="sluice demo",
            )
    except SimulatorStartError as exc:
        raise click.ClickException(str(exc)) from None
    if load.interrupted:
        raise Interrupted(f"Interrupted: the partial report is in {load.index}.")
    if load.error:
        raise click.ClickException(load.error)

    if policies:
        _section("3. The gate's policies at work")
        asyncio.run(_policies())

    click.echo()
    click.echo(f"Done in {time.perf_counter() - started:.0f} s.")
    click.secho(f"Report: {load.index}  (tables, plots; every figure in {out}/*.json)", bold=True)
    click.echo("Point the same commands at a real endpoint (traffic goes only where you point it):")
    click.echo(
        '  sluice bench load https://YOUR-ENDPOINT/v1 --api-key "$KEY" --model MODEL -c 2,4,8'
    )
    click.echo(
        "  sluice bench load https://YOUR-ENDPOINT/v1 --rate 1,2,4 --stream --slo ttft=1,e2e=10"
    )
