"""What the stages learn from a failed attempt's error: the HTTP status it names, if any."""

from __future__ import annotations

import pytest

from sluice._core.call import Call
from tests.core.stagekit import ScriptedState, kernel_with, run


class Seen:
    """A stage that keeps the status each failed attempt reported."""

    admits = False
    holds = False
    after_success = False

    def __init__(self) -> None:
        self.statuses: list[int | None] = []

    def before(self, call: Call, now: float) -> None:
        return None

    def free(self, call: Call) -> None:
        pass

    def after(self, call: Call, now: float) -> None:
        assert call.info is not None
        self.statuses.append(call.info.status)


class HttpError(Exception):
    def __init__(self, **attributes: object) -> None:
        super().__init__("failed")
        for name, value in attributes.items():
            setattr(self, name, value)


@pytest.mark.parametrize(
    ("attributes", "status"),
    [
        ({"status": 400}, 400),  # aiohttp, sluice.llm
        ({"status_code": 429}, 429),  # httpx, the OpenAI SDK
        ({"status": None, "status_code": 503}, 503),
        ({"status": "400"}, None),  # not a status code
        ({"status": True}, None),
        ({}, None),
    ],
)
async def test_the_status_an_error_names_reaches_the_stages(
    attributes: dict[str, object], status: int | None
) -> None:
    seen = Seen()
    kernel = kernel_with(ScriptedState((seen,)))

    async def upstream() -> None:
        raise HttpError(**attributes)

    with pytest.raises(HttpError):
        await run(kernel, upstream)
    assert seen.statuses == [status]
