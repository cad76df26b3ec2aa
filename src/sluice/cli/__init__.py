"""The ``sluice`` command. Needs the ``cli`` extra (click); without it, says how to get it."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sluice`` console script."""
    try:
        from ._app import cli
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on what is installed
        missing = exc.name or "a dependency"
        sys.stderr.write(
            f"The sluice command needs {missing!r}, which is not installed.\n"
            "Install the command-line extras with:  pip install 'aiosluice[all]'\n"
        )
        raise SystemExit(1) from exc
    cli.main(args=argv, prog_name="sluice")
