"""The simulator's command line: ``sluice sim`` and ``python -m sluice.sim`` are this command.

It belongs to the simulator (the ``sim`` extra brings click), so the simulator runs as a
program of its own; the ``sluice`` command group only registers it.

    main(["--port", "8000", "--ttft", "200ms"])   # serves until interrupted
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from .._errors import ConfigError
from ._config import load_config
from ._server import serve_forever

__all__ = ["DEFAULTS", "main", "sim"]

_DURATION = "DURATION"

# Shown in --help only (every setting defaults to "not given", so a TOML file can set it);
# a test keeps these in step with SimConfig.
DEFAULTS: dict[str, str] = {
    "ttft": "0",
    "prefill_per_token": "0",
    "itl": "0",
    "jitter": "constant",
    "jitter_cv": "0",
    "load_factor": "1",
    "load_batch": "0",
    "max_concurrency": "0",
    "max_queue": "100",
    "overflow_status": "429",
    "retry_after": "1",
    "rpm": "0",
    "tpm": "0",
    "burst": "1",
    "error_rate": "0",
    "max_hang": "300",
    "slow_itl": "0.1",
    "output_tokens": "16",
    "tokens_per_chunk": "1",
    "context_length": "128000",
    "embedding_dim": "256",
    "models": "sim-model, sim-embedding",
    "seed": "0",
    "max_body_bytes": "16777216",
    "max_header_bytes": "65536",
    "max_embedding_values": "1048576",
    "header_timeout": "10",
    "body_timeout": "60",
}


def _help(text: str, field: str) -> str:
    return f"{text}  [default: {DEFAULTS[field]}]"


def _parse_faults(values: tuple[str, ...]) -> dict[str, float]:
    """``--fault`` values: each one ``NAME=P`` or a comma list of them (``429=0.05,500=0.02``);
    a later item for the same fault wins."""
    faults: dict[str, float] = {}
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue  # "429=0.1," or a doubled comma: nothing to read
            name, sep, probability = item.partition("=")
            try:
                if not sep or not name.strip():
                    raise ValueError
                faults[name.strip()] = float(probability)
            except ValueError:
                raise click.BadParameter(
                    f"expected NAME=PROBABILITY (e.g. 429=0.05), got {item.strip()!r}"
                    + (f" in {value!r}" if item != value else ""),
                    param_hint="--fault",
                ) from None
    return faults


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML file with any of the settings below (keys as the flags, with _ or -); "
    "flags override it.",
)
@click.option(
    "--ttft",
    metavar=_DURATION,
    help=_help("Prefill overhead before the first token (seconds, or 20ms, 1.5s, 2m).", "ttft"),
)
@click.option(
    "--prefill-per-token",
    metavar=_DURATION,
    help=_help("Extra time to first token per prompt token.", "prefill_per_token"),
)
@click.option("--itl", metavar=_DURATION, help=_help("Inter-token latency.", "itl"))
@click.option(
    "--jitter",
    type=click.Choice(["constant", "normal", "lognormal"]),
    help=_help("Latency distribution (normal is clamped).", "jitter"),
)
@click.option(
    "--jitter-cv", type=float, help=_help("Coefficient of variation of the jitter.", "jitter_cv")
)
@click.option(
    "--load-factor",
    type=float,
    help=_help("Latency multiplier when --load-batch requests are active.", "load_factor"),
)
@click.option(
    "--load-batch",
    type=int,
    help=_help(
        "Active requests at which --load-factor applies; 0: --max-concurrency.", "load_batch"
    ),
)
@click.option(
    "--max-concurrency",
    type=int,
    help=_help("Requests served at once; 0: unlimited.", "max_concurrency"),
)
@click.option("--max-queue", type=int, help=_help("Requests waiting for a slot.", "max_queue"))
@click.option(
    "--overflow-status",
    type=click.Choice(["429", "503"]),
    help=_help("Status when the queue is full.", "overflow_status"),
)
@click.option(
    "--retry-after",
    metavar=_DURATION,
    help=_help("Retry-After of 429/503/529 faults and of overflow.", "retry_after"),
)
@click.option("--rpm", type=int, help=_help("Requests per minute per API key; 0: none.", "rpm"))
@click.option("--tpm", type=int, help=_help("Tokens per minute per API key; 0: none.", "tpm"))
@click.option(
    "--burst",
    metavar=_DURATION,
    help=_help(
        "Seconds of --rpm/--tpm a key may spend back to back (providers enforce a minute's "
        "limit over short intervals); 60s: a whole minute's budget at once.",
        "burst",
    ),
)
@click.option(
    "--error-rate", type=float, help=_help("Probability of a 500 on any request.", "error_rate")
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME=P",
    help="Probability of a fault, repeatable or comma-separated (429=0.05,500=0.02): 400, 429, "
    "500, 503, 529, hang, stall, reset, truncate, malformed, slow, refusal, length. A request "
    "forces one with the header x-sim-fault: NAME.",
)
@click.option(
    "--max-hang",
    metavar=_DURATION,
    help=_help("How long hang and stall faults last at most.", "max_hang"),
)
@click.option(
    "--slow-itl",
    metavar=_DURATION,
    help=_help("Inter-token latency of the slow fault.", "slow_itl"),
)
@click.option(
    "--output-tokens",
    type=int,
    help=_help("Completion length, unless max_tokens is lower.", "output_tokens"),
)
@click.option(
    "--tokens-per-chunk", type=int, help=_help("Tokens per streamed chunk.", "tokens_per_chunk")
)
@click.option(
    "--context-length",
    type=int,
    help=_help("Model context; beyond it: context_length_exceeded.", "context_length"),
)
@click.option(
    "--embedding-dim",
    type=int,
    help=_help("Embedding size unless the request asks.", "embedding_dim"),
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help=_help("Model listed by /v1/models (repeatable).", "models"),
)
@click.option("--seed", type=int, help=_help("Seed for content, jitter and random faults.", "seed"))
@click.option(
    "--max-body-bytes",
    type=int,
    help=_help("Largest request body accepted; beyond it: 413.", "max_body_bytes"),
)
@click.option(
    "--max-header-bytes",
    type=int,
    help=_help("Largest request line and headers accepted; beyond: 431.", "max_header_bytes"),
)
@click.option(
    "--max-embedding-values",
    type=int,
    help=_help(
        "Most numbers in one embeddings answer (inputs x dimensions); beyond: 400.",
        "max_embedding_values",
    ),
)
@click.option(
    "--header-timeout",
    metavar=_DURATION,
    help=_help(
        "Time a connection has to send a request's headers, from its opening or its "
        "previous answer; then it is closed.",
        "header_timeout",
    ),
)
@click.option(
    "--body-timeout",
    metavar=_DURATION,
    help=_help("Time a request has to send its whole body; beyond it: 408.", "body_timeout"),
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="Server log level.",
)
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@click.option(
    "--watch-stdin",
    is_flag=True,
    help="Stop when standard input closes, so a parent process holding a pipe to it can be "
    "sure the server never outlives it.",
)
def sim(
    host: str,
    port: int,
    config_file: str | None,
    faults: tuple[str, ...],
    models: tuple[str, ...],
    log_level: str,
    access_log: bool,
    watch_stdin: bool,
    **settings: Any,
) -> None:
    """Serve a simulated OpenAI-compatible LLM service: latency, limits and faults.

    Point any OpenAI client at http://HOST:PORT/v1 with any API key; each key has its own
    rate limits. Content is deterministic and usage matches it. The first line printed is
    the address served. Stop with Ctrl-C.
    """
    overrides = {name: value for name, value in settings.items() if value is not None}
    if "overflow_status" in overrides:
        overrides["overflow_status"] = int(overrides["overflow_status"])
    if faults:
        overrides["faults"] = _parse_faults(faults)
    if models:
        overrides["models"] = models
    try:
        config = load_config(config_file, overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        serve_forever(
            config,
            host,
            port,
            log_level=log_level,
            access_log=access_log,
            watch_stdin=watch_stdin,
            announce=click.echo,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from exc


def main(argv: Sequence[str] | None = None, prog_name: str = "python -m sluice.sim") -> None:
    """Run the command on ``argv`` (default: this process's arguments); exits when done."""
    sim.main(args=None if argv is None else list(argv), prog_name=prog_name)
