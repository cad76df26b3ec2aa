"""``sluice demo``: what a Gate changes, measured on this machine in a few seconds."""

from __future__ import annotations

import asyncio

import click

from ..bench import _scenarios as scenarios


def _section(title: str) -> None:
    click.echo()
    click.secho(title, bold=True)
    click.echo("-" * len(title))


async def _run() -> None:
    _section("1. Blocking calls inside async code (two agent steps, 0.83 s and 0.70 s)")
    blocking = await scenarios.blocking_calls((0.83, 0.70))
    click.echo(
        f"  asyncio.gather over async defs that block : {blocking.naive_s:5.2f} s"
        f"  (sum of the calls: {blocking.total:.2f} s; they ran one after the other)"
    )
    click.echo(
        f"  the same functions through gate.run       : {blocking.gated_s:5.2f} s"
        f"  ({blocking.gated_s / blocking.longest:.2f}x the longest call: they overlapped)"
    )

    _section("2. Rate-limited fan-out (40 calls, Rate(rps=20, burst=5), concurrency 8)")
    fan = await scenarios.rate_limited_fan_out()
    click.echo(f"  elapsed {fan.elapsed_s:.2f} s  (GCRA schedule predicts {fan.expected_s:.2f} s)")
    click.echo(f"  peak calls in flight      : {fan.peak_in_flight} (limit {fan.concurrency})")
    click.echo(
        f"  most starts in any second : {fan.max_starts_per_second} "
        f"(rate {fan.rps:g}/s + burst {fan.burst})"
    )

    _section("3. A flaky upstream, then an outage (attempt timeout 0.2 s)")
    flaky = await scenarios.flaky_upstream()
    click.echo(
        f"  {flaky.calls} calls, {flaky.failure_rate:.0%} transient failures: "
        f"{flaky.plain_successes} succeed without retries, "
        f"{flaky.retried_successes} with Retry(attempts=4)"
    )
    click.echo(
        f"  {flaky.outage_calls} calls to a hung upstream: {flaky.outage_without_breaker_s:.2f} s "
        f"of timeouts without a breaker, {flaky.outage_with_breaker_s:.2f} s with one "
        f"({flaky.rejected_fast} rejected at once)"
    )


@click.command()
def demo() -> None:
    """Show what a Gate buys you, measured on this machine."""
    click.secho(
        "sluice demo: every figure below was measured just now, on this machine.", bold=True
    )
    asyncio.run(_run())
    click.echo()
    click.echo("Next: `make test` runs the test suite; benchmarks/ holds the benchmarks.")
