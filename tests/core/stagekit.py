"""Test doubles for the kernel's collaborators: stages that log what they are told, a state
store that hands them over, and a way to assemble a kernel around them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sluice._assembly import assemble
from sluice._core.call import Call
from sluice._core.kernel import Kernel
from sluice._core.stage import Instruction
from sluice._core.state import FailMode, GateSpec, StateStatistics, StoreUnavailable


@dataclass
class Recorder:
    """A stage that logs every call the kernel makes to it, and does what it is scripted to:
    ``steps`` are the instructions its ``before`` returns, one per attempt (``None`` after
    they run out); an exception instance in ``steps`` is raised instead."""

    name: str
    log: list[tuple[str, ...]]
    steps: list[object] = field(default_factory=list)
    admits: bool = True
    holds: bool = False
    after_success: bool = True

    def before(self, call: Call, now: float) -> Instruction:
        self.log.append((self.name, "before", f"{now:g}"))
        step = self.steps.pop(0) if self.steps else None
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step()  # type: ignore[no-any-return]
        return step  # type: ignore[return-value]

    def free(self, call: Call) -> None:
        self.log.append((self.name, "free"))

    def after(self, call: Call, now: float) -> None:
        outcome = "ok" if call.error is None else type(call.error).__name__
        issued = "issued" if call.started is not None else "never issued"
        self.log.append((self.name, "after", outcome, issued))


class ScriptedState:
    """A `GateState` whose stages are whatever the test gives it."""

    def __init__(
        self,
        stages: tuple[Any, ...],
        *,
        fallback: tuple[Any, ...] = (),
        fail: FailMode = "open",
    ) -> None:
        self.stages = stages
        self._fallback = fallback
        self.fail = fail
        self.retry_budget = None
        self.paused_until: float | None = None
        self.closed = False

    def fallback(self) -> tuple[Any, ...]:
        return self._fallback

    def pause(self, until: float) -> None:
        self.paused_until = until

    def observe_limits(self, now: float, **limits: float | None) -> None:
        pass

    def concurrency_ceiling(self) -> int | None:
        return None

    def statistics(self, now: float) -> StateStatistics:
        return StateStatistics(None, None, None, 0, 0.0, None)

    async def aclose(self) -> None:
        self.closed = True


class ScriptedStore:
    """A `StateStore` that opens one `ScriptedState`, and remembers what it was asked for."""

    def __init__(self, state: ScriptedState) -> None:
        self.state = state
        self.specs: list[GateSpec] = []

    def open(self, spec: GateSpec) -> ScriptedState:
        self.specs.append(spec)
        return self.state


def kernel_with(state: ScriptedState, **policies: Any) -> Kernel:
    return assemble("scripted", store=ScriptedStore(state), **policies)


async def run(kernel: Kernel, fn: Callable[..., Awaitable[Any]] | Callable[..., Any]) -> Any:
    return await kernel.run(Call(fn, (), {}, None), None)


async def ok() -> str:
    return "ok"


def later(seconds: float, then: Instruction = None) -> Callable[[], Awaitable[Instruction]]:
    """An instruction that is an awaitable: wait ``seconds`` (a round trip), then ``then``."""

    async def trip() -> Instruction:
        await asyncio.sleep(seconds)
        return then

    return trip


__all__ = [
    "Recorder",
    "ScriptedState",
    "ScriptedStore",
    "StoreUnavailable",
    "kernel_with",
    "later",
    "ok",
    "run",
]
