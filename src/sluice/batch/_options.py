"""A run's settings, checked once, with messages that say what is wrong and how to fix it.

options = BatchOptions.make("in.jsonl", "out.jsonl", base_url=url, rpm=500)
options.journal_path   # out.jsonl.journal.sqlite
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import Adaptive, ConfigError, Rate
from ..llm import AiohttpTransport, Client
from ..stores import Store
from ._order import SPAN_PER_WINDOW
from ._prices import PricesSource, PriceTable
from ._result import Progress
from ._stop import StoppableTransport

__all__ = ["BatchOptions", "parse_max_failures"]

logger = logging.getLogger("sluice.batch")
DEFAULT_WINDOW = 128
MaxFailures = tuple[int | None, float | None]
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_max_failures(value: int | str | None) -> MaxFailures | None:
    """``N`` (a count) or ``"P%"`` (a share of the finished requests) as (count, share).

    parse_max_failures(10)       # (10, None)
    parse_max_failures("5%")     # (None, 5.0)
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, None
    if isinstance(value, str):
        if value.strip().isdigit() and int(value) >= 1:
            return int(value), None
        match = _SHARE.match(value)
        if match and 0 < float(match[1]) <= 100:
            return None, float(match[1])
    raise ConfigError(
        f"max_failures must be a count >= 1 (10) or a share of the finished requests "
        f"between 0 and 100 % ('5%'), got {value!r}"
    )


def _check_cache(
    cache: str | Path | Store | None, output: Path, input: Path
) -> Path | Store | None:
    if cache is None or isinstance(cache, Store):
        return cache
    if not isinstance(cache, str | Path) or not str(cache):
        raise ConfigError(
            f"cache must be a file path (answers.cache.sqlite) or a sluice.stores store, "
            f"got {cache!r}"
        )
    path = Path(cache)
    if path.resolve() in (output.resolve(), input.resolve()):
        raise ConfigError("the cache must be a file of its own: give another --cache path")
    if path.is_dir():
        raise ConfigError(f"the cache {str(path)!r} is a folder: give a file path")
    if not path.resolve().parent.is_dir():
        raise ConfigError(
            f"the cache's folder {str(path.parent)!r} does not exist: create it or give "
            "another --cache path"
        )
    return path


def _second_of(rpm: float | None) -> int:
    """A second of a per-minute request rate, in whole requests (at least one)."""
    return 1 if rpm is None else max(1, int(rpm / 60.0))


def _positive(name: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not value > 0):
        raise ConfigError(f"{name} must be a number > 0 or None (no limit), got {value!r}")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Everything a run needs (the arguments of `sluice.batch.run`, checked)."""

    input: Path
    output: Path
    failed_path: Path
    journal_path: Path
    base_url: str | None
    api_key: str | None
    rpm: float | None
    tpm: float | None
    concurrency: int | None
    window: int
    retry_failed: bool
    max_failures: MaxFailures | None
    dedup: bool
    client: Client | None
    progress: Callable[[Progress], None] | None
    progress_every: float
    notice: Callable[[str], None]
    stop_event: asyncio.Event | None
    shared: str | None
    max_cost: float | None
    prices: PriceTable
    dry_run: bool
    ordered: bool
    ordered_hold: int
    cache: Path | Store | None

    @classmethod
    def make(
        cls,
        input: str | Path,
        output: str | Path,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        concurrency: int | str | None = "auto",
        window: int | None = None,
        retry_failed: bool = False,
        max_failures: int | str | None = None,
        dedup: bool = True,
        client: Client | None = None,
        progress: Callable[[Progress], None] | None = None,
        progress_every: float = 5.0,
        notice: Callable[[str], None] | None = None,
        stop_event: asyncio.Event | None = None,
        shared: str | None = None,
        max_cost: float | None = None,
        prices: PricesSource | None = None,
        dry_run: bool = False,
        ordered: bool = False,
        ordered_hold: int | None = None,
        cache: str | Path | Store | None = None,
    ) -> BatchOptions:
        if (base_url is None) == (client is None):
            raise ConfigError(
                "run(...) needs base_url='http://host/v1' (or client=sluice.llm.Client(...)), "
                "one of them"
            )
        if client is not None and (rpm or tpm or shared or concurrency not in ("auto", None)):
            raise ConfigError(
                "run(client=...) was given with rpm/tpm/concurrency/shared: configure the "
                "client's gate instead, or pass base_url= and the limits"
            )
        _positive("rpm", rpm)
        _positive("tpm", tpm)
        _positive("progress_every", progress_every)
        if max_cost is not None and (
            isinstance(max_cost, bool)
            or not isinstance(max_cost, int | float)
            or not 0 < max_cost < math.inf
        ):
            raise ConfigError(f"max_cost must be a number of USD > 0 or None, got {max_cost!r}")
        if concurrency == "auto" or concurrency is None:
            fixed = None
        elif (
            isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1
        ):
            fixed = concurrency
        else:
            raise ConfigError(
                f"concurrency must be 'auto' (adaptive) or an int >= 1, got {concurrency!r}"
            )
        if window is None:
            window = fixed or DEFAULT_WINDOW
        elif isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be an int >= 1, got {window!r}")
        out = Path(output)
        if Path(input).resolve() == out.resolve():
            raise ConfigError("the output must not be the input: give another --output path")
        if not isinstance(ordered, bool):
            raise ConfigError(f"ordered must be True or False, got {ordered!r}")
        if ordered_hold is None:
            ordered_hold = SPAN_PER_WINDOW * window
        elif (
            isinstance(ordered_hold, bool) or not isinstance(ordered_hold, int) or ordered_hold < 1
        ):
            raise ConfigError(
                f"ordered_hold must be an int >= 1 (requests taken and not yet written), "
                f"got {ordered_hold!r}"
            )
        cache = _check_cache(cache, out, Path(input))
        return cls(
            input=Path(input),
            output=out,
            failed_path=out.with_name(out.stem + ".failed" + (out.suffix or ".jsonl")),
            journal_path=out.with_name(out.name + ".journal.sqlite"),
            base_url=base_url,
            api_key=api_key,
            rpm=rpm,
            tpm=tpm,
            concurrency=fixed,
            window=window,
            retry_failed=retry_failed,
            max_failures=parse_max_failures(max_failures),
            dedup=dedup,
            client=client,
            progress=progress,
            progress_every=progress_every,
            notice=notice or logger.warning,
            stop_event=stop_event,
            shared=shared,
            max_cost=None if max_cost is None else float(max_cost),
            prices=PriceTable.load(prices),
            dry_run=dry_run,
            ordered=ordered,
            ordered_hold=ordered_hold,
            cache=cache,
        )

    @property
    def paced(self) -> bool:
        """Whether a rate is pinned (``rpm`` or ``tpm``)."""
        return bool(self.rpm or self.tpm)

    def make_client(
        self,
        stopped: Callable[[], bool],
        on_wire: set[asyncio.Task[Any]],
        *,
        rpm: float | None = None,
        tpm: float | None = None,
    ) -> Client:
        """The client the run sends through: adaptive concurrency unless pinned, the rates
        given (``rpm``/``tpm`` here override the options': the rates a first answer taught),
        else learned from the server's headers, the client's retries and breaker; nothing is
        sent once ``stopped()``."""
        assert self.base_url is not None  # checked by make()
        rpm = rpm or self.rpm
        tpm = tpm or self.tpm
        # A pinned rate spaces the requests from the first one, so the adaptive limit can
        # start at the window: starting it small would hold the run below the rate for the
        # seconds it takes to grow, and a rate of burst 1 never makes that time up. With no
        # rate known before the first answer's headers, a small start bounds the blind burst.
        paced = bool(rpm or tpm)
        initial = self.window if paced else min(16, self.window)
        concurrency = self.concurrency or Adaptive(max=self.window, initial=initial)
        inner = AiohttpTransport(max_connections=self.window)
        transport = StoppableTransport(inner, stopped, on_wire)
        # With `shared`, every runner on the same Redis and base URL shares the limits.
        if paced:
            return Client(
                self.base_url,
                self.api_key,
                concurrency=concurrency,
                # A second's burst, as providers enforce a minute's limit and as a learned
                # limit bursts (see LEARNED_BURST_SECONDS): burst 1 would leave the bucket the
                # server starts with unused.
                rate=Rate(rpm=rpm, tpm=tpm, burst=_second_of(rpm)),
                max_connections=self.window,
                transport=transport,
                shared=self.shared,
            )
        return Client(
            self.base_url,
            self.api_key,
            concurrency=concurrency,
            max_connections=self.window,
            transport=transport,
            shared=self.shared,
        )
