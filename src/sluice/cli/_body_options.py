"""What ``sluice bench load`` sends to a plain HTTP target: method, one body, or many.

@body_options
def load(**options): ...
method, body, bodies = pick_body(options, api)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..bench._bodies import MAX_BODIES, MAX_BYTES, BodiesError, BodySet, read_bodies, render_bodies

__all__ = ["body_options", "pick_body"]

F = TypeVar("F", bound=Callable[..., Any])
_FILE = click.Path(dir_okay=False, path_type=Path)
_LIMITS = f"at most {MAX_BYTES // 2**20} MiB and {MAX_BODIES:,} lines, read once"


def body_options(command: F) -> F:
    """The request options of the plain HTTP API, on ``command``."""
    options = [
        click.option(
            "--method",
            default=None,
            help="HTTP API: request method (default: GET, or POST with a body).",
        ),
        click.option("--body", help="HTTP API: one request body, sent with every request."),
        click.option(
            "--bodies",
            type=_FILE,
            help="HTTP API: a JSON Lines file, one JSON body per line, sent in turn "
            f"(round-robin over every request; {_LIMITS}). Content-Type: application/json "
            "unless a --header sets it.",
        ),
        click.option(
            "--body-template",
            type=_FILE,
            help="HTTP API: a JSON body whose strings hold {name} slots, filled from each line "
            "of --vars in turn (a string that is just '{name}' takes the value's JSON type).",
        ),
        click.option(
            "--vars",
            "vars_file",
            type=_FILE,
            help="With --body-template: a JSON Lines file, one object of variables per line, "
            'e.g. {"question": "What is a gate?"}.',
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def pick_body(options: dict[str, Any], api: str) -> tuple[str, str | None, BodySet | None]:
    """(method, body, bodies) from the options, every file read and checked now."""
    sources = {"--body": "body", "--bodies": "bodies", "--body-template": "body_template"}
    given = [name for name, key in sources.items() if options.get(key) is not None]
    if len(given) > 1:
        both = " and ".join(given)
        raise click.UsageError(f"give one of --body, --bodies and --body-template, not {both}")
    if (options.get("body_template") is None) != (options.get("vars_file") is None):
        raise click.UsageError(
            "--body-template and --vars go together: the template's {name} slots are filled "
            "from each line of --vars"
        )
    if given and api != "http":
        raise click.UsageError(
            f"{given[0]} is for a plain HTTP target; add --api http (the chat API sends --prompt)"
        )
    bodies = None
    try:
        if options.get("bodies") is not None:
            bodies = read_bodies(options["bodies"])
        elif options.get("body_template") is not None:
            bodies = render_bodies(options["body_template"], options["vars_file"])
    except BodiesError as exc:
        hint = "--bodies" if options.get("bodies") is not None else "--body-template / --vars"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    has_body = bodies is not None or options.get("body") is not None
    method = (options.get("method") or ("POST" if has_body else "GET")).upper()
    if not method.isalpha():
        raise click.BadParameter(f"{method!r} is not an HTTP method", param_hint="--method")
    return method, options.get("body"), bodies
