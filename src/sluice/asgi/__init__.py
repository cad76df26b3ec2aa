"""Plain ASGI middleware that carries sluice's flow control to an HTTP service.

- `Deadlines`: each request runs under the deadline its client asks for
  (``x-request-timeout: 2.5`` or ``grpc-timeout: 250m``); every gate the handler calls
  gives up rather than wait past it, and the client gets 504 if it passes first.
- `Shed`: a request whose gates are overloaded (breaker open, paused, queue full, rate
  wait past its deadline) gets 503 with ``Retry-After`` at once instead of queuing.
- `Limit`: at most so many requests of a route at once, a bounded line, 503 beyond it.

Standard library only; any ASGI 3 server or framework takes them (FastAPI and Starlette
through ``app.add_middleware``)::

    app = Shed(app, gates=[llm_gate])
    app = Deadlines(app, default=30.0)   # outermost: Shed sees each request's deadline
    app.statistics()

See docs/asgi.md.
"""

from __future__ import annotations

from ._deadlines import Deadlines, DeadlineStatistics
from ._limit import Limit
from ._shed import Shed, ShedStatistics

__all__ = ["DeadlineStatistics", "Deadlines", "Limit", "Shed", "ShedStatistics"]
