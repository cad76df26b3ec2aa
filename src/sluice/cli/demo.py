"""``sluice demo``: placeholder replaced below."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Show what a Gate buys you, measured on this machine."""
    click.echo("demo")
