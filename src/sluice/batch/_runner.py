"""The batch runner: send what is left through one `sluice.llm.Client`, write each answer
as it comes, journal it, and resume where a killed run stopped.

Crash consistency: an answer's output line is written (one ``write``) before its journal
row is queued, and the journal fsyncs the output before committing. A resumed run takes as
done every journaled id and every id on an output line past the journal's last offset, so
after ``kill -9`` at any moment nothing that reached the output is sent again and no id gets
two lines; a request in flight at the kill (sent, not yet written) is sent again.

    result = await run_batch(options)   # see sluice.batch.run for the arguments
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Generator
from typing import Any

from .. import is_retryable
from ..llm import APIStatusError, Client, RawResult
from ._cache import Answer, AnswerCache
from ._dry_run import dry_run
from ._fail_fast import FailFast, fixed_outside_the_input
from ._input import Malformed, Request
from ._journal import Failure, Journal
from ._meter import Recent
from ._options import BatchOptions
from ._order import InputOrder
from ._output import FailedFile, OutputFile, output_line, output_truncated
from ._plan import Plan, check_input
from ._report import progress_of, result_of
from ._result import BatchResult, Progress
from ._spend import Spending
from ._stop import NotSent

__all__ = ["run_batch"]

logger = logging.getLogger("sluice.batch")
Entries = Generator[Request | Malformed, None, None]
_RECENT = 1024  # answers kept to serve a repeated body that arrives after its first finished
_MIN_FINISHED_FOR_SHARE = 20


async def run_batch(
    options: BatchOptions, keep: Callable[[Request | Malformed], bool] | None = None
) -> BatchResult:
    """Run the batch described by ``options`` to its end (or until stopped); with ``keep``,
    only the input entries it keeps (a shard's)."""
    if options.dry_run:
        return await asyncio.to_thread(dry_run, options)
    input_path = check_input(options.input)
    journal = Journal(options.journal_path)
    state = await asyncio.to_thread(journal.load)
    output = OutputFile(options.output)
    try:
        if output.size < state.output_offset:
            raise output_truncated(
                options.output, output.size, options.journal_path, state.output_offset
            )
        # Lines a killed run wrote after the journal's last commit: done, journaled below.
        tail = output.custom_ids_after(state.output_offset)
        state.done.update(custom_id for custom_id, _ in tail)
        plan = await asyncio.to_thread(
            Plan.make,
            input_path,
            state,
            options.journal_path,
            retry_failed=options.retry_failed,
            keep=keep,
        )
        spending = Spending.start(options.prices, options.max_cost, plan.models)
    except BaseException:
        output.close()
        raise
    if plan.plain:
        options.notice(
            f"{plan.plain} line(s) of {input_path} are plain request bodies without "
            "custom_id: each gets the id line-<line number>-<hash of its content>, stable "
            "as long as the line keeps its place and content"
        )
    if output.repaired:
        options.notice(f"cut a torn last line ({output.repaired} bytes) off {output.path}")
    failed_file = FailedFile(options.failed_path)
    journal.start(output.fd)
    try:
        for custom_id, end in tail:
            digest = plan.fingerprints.get(custom_id)
            if digest is not None:
                journal.done(custom_id, digest, end, attempts=0)
        run = _Run(options, plan, output, failed_file, journal, spending)
        return await run.go()
    finally:
        try:
            journal.close()
        finally:
            output.close()
            failed_file.close()


class _Run:
    """One run's counters, dedup table and workers."""

    def __init__(
        self,
        options: BatchOptions,
        plan: Plan,
        output: OutputFile,
        failed_file: FailedFile,
        journal: Journal,
        spending: Spending,
    ) -> None:
        self.options, self.plan, self.spending = options, plan, spending
        self.output, self.failed_file, self.journal = output, failed_file, journal
        self.sent = self.done = self.failed = self.malformed = 0
        self.deduplicated = self.in_flight = self.not_sent = 0
        self.stopped: str | None = None
        # Dedup: a body in flight, and the requests with the same body waiting for it.
        self.leaders: dict[bytes, list[Request]] = {}
        self.recent: collections.OrderedDict[bytes, Answer] = collections.OrderedDict()
        self.order = InputOrder(options.ordered_hold) if options.ordered else None
        self.cache: AnswerCache | None = None
        self.fail_fast = FailFast()
        self.started = time.monotonic()
        self.rates = Recent(self.started)
        self.client: Client | None = None
        # Tasks of requests inside client.post, and those of them on the wire (see _stop).
        self.waiting: set[asyncio.Task[Any]] = set()
        self.on_wire: set[asyncio.Task[Any]] = set()

    async def go(self) -> BatchResult:
        options = self.options
        entries = self.plan.pending()
        for carried in self.plan.carried:
            failure = carried.failure
            self.failed_file.add(
                failure.line, carried.custom_id, failure.error_class, failure.message
            )
        client = options.client or options.make_client(self.is_stopped, self.on_wire)
        self.client = client
        helpers: list[asyncio.Task[None]] = []
        try:
            if options.cache is not None:
                self.cache = AnswerCache.open(options.cache, client.base_url, options.notice)
            if options.progress is not None:
                helpers.append(asyncio.create_task(self._report(options.progress)))
            if options.stop_event is not None:
                helpers.append(asyncio.create_task(self._watch(options.stop_event)))
            if options.client is None and not options.paced and options.shared is None:
                client = self.client = await self._learn_first(entries, client)
            async with asyncio.TaskGroup() as group:
                for _ in range(options.window):
                    group.create_task(self._work(entries, client))
        finally:
            if self.order is not None:
                self.order.flush()  # a hard stop: keep the answers held, in order
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            entries.close()
            try:
                if self.cache is not None:
                    await self.cache.aclose()
            finally:
                if options.client is None:
                    await client.aclose()
        if options.progress is not None:
            options.progress(self.snapshot())
        return result_of(self)

    def is_stopped(self) -> bool:
        """Whether to send nothing more (a stop asked for by ``stop_event`` included)."""
        event = self.options.stop_event
        if event is not None and event.is_set():
            self.stop("interrupted")
        return self.stopped is not None

    def stop(self, reason: str) -> None:
        """Send nothing more; what is on the wire finishes, what waits in the gate is
        cancelled (with the runner's own client; a client passed in sends what it admitted,
        its transport not saying what is on the wire)."""
        if self.stopped is not None:
            return
        self.stopped = reason
        if self.order is not None:
            self.order.wake()
        if self.options.client is None:
            current = asyncio.current_task()
            for task in self.waiting - self.on_wire:
                if task is not current:
                    task.cancel()

    async def _watch(self, event: asyncio.Event) -> None:
        await event.wait()
        self.stop("interrupted")

    # ------------------------------------------------------------------ workers
    async def _learn_first(self, entries: Entries, client: Client) -> Client:
        """With no rate pinned: send alone until one request has been answered, then pin
        the rates its headers taught the gate. The rest starts at the full window, paced from
        its first request, rather than from a small blind start that grows for seconds (and
        whose waiters, their rate slots booked, go out in bursts as the limit grows)."""
        while self.sent == 0 and not self.is_stopped():
            request = await self._next_request(entries)
            if request is None:
                return client
            await self._send(request, client)
        learned = client.statistics().gate.rate
        if learned is None or self.is_stopped():
            return client  # no x-ratelimit-* headers: the adaptive limit finds its way
        per_second = learned.requests_per_second
        rpm = None if per_second is None else per_second * 60.0
        pinned = self.options.make_client(
            self.is_stopped, self.on_wire, rpm=rpm, tpm=learned.tokens_per_minute
        )
        await client.aclose()
        return pinned

    async def _work(self, entries: Entries, client: Client) -> None:
        while not self.is_stopped():
            request = await self._next_request(entries)
            if request is None:
                return
            await self._send(request, client)

    async def _next_request(self, entries: Entries) -> Request | None:
        """The next request to send (malformed lines recorded on the way), or None at the
        end or on a stop."""
        order = self.order
        while True:
            if order is not None:
                await order.room()  # the hold is full: wait for the head of the order
                if self.is_stopped():
                    return None
            entry = next(entries, None)
            if entry is None:
                return None
            if isinstance(entry, Malformed):
                self.malformed += 1
                self.failed_file.add(entry.line, entry.custom_id, entry.error_class, entry.message)
                if order is not None:
                    order.skip(order.take())
                continue
            if order is not None:
                order.take(entry.custom_id)
            return entry

    async def _send(self, request: Request, client: Client) -> None:
        digest = request.fingerprint
        if self.options.dedup:
            answer = self.recent.get(digest)
            if answer is not None:
                self.deduplicated += 1
                self._write(request, answer, attempts=0)
                return
            waiting = self.leaders.get(digest)
            if waiting is not None:
                self.deduplicated += 1
                waiting.append(request)
                return
        if self.options.dedup:
            self.leaders[digest] = []
        if self.cache is not None:
            cached = await self.cache.get(request)
            if cached is not None:
                self._answered(request, cached, attempts=0)
                return
        reservation = self.spending.reserve(request)
        if reservation is None:
            cap = self.spending.cap
            self.stop(f"max cost: the next request could take the spending past {cap:g} USD")
            self._left(request)
            return
        self.in_flight += 1
        task = asyncio.current_task()
        assert task is not None  # a worker
        self.waiting.add(task)
        try:
            result: RawResult = await client.post(request.path, request.body)
            self.sent += 1
        except NotSent:
            self.spending.release(reservation)
            self._left(request)
        except asyncio.CancelledError:
            self.spending.release(reservation)
            if self.stopped is not None and task not in self.on_wire:
                self._left(request)  # cancelled by stop() while it waited in the gate
            raise
        except Exception as exc:  # every failure is reported, the run goes on
            self.sent += 1
            self.spending.fail(reservation, answered=isinstance(exc, APIStatusError))
            followers = self.leaders.pop(digest, [])
            status = exc.status if isinstance(exc, APIStatusError) else None
            # A key refused is fixed outside the input: the next run sends these again.
            retryable = is_retryable(exc) or fixed_outside_the_input(status)
            failure = Failure(request.line, type(exc).__name__, str(exc), retryable)
            self._fail(request, failure, attempts=1)
            for follower in followers:
                self._fail(follower, Failure(follower.line, *_fields(failure)), attempts=0)
            said = exc.message if isinstance(exc, APIStatusError) else str(exc)
            reason = self.fail_fast.failed(status, said)
            if reason is not None:
                self.stop(reason)
        else:
            self.spending.settle(request, reservation, result.usage)
            self.fail_fast.succeeded()
            answer = Answer(result.status, result.request_id, result.body)
            self._answered(request, answer, attempts=1)
            if self.cache is not None:
                await self.cache.put(request, answer)
        finally:
            self.in_flight -= 1
            self.waiting.discard(task)
            self.on_wire.discard(task)

    def _answered(self, request: Request, answer: Answer, attempts: int) -> None:
        """Write the answer for the request and for every request waiting on its body."""
        digest = request.fingerprint
        followers = self.leaders.pop(digest, [])
        self._write(request, answer, attempts)
        for follower in followers:
            self._write(follower, answer, attempts=0)
        if self.options.dedup:
            self.recent[digest] = answer
            if len(self.recent) > _RECENT:
                self.recent.popitem(last=False)

    def _left(self, request: Request) -> None:
        """A request (and its followers) a stop caught before it was sent."""
        left = self.leaders.pop(request.fingerprint, [])
        self.deduplicated -= len(left)
        self.not_sent += 1 + len(left)
        if self.order is not None:
            for each in (request, *left):
                self.order.give_up(each.custom_id)

    def _write(self, request: Request, answer: Answer, attempts: int) -> None:
        if self.order is not None:
            self.order.hold(request.custom_id, lambda: self._put(request, answer, attempts))
        else:
            self._put(request, answer, attempts)

    def _put(self, request: Request, answer: Answer, attempts: int) -> None:
        line = output_line(request.custom_id, answer.status, answer.request_id, answer.body)
        end = self.output.append(line)  # the line first, then the journal (see module doc)
        digest = request.line_digest or None
        self.journal.done(request.custom_id, request.fingerprint, end, attempts, digest)
        self.done += 1

    def _fail(self, request: Request, failure: Failure, attempts: int) -> None:
        self.failed_file.add(failure.line, request.custom_id, failure.error_class, failure.message)
        self.journal.failed(request.custom_id, request.fingerprint, failure, attempts)
        self.failed += 1
        if self.order is not None:
            self.order.give_up(request.custom_id)
        self._check_failures()

    def _check_failures(self) -> None:
        limit = self.options.max_failures
        if limit is None:
            return
        count, share = limit
        if count is not None and self.failed >= count:
            self.stop(f"{self.failed} requests failed (--max-failures {count})")
        finished = self.failed + self.done
        enough = finished >= _MIN_FINISHED_FOR_SHARE
        if share is not None and enough and self.failed / finished * 100 >= share:
            self.stop(
                f"{self.failed} of {finished} finished requests failed (--max-failures {share:g}%)"
            )

    # ------------------------------------------------------------------ reporting
    async def _report(self, progress: Callable[[Progress], None]) -> None:
        while True:
            await asyncio.sleep(self.options.progress_every)
            progress(self.snapshot())

    def snapshot(self) -> Progress:
        return progress_of(self)


def _fields(failure: Failure) -> tuple[str, str, bool]:
    return failure.error_class, failure.message, failure.retryable
