from __future__ import annotations

import pytest

import sluice
from sluice.policies.timeout import Timeout


def test_number_is_shorthand_for_an_attempt_timeout() -> None:
    assert Timeout.coerce(30) == Timeout(attempt=30.0)
    assert Timeout.coerce(None) is None
    timeout = Timeout(attempt=1, total=5)
    assert Timeout.coerce(timeout) is timeout


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: Timeout(attempt=0), "Timeout(attempt=...) must be a finite number > 0"),
        (lambda: Timeout(total=-2), "Timeout(total=...) must be a finite number > 0"),
        (lambda: Timeout.coerce("30s"), "Gate(timeout=...) must be a number of seconds"),
        (lambda: Timeout.coerce(True), "Gate(timeout=...) must be a number of seconds"),
    ],
)
def test_bad_timeouts(call: object, fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        call()  # type: ignore[operator]
    assert fragment in str(info.value)


def test_no_deadline_outside_a_gate() -> None:
    assert sluice.current_deadline() is None
