"""Ok / Err: the outcome of one call, for fan-out that isolates failures.

`Gate.run_outcome` never raises for an ordinary error (cancellation still propagates): it
returns `Ok` with the value or `Err` with the exception, plus how many attempts the gate made
and how long the call took.

    outcome = await gate.run_outcome(fetch, url)
    if outcome.ok: use(outcome.value)
    else: log(outcome.error, outcome.attempts)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, NoReturn, TypeAlias, TypeVar

__all__ = ["Err", "Ok", "Outcome"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    """A call that succeeded: ``value``, after ``attempts`` tries, in ``elapsed`` seconds."""

    value: T
    attempts: int = 1
    elapsed: float = 0.0
    ok: ClassVar[Literal[True]] = True

    @property
    def error(self) -> None:
        return None

    def unwrap(self) -> T:
        """The value."""
        return self.value


@dataclass(frozen=True, slots=True)
class Err:
    """A call that failed with ``error``, after ``attempts`` tries, in ``elapsed`` seconds."""

    error: BaseException
    attempts: int = 1
    elapsed: float = 0.0
    ok: ClassVar[Literal[False]] = False

    @property
    def value(self) -> None:
        return None

    def unwrap(self) -> NoReturn:
        """Raise the error."""
        raise self.error


Outcome: TypeAlias = "Ok[T] | Err"
