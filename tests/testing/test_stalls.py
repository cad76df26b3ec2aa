"""`no_stalls` and the ``no_stalls`` mark: a test whose loop blocks fails, naming the culprit."""

from __future__ import annotations

import asyncio
import time

import pytest

from sluice import ConfigError
from sluice.testing import no_stalls

pytest_plugins = ["pytester"]


def render_thumbnail() -> None:
    time.sleep(0.15)


async def thumbnails(error: BaseException | None = None) -> None:
    async with no_stalls(threshold_ms=40):
        await asyncio.sleep(0.02)
        render_thumbnail()
        if error is not None:
            raise error


@pytest.mark.realtime
async def test_a_blocked_loop_fails_naming_the_function() -> None:
    with pytest.raises(AssertionError) as raised:
        await thumbnails()
    message = str(raised.value)
    assert "blocked for more than 40 ms 1 time(s)" in message
    assert "in render_thumbnail (" in message
    assert "time.sleep(0.15)" in message  # the stack, with its source line


@pytest.mark.realtime
async def test_a_loop_that_yields_passes() -> None:
    async with no_stalls(threshold_ms=40) as guard:
        await asyncio.sleep(0.1)
    assert guard.stalls == ()


async def test_virtual_time_jumps_are_not_stalls_but_real_blocking_is() -> None:
    with no_stalls(threshold_ms=40):
        await asyncio.sleep(3600)  # virtual: returns at once
    with pytest.raises(AssertionError, match="render_thumbnail"):
        await thumbnails()


@pytest.mark.realtime
async def test_an_error_in_the_block_wins_over_the_stall() -> None:
    with pytest.raises(KeyError):
        await thumbnails(KeyError("first"))


def test_bad_threshold_names_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"no_stalls\(threshold_ms=\.\.\.\)"):
        no_stalls(threshold_ms=0)


MARKED = """
import asyncio
import time
import pytest

def decode_everything() -> None:
    time.sleep({seconds})

@pytest.mark.virtual_time
@pytest.mark.no_stalls(threshold_ms=40)
async def test_marked() -> None:
    await asyncio.sleep(0.01)
    decode_everything()
"""


def test_the_mark_fails_a_test_that_blocks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_blocks=MARKED.format(seconds=0.15), test_fine=MARKED.format(seconds=0))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*blocked for more than 40 ms*in decode_everything (*"])


def test_the_mark_on_a_test_the_plugin_does_not_run_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import pytest\n@pytest.mark.no_stalls(threshold_ms=40)\ndef test_sync() -> None: ...\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "no_stalls marks async def tests" in result.stdout.str() + result.stderr.str()
