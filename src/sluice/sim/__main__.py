"""``python -m sluice.sim``: the ``sluice sim`` command without the ``sluice`` entry point."""

from __future__ import annotations

from ._command import main

if __name__ == "__main__":
    main()
