"""Which gate calls the running code is inside: the attempts that hold something of their gate.

An attempt whose gate has holding stages (a concurrency permit) is recorded here while its
function runs, linked to the one it runs inside (``call.outer``). Tasks and threads started
from there inherit it with their context. A call made on the same gate from inside can then
see that an enclosing call already holds a permit, and must not queue behind it (see
`sluice._stages.lending`): waiting for a permit its own caller holds would never end.

    scope = enter(call)       # while call.fn runs
    ...
    ENCLOSING.reset(scope)
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .call import Call

__all__ = ["ENCLOSING", "enter"]

ENCLOSING: ContextVar[Call | None] = ContextVar("sluice_enclosing_call", default=None)
"""The innermost attempt running here that holds something of its gate, or ``None``."""


def enter(call: Call) -> Token[Call | None]:
    """Record that ``call``'s function runs here, inside whatever encloses it now."""
    call.outer = ENCLOSING.get()
    return ENCLOSING.set(call)
