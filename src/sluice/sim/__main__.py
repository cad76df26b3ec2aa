"""``python -m sluice.sim``: the ``sluice sim`` command without the ``sluice`` entry point."""

from __future__ import annotations

from ..cli.sim import sim

if __name__ == "__main__":
    sim(prog_name="python -m sluice.sim")
