"""The retry budget's configuration: a share of traffic, given as a fraction."""

from __future__ import annotations

import pytest

import sluice
from sluice.policies.budget import RetryBudget


@pytest.mark.parametrize("percent", [0.0, 0.2, 1.0])
def test_a_fraction_from_0_to_1_is_accepted(percent: float) -> None:
    assert RetryBudget(percent=percent).percent == percent


@pytest.mark.parametrize(("percent", "hint"), [(50, "percent=0.5"), (1.5, "percent=0.015")])
def test_a_percentage_typed_as_a_number_above_1_is_refused(percent: float, hint: str) -> None:
    with pytest.raises(sluice.ConfigError, match=r"RetryBudget\(percent=\.\.\.\)") as info:
        RetryBudget(percent=percent)
    assert hint in str(info.value)
    assert "between 0 and 1" in str(info.value)
