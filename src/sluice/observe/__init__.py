"""sluice.observe: what a running application's gates and event loop look like from outside."""

__all__: list[str] = []
