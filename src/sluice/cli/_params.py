"""Parameter types and helpers shared by ``sluice bench`` and ``sluice demo``."""

from __future__ import annotations

import math
import resource
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from .._errors import ConfigError
from ..sim._config import parse_duration

__all__ = [
    "DURATION",
    "LEVELS",
    "REPORT_FOLDER",
    "DurationType",
    "Interrupted",
    "parse_agent_steps",
    "parse_headers",
    "parse_sim_faults",
    "pick_api",
    "pick_levels",
    "raise_file_limit",
]


class Interrupted(click.ClickException):
    """Ctrl-C: a partial report was written; exit code 130 like a shell."""

    exit_code = 130

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


MAX_SECONDS = 86_400.0  # a day: a longer level or request is surely a typo


class DurationType(click.ParamType):  # type: ignore[type-arg] # generic from click 8.2 on
    """Seconds, or a number with a unit (``500ms``, ``2m``), from 0 to ``maximum``."""

    name = "DURATION"

    def __init__(self, maximum: float = MAX_SECONDS) -> None:
        self.maximum = maximum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        raw = value if isinstance(value, int | float) else str(value).strip().lower()
        try:
            # The simulator's parser: one duration syntax for every command.
            seconds = float(parse_duration("duration", raw))
        except ConfigError:
            self.fail(f"{value!r} is not a duration like 5, 500ms or 2m", param, ctx)
        if not seconds >= 0:
            self.fail(f"must be >= 0, got {value!r}", param, ctx)
        if seconds > self.maximum:
            self.fail(f"must be at most {self.maximum:g} s, got {value!r}", param, ctx)
        return seconds


class LevelsType(click.ParamType):  # type: ignore[type-arg] # generic from click 8.2 on
    name = "N[,N...]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        levels = []
        for item in str(value).split(","):
            try:
                level = float(item.strip())
            except ValueError:
                self.fail(f"{item.strip()!r} is not a number (give e.g. 50,100,200)", param, ctx)
            if not math.isfinite(level):
                self.fail(f"every level must be a finite number, got {item.strip()}", param, ctx)
            if not level > 0:
                self.fail(f"every level must be > 0, got {item.strip()}", param, ctx)
            levels.append(level)
        return tuple(levels)


DURATION = DurationType()
LEVELS = LevelsType()
# Checked (created, and a file written) by `check_report_folder` once the other options are.
REPORT_FOLDER = click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sluice-report"),
    show_default=True,
    help="Report folder (index.html, JSON, PNG plots).",
)


def raise_file_limit(needed: int) -> None:
    """Lift the open-files soft limit towards ``needed`` (one socket per request in flight)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


# Seconds: an hour is far beyond any agent step worth comparing; the simulator plays a step
# as one answer of about 100 tokens a second, which stays within its answer length bound.
MAX_AGENT_STEP = 3600.0
MAX_AGENT_STEPS = 32


def parse_agent_steps(text: str) -> tuple[float, ...]:
    """``"8.29,6.96"``: the seconds of each agent step, each finite, > 0 and at most an hour."""
    items = text.split(",")
    if len(items) > MAX_AGENT_STEPS:
        raise click.BadParameter(
            f"at most {MAX_AGENT_STEPS} steps, got {len(items)}", param_hint="--agent-steps"
        )
    steps = []
    for item in items:
        try:
            step = float(item.strip())
        except ValueError:
            raise click.BadParameter(
                f"{item.strip()!r} is not a number of seconds (give e.g. 8.29,6.96)",
                param_hint="--agent-steps",
            ) from None
        if not 0 < step <= MAX_AGENT_STEP:  # NaN fails both comparisons
            raise click.BadParameter(
                f"every step must be > 0 and at most {MAX_AGENT_STEP:g} s, got {item.strip()}",
                param_hint="--agent-steps",
            )
        steps.append(step)
    return tuple(steps)


def parse_headers(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    headers = []
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        headers.append((name.strip(), text.strip()))
    return tuple(headers)


def parse_sim_faults(values: tuple[str, ...]) -> dict[str, float]:
    faults = {}
    for value in values:
        name, sep, probability = value.partition("=")
        try:
            faults[name.strip()] = float(probability)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not NAME=P (e.g. 429=0.05)", param_hint="--sim-fault"
            ) from None
        if not sep:
            raise click.BadParameter(f"{value!r} is not NAME=P", param_hint="--sim-fault")
    return faults


def pick_api(url: str | None, api: str) -> str:
    if api != "auto":
        return api
    if url is None:
        return "chat"
    return "chat" if urlsplit(url).path.rstrip("/").endswith("/v1") else "http"


def pick_levels(concurrency: tuple[float, ...] | None, rate: tuple[float, ...] | None) -> Any:
    if concurrency and rate:
        raise click.UsageError("give --concurrency (closed model) or --rate (open model), not both")
    if rate:
        return "open", rate
    levels = concurrency or (50.0, 100.0, 200.0, 300.0, 500.0)
    for level in levels:
        if level != int(level):
            raise click.BadParameter(
                f"concurrency levels are whole numbers of users, got {level:g}",
                param_hint="--concurrency",
            )
    return "closed", levels
