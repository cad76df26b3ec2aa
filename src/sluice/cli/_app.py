"""The ``sluice`` command group: one module per subcommand, registered here."""

from __future__ import annotations

import click

from .. import __version__
from ..sim._command import sim
from .batch import run
from .bench import bench
from .demo import demo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sluice")
def cli() -> None:
    """sluice: flow control for AI calls."""


cli.add_command(bench)
cli.add_command(demo)
cli.add_command(run)
cli.add_command(sim)
