"""The stage protocol: how a policy's runtime state takes part in an attempt.

A gate builds the tuple of its enabled stages once, in policy order (breaker, cooldown, rate,
concurrency, then the stages that only learn). For every attempt the kernel asks each stage in
turn, and only carries out what it is told. Each method receives the `Call` record, whose
attempt fields describe the attempt in progress:

- ``before(call, now)`` returns an *instruction*: ``None`` (go on to the next stage), a
  ``float`` (sleep that many seconds on the gate's clock, then go on) or an awaitable (await
  it; what it returns is the next instruction). To refuse the attempt it raises (a
  `RejectedError`, or `DeadlineExceeded` when waiting could only end in a timeout). A stage
  that returns, whatever it returns, has taken the attempt in: from then on it is owed exactly
  one ``free`` (when ``holds``) and one ``after``.
- ``free(call)``, for stages that hold something while the call runs (a concurrency
  permit): called when the work is really over. For a call offloaded to a thread that is when
  the thread is free, which may be long after the caller stopped waiting.
- ``after(call, now)`` records the outcome: ``call.error`` is ``None`` on success;
  ``call.started is None`` means the call never reached the upstream (a later stage
  refused it, or a wait was cut short), and what was booked for it is given back.

Decisions are plain method calls on in-process state, so every stage is testable without an
event loop; a stage whose state lives elsewhere (a shared store) returns an awaitable from
``before`` and costs one round trip there. ``before`` and ``after`` never block.

Three flags let the kernel skip calls that would do nothing (a call on the hot path costs
more than most stages' work): ``admits`` (``before`` may do something; a stage that does not
admit is not asked, and has nothing to give back for an attempt that never started),
``holds`` (``free`` matters) and ``after_success`` (``after`` has work to do when the attempt
succeeded; when false, it is called for failures only). A stage whose flags change returns a
new tuple of stages from its state, which the kernel notices.

    for stage in stages:
        step = stage.before(call, now)      # None, seconds, or an awaitable
    ...                                     # the call
    for stage in stages:
        stage.after(call, ended)
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeAlias, runtime_checkable

from .call import Call

__all__ = ["Instruction", "Stage"]

Instruction: TypeAlias = "float | Awaitable[Instruction] | None"


@runtime_checkable
class Stage(Protocol):
    """One policy's part in every attempt (see the module docstring for the contract)."""

    @property
    def admits(self) -> bool:
        """Whether ``before`` may do anything (when false, it is not called)."""

    @property
    def holds(self) -> bool:
        """Whether the stage holds something while the call runs and must be sent ``free``."""

    @property
    def after_success(self) -> bool:
        """Whether ``after`` has anything to do when the attempt succeeded."""

    def before(self, call: Call, now: float) -> Instruction:
        """Admit the attempt of ``call`` at ``now``: go (``None``), wait, or raise to refuse."""

    def free(self, call: Call) -> None:
        """The work of the attempt is over: give back what it held."""

    def after(self, call: Call, now: float) -> None:
        """Record how the attempt of ``call`` ended (at ``now``)."""
