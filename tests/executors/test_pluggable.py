"""A new kind of worker plugs in through the ``__sluice_executor__`` marker, with no change to
the gate: the gate creates the executor from its settings on first use and closes it."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

import sluice
from sluice._executors import ExecutorFactory, ExecutorSettings, call_kind


class InlineExecutor:
    """Runs jobs at once, in the caller's thread, and keeps a log."""

    made: ClassVar[list[InlineExecutor]] = []

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.made.append(self)
        self.jobs: list[str] = []
        self.stopped = False

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        self.jobs.append(getattr(fn, "label", "?"))
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def explain(self, error: BaseException) -> None:
        error.add_note("ran inline")

    def shutdown(self, *, wait: bool) -> None:
        self.stopped = True


class Inline:
    """A callable marked to run on `InlineExecutor`."""

    __sluice_executor__: ClassVar[ExecutorFactory] = InlineExecutor

    def __init__(self, label: str, fn: Callable[..., Any]) -> None:
        self.label = label
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


async def test_a_marked_callable_runs_on_its_executor() -> None:
    InlineExecutor.made.clear()
    gate = sluice.Gate("plug", threads=3)
    double = Inline("double", lambda x: 2 * x)
    assert call_kind(double) is InlineExecutor
    assert await gate.run(double, 21) == 42
    assert await gate.run(double, 1) == 2
    [executor] = InlineExecutor.made
    assert executor.settings == ExecutorSettings("plug", threads=3, processes=None)
    assert executor.jobs == ["double", "double"]
    await gate.aclose()


async def test_its_errors_get_its_explanation_and_it_is_closed_with_the_gate() -> None:
    InlineExecutor.made.clear()
    gate = sluice.Gate("plug")

    def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad") as caught:
        await gate.run(Inline("broken", broken))
    assert "ran inline" in getattr(caught.value, "__notes__", [])
    [executor] = InlineExecutor.made
    assert not executor.stopped
    await gate.aclose()
    assert executor.stopped
