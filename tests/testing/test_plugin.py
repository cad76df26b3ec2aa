"""The pytest plugin users get: virtual time for the async tests they mark, or for all."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
import asyncio
import pytest
import sluice.testing

{mark}
async def test_sleeps() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep({seconds})
    assert isinstance(loop, sluice.testing.VirtualTimeLoop) is {virtual}
    assert (loop.time() - start == {seconds}) is {virtual}
"""


def test_a_marked_test_runs_on_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS.format(mark="@pytest.mark.virtual_time", virtual=True, seconds=3600))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_unmarked_tests_are_left_to_other_plugins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS.format(mark="", virtual=True, seconds=3600))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:anyio")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0  # pytest itself does not run a coroutine


def test_virtual_time_for_every_async_test_when_configured(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsluice_virtual_time = true\n")
    pytester.makepyfile(
        test_a=TESTS.format(mark="", virtual=True, seconds=3600),
        test_b=TESTS.format(mark="@pytest.mark.realtime", virtual=False, seconds=0.01),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_both_marks_at_once_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        TESTS.format(
            mark="@pytest.mark.virtual_time\n@pytest.mark.realtime", virtual=True, seconds=1
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "marked both virtual_time and realtime" in result.stdout.str() + result.stderr.str()
