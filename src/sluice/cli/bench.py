"""``sluice bench``: load tests of any endpoint; the strategy comparison is in `strategies`."""

from __future__ import annotations

from typing import Any

import click

from ..bench._load import Phase
from ..bench._schedule import ARRIVALS
from ..bench._simulator import SimulatorStartError, embedded_simulator
from ..bench._stats import Slo, parse_slo
from ..bench._sweep import SweepConfig
from ..bench._targets import DEFAULT_PROMPT, TargetSpec, check_url
from ..sim._config import MAX_OUTPUT_TOKENS, SimConfig
from ._body_options import body_options, pick_body
from ._checks import check_connections, check_rate, check_report_folder, check_workers
from ._params import (
    DURATION,
    LEVELS,
    REPORT_FOLDER,
    Interrupted,
    parse_headers,
    parse_sim_faults,
    pick_api,
    pick_levels,
    raise_file_limit,
)
from .strategies import strategies

__all__ = ["bench"]


@click.group()
def bench() -> None:
    """Measure: load-test an endpoint, or compare ways of making concurrent LLM calls.

    Reports go to a folder (default ./sluice-report): JSON with every figure, PNG plots and
    one self-contained index.html showing every report in the folder.
    """


@bench.command("load")
@click.argument("url", required=False)
@click.option(
    "-c", "--concurrency", type=LEVELS, help="Closed model: users per level, e.g. 50,100,200."
)
@click.option("-r", "--rate", type=LEVELS, help="Open model: requests/s per level, e.g. 100,200.")
@click.option(
    "--arrival",
    type=click.Choice(ARRIVALS),
    default="constant",
    show_default=True,
    help="Open model: evenly spaced or Poisson arrivals.",
)
@click.option(
    "-d", "--duration", type=DURATION, default=5.0, show_default=True, help="Measured per level."
)
@click.option(
    "-n",
    "--requests",
    type=click.IntRange(1, 10_000_000),
    help="Measure this many requests per level instead of a duration.",
)
@click.option(
    "--warmup",
    type=DURATION,
    default=1.0,
    show_default=True,
    help="Load before measuring, per level (excluded from every figure).",
)
@click.option(
    "--timeout",
    type=DURATION,
    default=30.0,
    show_default=True,
    help="Per request: the whole answer must arrive within it, else it is a timeout.",
)
@click.option(
    "--max-time",
    type=DURATION,
    default=120.0,
    show_default=True,
    help="With --requests: the longest a level may measure.",
)
@click.option(
    "--api",
    type=click.Choice(["auto", "chat", "http"]),
    default="auto",
    show_default=True,
    help="chat: POST URL/chat/completions (OpenAI-compatible); http: request URL as is. "
    "auto: chat when the URL ends in /v1.",
)
@click.option("--stream/--no-stream", default=False, help="Chat: stream (TTFT, TPOT, ITL, tok/s).")
@click.option("--slo", help="Goodput objectives, e.g. ttft=0.5,e2e=5 (seconds, or 500ms).")
@click.option("--model", default="sim-model", show_default=True, help="Chat: model name.")
@click.option("--prompt", default=DEFAULT_PROMPT, help="Chat: the user message sent.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Chat: max_tokens per request.")
@click.option(
    "--api-key",
    default="sk-bench",
    show_default=True,
    help="Chat: sent as 'Authorization: Bearer KEY'. Not read from the environment.",
)
@click.option("-H", "--header", multiple=True, help="Extra header 'Name: value' (repeatable).")
@body_options
@click.option(
    "--client",
    type=click.Choice(["aiohttp", "sluice"]),
    default="aiohttp",
    show_default=True,
    help="aiohttp: the generator's minimal client; sluice: sluice.llm.Client without retries "
    "or breaker (its gate still pauses after a 429/503 with Retry-After).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Generator processes (0: one per CPU; at most one per CPU); their raw samples are merged.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Open model: requests in flight at most; arrivals beyond are dropped and counted.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of Poisson arrivals.")
@REPORT_FOLDER
@click.option(
    "--sim-ttft",
    type=DURATION,
    default=0.05,
    show_default=True,
    help="Embedded simulator (no URL): time to first token.",
)
@click.option(
    "--sim-itl", type=DURATION, default=0.005, show_default=True, help="Simulator: per token."
)
@click.option(
    "--sim-tokens",
    type=click.IntRange(1, MAX_OUTPUT_TOKENS),
    default=16,
    show_default=True,
    help="Simulator: tokens per answer.",
)
@click.option(
    "--sim-max-concurrency",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Simulator: requests served at once (0: unlimited); beyond, they queue, then 429.",
)
@click.option(
    "--sim-fault", multiple=True, help="Simulator: fault NAME=P, e.g. 429=0.05 (repeatable)."
)
def load(url: str | None, **options: Any) -> None:
    """Load-test URL (default: an embedded simulator) at several levels of load.

    Closed model (--concurrency): N users, each sending its next request when the last one
    finished. Open model (--rate): requests arrive on a fixed schedule and latency runs from
    each one's scheduled send time (no coordinated omission); a level where the generator
    fell behind is marked invalid. Traffic goes only to URL (redirects are not followed).
    """
    from ..bench._console import make_console

    model, levels = pick_levels(options["concurrency"], options["rate"])
    api = pick_api(url, options["api"])
    if url is not None:
        try:
            check_url(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from None
    slo: Slo | None = None
    if options["slo"]:
        try:
            slo = parse_slo(options["slo"])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--slo") from None
        if slo.needs_stream and not options["stream"]:
            raise click.BadParameter("ttft and tpot objectives need --stream", param_hint="--slo")
    if options["stream"] and api != "chat":
        raise click.UsageError("--stream needs the chat API (a URL ending in /v1, or --api chat)")
    method, body, bodies = pick_body(options, api)
    if options["timeout"] <= 0:
        raise click.BadParameter("must be > 0", param_hint="--timeout")
    duration = None if options["requests"] else options["duration"]
    if duration is not None and duration <= 0:
        raise click.BadParameter("must be > 0", param_hint="--duration")
    workers = check_workers(options["workers"])
    if model == "closed":
        connections = int(max(levels))
        hint = "'-c' / '--concurrency'"
    else:
        check_rate(max(levels), processes=workers)
        connections = options["max_in_flight"]
        hint = "--max-in-flight"
    check_connections(connections, processes=workers, embedded=url is None, hint=hint)
    phase = Phase(
        warmup=options["warmup"],
        duration=duration,
        requests=options["requests"],
        timeout=options["timeout"],
        max_time=options["max_time"] or 120.0,
    )
    raise_file_limit(connections + 256)

    def make_spec(target_url: str) -> TargetSpec:
        return TargetSpec(
            url=target_url,
            api=api,
            stream=options["stream"],
            model=options["model"],
            prompt=options["prompt"],
            max_tokens=options["max_tokens"],
            method=method,
            body=body,
            bodies=bodies,
            headers=parse_headers(options["header"]),
            api_key=options["api_key"] or None,
            timeout=options["timeout"],
            client=options["client"],
            connections=connections,
        )

    # Reject a bad combination before anything starts.
    if url is None:
        sim_config = _sim_config(options)
    else:
        make_spec(url)
    check_report_folder(options["out"])
    console = make_console()
    if url is None:
        try:
            with embedded_simulator(sim_config) as sim:
                spec = make_spec(sim.base_url)
                target = {
                    "description": "embedded simulator: sluice sim "
                    + " ".join(sim_config.to_args()),
                    "url": spec.request_url,
                    "api": api,
                    "stream": spec.stream,
                    "client": spec.client,
                    "simulator": sim_config.to_args(),
                }
                outcome = _run_load(
                    model, levels, phase, spec, options, slo, workers, target, console
                )
        except SimulatorStartError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        spec = make_spec(url)
        target = {
            "description": spec.describe(),
            "url": spec.request_url,
            "api": api,
            "stream": spec.stream,
            "client": spec.client,
            "simulator": None,
        }
        if spec.bodies is not None:
            target["bodies"] = {"source": spec.bodies.source, "count": len(spec.bodies)}
        outcome = _run_load(model, levels, phase, spec, options, slo, workers, target, console)
    _finish(outcome)


def _sim_config(options: dict[str, Any]) -> SimConfig:
    try:
        return SimConfig(
            ttft=options["sim_ttft"],
            itl=options["sim_itl"],
            output_tokens=options["sim_tokens"],
            max_concurrency=options["sim_max_concurrency"],
            faults=parse_sim_faults(options["sim_fault"]),
        )
    except ValueError as exc:  # ConfigError is a ValueError
        raise click.BadParameter(str(exc), param_hint="--sim-*") from None


def _run_load(
    model: str,
    levels: tuple[float, ...],
    phase: Phase,
    spec: TargetSpec,
    options: dict[str, Any],
    slo: Slo | None,
    workers: int,
    target: dict[str, Any],
    console: Any,
) -> Any:
    from ..bench._commands import load_test

    config = SweepConfig(
        model=model,
        levels=levels,
        phase=phase,
        target=spec,
        arrival=options["arrival"],
        workers=workers,
        max_in_flight=options["max_in_flight"],
        slo=slo,
        seed=options["seed"],
    )
    what = "users" if model == "closed" else "requests/s"
    click.echo(
        f"sluice bench load: {model} model, {', '.join(f'{v:g}' for v in levels)} {what}; "
        f"target: {target['description']}"
    )
    return load_test(config, target=target, out=options["out"], console=console, echo=click.echo)


def _finish(outcome: Any) -> None:
    index = outcome.index
    click.echo(f"Report: {index}  (every figure: {index.parent / 'load.json'})")
    if outcome.error:
        raise click.ClickException(f"{outcome.error}. A report of this was written to {index}.")
    if outcome.interrupted:
        raise Interrupted(f"Interrupted: the partial report of what was measured is in {index}.")
    levels = outcome.data.get("levels") or []
    if outcome.data.get("stopped_early") and not any(lv["stats"]["successes"] for lv in levels):
        raise click.ClickException(f"no request succeeded: {outcome.data['stopped_early']}")


bench.add_command(strategies)
