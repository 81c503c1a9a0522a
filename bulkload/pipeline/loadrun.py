"""One run of a load: the task group that owns every stage, and how it stops.

    ┌─ task group ─────────────────────────────────────────────────────────────────────┐
    │ reading scope:  producer (worker thread) ──Work──▶ [batches: queue_batches,       │
    │                                                     queue_bytes of bodies]       │
    │ sending scope:  sender × concurrency ◀── [batches]   ──Settled──▶ [commits]       │
    │                 committer ◀── [commits] ◀──LooseRejects── producer                │
    └──────────────────────────────────────────────────────────────────────────────────┘

Every stream is bounded; closing a send stream means "done": the producer closes the batch
stream when it has read everything (or stopped), each sender closes its commit stream when
the batch stream ends, and the committer ends once every sender and the producer closed.

A stop (Ctrl-C, SIGTERM, a failure such as a 401 or --max-bad-records) cancels the
reading scope, so reading stops at once, and gives the sending scope a deadline, the drain
time: requests in flight may finish and are committed; batches not yet sent are not sent
(the next run cuts them again). Requests still in flight at the deadline are abandoned and
reported. Any other exception in any task (a bug, a RecursionError, a MemoryError)
cancels the whole group and fails the run. The checkpoint is marked finished only after an
explicit count: every batch cut was acknowledged or skipped as done by an earlier run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkload.config import LoadConfig
from bulkload.contract.matching import FieldMapping
from bulkload.contract.schema import TableSchema
from bulkload.contract.v2schema import V2Object
from bulkload.errors import BooksDoNotBalance, BulkloadError
from bulkload.pipeline.checkpoint import Checkpoint, ResumePlan
from bulkload.pipeline.committer import Committer
from bulkload.pipeline.failpoints import FailPoints
from bulkload.pipeline.messages import (
    CommitItem,
    CommitWaiter,
    LooseRejects,
    ReadingEnd,
    Settled,
    Work,
)
from bulkload.pipeline.producer import Handover, Producer
from bulkload.pipeline.progress import ProgressReporter
from bulkload.pipeline.queuebudget import QueueBudget
from bulkload.pipeline.readers import InputFile
from bulkload.pipeline.rejects import RejectsFile
from bulkload.pipeline.sender import IngestApi, RetryPolicy, Sender, SendEvent
from bulkload.pipeline.summary import Abandoned, LoadStats, LoadSummary
from bulkload.pipeline.v2target import V2Api, V2Ingest, V2Plan

log = logging.getLogger("bulkload")


class LoadRun:
    """One run of a load. Build it, then ``await run()``; see ``load()`` for the front door."""

    def __init__(
        self,
        table: str,
        inputs: list[InputFile],
        schema: TableSchema | V2Object,
        api: IngestApi,
        config: LoadConfig,
        *,
        checkpoint: Checkpoint | None,
        rejects: RejectsFile,
        progress_stream: Any = None,
        sleep: Callable[[float], Any] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        failpoints: FailPoints | None = None,
        v2: V2Plan | None = None,
        fields: FieldMapping | None = None,
        plan: ResumePlan | None = None,
    ) -> None:
        """``fields``: how input names become columns (default: exact, else ignoring case).
        ``plan``: the resume plan when there is no checkpoint to write (a dry run)."""
        self.table = table
        self.v2 = v2
        self.inputs = inputs
        self.schema = schema
        self.config = config
        self.checkpoint = checkpoint
        self.rejects = rejects
        self.stats = LoadStats()
        self.failure: BulkloadError | None = None
        self.stopped_reason: str | None = None
        self.plan: ResumePlan | None = checkpoint.plan if checkpoint is not None else plan
        self.fields = fields
        self._failpoints = failpoints or FailPoints()
        self._progress_stream = progress_stream
        self._reading = anyio.CancelScope()
        self._sending = anyio.CancelScope()
        self._stopping = False
        self._reading_end: ReadingEnd | None = None
        self._in_flight: dict[int, int] = {}  # batch seq -> records, sent and not settled
        self._queue_budget = QueueBudget(config.queue_bytes)
        self._abandoned: dict[int, int] = {}
        self._started = time.monotonic()
        sizes = [f.size_bytes for f in inputs]
        self.stats.bytes_total = (
            None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        )
        body_prefix, body_suffix = v2.body_wrapper() if v2 is not None else (b"", b"")
        self.sender = Sender(
            V2Ingest(cast(V2Api, api)) if v2 is not None else api,
            v2.table_name if v2 is not None else table,
            concurrency=config.concurrency,
            rate_limit_per_s=config.rate_limit_per_s,
            policy=RetryPolicy.from_config(config),
            on_event=self._on_send_event,
            sleep=sleep,
            clock=clock,
            body_prefix=body_prefix,
            body_suffix=body_suffix,
            # Peak v2 limits starts in any sliding second: requests evenly spaced, no burst.
            pace_evenly=v2 is not None,
        )
        self.committer = Committer(
            stats=self.stats,
            rejects=rejects,
            checkpoint=checkpoint,
            source_names=[f.display_name for f in inputs],
            max_bad_records=config.max_bad_records,
            on_failure=self.fail,
            failpoints=self._failpoints,
            dry_run=config.dry_run,
        )

    # ---- stopping -----------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Stop reading now; let requests in flight finish within the drain time; save."""
        if self.stopped_reason is None and self.failure is None:
            self.stopped_reason = reason
        self._stop()

    def fail(self, error: BulkloadError) -> None:
        """A stage met an error that ends the run: stop as gracefully as on Ctrl-C, then
        raise it (the first one wins)."""
        if self.failure is None:
            self.failure = error
        self._stop()

    def _stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._reading.cancel()
        self._sending.deadline = min(
            self._sending.deadline, anyio.current_time() + self.config.drain_timeout_s
        )

    def in_flight(self) -> dict[int, int]:
        """Batches sent and not yet answered: seq -> records."""
        return dict(self._in_flight)

    # ---- the run --------------------------------------------------------------------------

    async def run(self) -> LoadSummary:
        plan = self.plan
        if plan is not None and plan.finished:
            self.stats.records_read = self.stats.records_skipped = plan.skipped_records
            return self._summary(finished=True)
        if plan is not None and plan.in_doubt:
            log.warning(
                "%d batches were in flight without an answer when an earlier run stopped; "
                "they are sent again now, and may be stored twice",
                plan.in_doubt,
            )
        if plan is not None:
            self.stats.records_read = self.stats.records_skipped = plan.skipped_records
        config = self.config
        batch_send, batch_receive = anyio.create_memory_object_stream[Work](config.queue_batches)
        # Each sender has at most one item awaiting commit, the producer one: never full.
        commit_send, commit_receive = anyio.create_memory_object_stream[CommitItem](
            config.concurrency + 2
        )
        try:
            async with anyio.create_task_group() as outer:
                if config.progress:
                    progress = ProgressReporter(
                        self.stats,
                        in_flight=lambda: self.sender.in_flight,
                        stream=self._progress_stream,
                    )
                    outer.start_soon(progress.run)
                try:
                    async with anyio.create_task_group() as group:
                        group.start_soon(self._committer, commit_receive)
                        group.start_soon(self._senders, batch_receive, commit_send.clone())
                        group.start_soon(self._producer, batch_send, commit_send)
                finally:
                    outer.cancel_scope.cancel()  # the progress display
        except BaseExceptionGroup as exc_group:
            error = _the_error(exc_group)
            if not isinstance(error, BulkloadError):
                raise error from None  # a bug: load() makes it an internal error
            self.fail(error)  # e.g. the checkpoint could not be written
        finally:
            self._abandoned.update(self._in_flight)
        return await self._finish()

    async def _finish(self) -> LoadSummary:
        finished = self.failure is None and self.stopped_reason is None
        if finished:
            try:
                self._check_the_books()
            except BooksDoNotBalance as exc:
                self.failure, finished = exc, False
        if finished and self.checkpoint is not None:
            summary = self._summary(finished=True)
            end = self._reading_end
            await anyio.to_thread.run_sync(
                self.checkpoint.mark_finished,
                {
                    "records_ingested": summary.records_ingested,
                    "records_rejected": summary.records_rejected,
                    "trailing_rejected": end.trailing_rejected if end is not None else 0,
                },
            )
        summary = self._summary(finished=finished)
        if self.failure is not None:
            self.failure.summary = summary  # type: ignore[attr-defined]
            raise self.failure
        return summary

    def _check_the_books(self) -> None:
        """Every batch cut is acknowledged or was done by an earlier run, or the load is not
        finished, whatever else was or was not seen."""
        end = self._reading_end
        recorded = self.committer.batches_recorded
        skipped = self.stats.batches_skipped
        if end is not None and (
            self.config.dry_run
            or (
                len(recorded) + skipped == end.batches_cut
                and all(end.first_seq <= seq < end.next_seq for seq in recorded)
            )
        ):
            return
        cut = "?" if end is None else f"{end.batches_cut:,}"
        raise BooksDoNotBalance(
            f"the load's books do not balance ({cut} batches cut, {len(recorded):,} "
            f"acknowledged, {skipped:,} done earlier): the checkpoint is not marked finished; "
            "rerun the same command to send what is missing"
        )

    # ---- the stages ---------------------------------------------------------------------

    async def _producer(
        self, batches: MemoryObjectSendStream[Work], commits: MemoryObjectSendStream[CommitItem]
    ) -> None:
        producer = Producer(
            self.table,
            self.inputs,
            self.schema,
            self.config,
            plan=self.plan,
            hand_over=lambda handover: anyio.from_thread.run(
                self._hand_over, handover, batches, commits
            ),
            check_stop=anyio.from_thread.check_cancelled,
            rejects_path=str(self.rejects.path),
            failpoints=self._failpoints,
            validator=(
                self.v2.validator(ignore_unknown_columns=self.config.ignore_unknown_columns)
                if self.v2 is not None
                else None
            ),
            body_wrapper=self.v2.body_wrapper() if self.v2 is not None else (b"", b""),
            fields=self.fields,
        )
        async with batches, commits:
            with self._reading:
                try:
                    await anyio.to_thread.run_sync(producer.produce)
                except BulkloadError as exc:  # an unreadable input, too many bad records
                    self.fail(exc)

    async def _hand_over(
        self,
        handover: Handover,
        batches: MemoryObjectSendStream[Work],
        commits: MemoryObjectSendStream[CommitItem],
    ) -> None:
        """The producer's half in the event loop: it alone writes the reading counters."""
        stats = self.stats
        stats.records_read = handover.records_read
        stats.bytes_read = handover.bytes_read
        stats.batches_planned = handover.batches_planned
        stats.batches_skipped = handover.batches_skipped
        stats.records_skipped = handover.records_skipped
        stats.files_read = handover.files_read
        stats.records_coerced = handover.records_coerced
        if handover.fields_dropped:
            stats.fields_dropped = Counter(handover.fields_dropped)
        for work in handover.works:
            # room by bytes as well as by batches (the stream's own bound): queuebudget.py
            await self._queue_budget.admit(len(work.batch.body))
            try:
                batches.send_nowait(work)
            except anyio.WouldBlock:
                await batches.send(work)  # waits for room: backpressure on the reading thread
        if handover.loose_rejects:
            await commits.send(LooseRejects(handover.loose_rejects))
        if handover.end is not None:
            self._reading_end = handover.end

    async def _senders(
        self, batches: MemoryObjectReceiveStream[Work], commits: MemoryObjectSendStream[CommitItem]
    ) -> None:
        async with batches, commits:
            with self._sending:
                async with anyio.create_task_group() as group:
                    for _ in range(self.config.concurrency):
                        group.start_soon(self._send_each, batches.clone(), commits.clone())

    async def _send_each(
        self, batches: MemoryObjectReceiveStream[Work], commits: MemoryObjectSendStream[CommitItem]
    ) -> None:
        waiter = CommitWaiter()
        async with batches, commits:
            while True:
                try:
                    work = await _receive(batches)
                except anyio.EndOfStream:
                    return
                self._queue_budget.release(len(work.batch.body))
                self._failpoints.hit("sender")
                settled = Settled(work, await self._send(work), waiter.committed)
                # Never blocks (room for one item per sender), so it cannot be cancelled
                # between the answer and its hand-over to the committer.
                commits.send_nowait(settled)
                self._in_flight.pop(work.batch.seq, None)
                # No new batch until this one is durable: after a kill -9 at most one
                # stored-but-unrecorded batch per sender.
                await waiter.wait()

    async def _send(self, work: Work) -> Any:
        if self._stopping or self.config.dry_run:
            return None  # not sent: the next run cuts it again (its rejects are listed now)
        batch = work.batch
        self._in_flight[batch.seq] = batch.size
        try:
            return await self.sender.send(batch.records, batch.body)
        except BulkloadError as exc:
            # 401, 404, retries exhausted...: the whole run stops; this batch is not done
            self._in_flight.pop(batch.seq, None)
            self.fail(exc)
            return None

    async def _committer(self, commits: MemoryObjectReceiveStream[CommitItem]) -> None:
        # A checkpoint or rejects file that cannot be written ends the run at once (the error
        # cancels the group): nothing more can be recorded, so nothing more may be sent.
        await self.committer.run(commits)

    def _on_send_event(self, event: SendEvent) -> None:
        # counted live from events (not from outcomes) so progress shows retries as they happen
        if event.kind in ("retry", "throttled"):
            self.stats.retries += 1
        if event.kind == "throttled":
            self.stats.throttled += 1

    # ---- the summary ----------------------------------------------------------------------

    def _summary(self, *, finished: bool) -> LoadSummary:
        abandoned = Abandoned(
            batches=tuple(sorted(self._abandoned)), records=sum(self._abandoned.values())
        )
        return LoadSummary.from_stats(
            self.stats,
            table=self.v2.object.object_name if self.v2 is not None else self.table,
            elapsed_s=time.monotonic() - self._started,
            dry_run=self.config.dry_run,
            finished=finished,
            stopped_reason=self.stopped_reason,
            checkpoint_path=str(self.checkpoint.path) if self.checkpoint is not None else None,
            rejects_path=str(self.rejects.path),
            abandoned=abandoned,
            input_fully_read=self._reading_end is not None
            or (self.plan is not None and self.plan.finished),
            error=str(self.failure) if self.failure is not None else None,
            v2=self.v2,
            records_rejected_earlier=self._rejected_earlier(),
        )

    def _rejected_earlier(self) -> int:
        """What the earlier runs of a finished load refused: its rerun still reports them."""
        plan = self.plan
        if plan is None or not plan.finished or plan.totals is None:
            return 0
        rejected = plan.totals.get("records_rejected", 0)
        return rejected if type(rejected) is int and rejected > 0 else 0

    def summary_so_far(self, error: str) -> LoadSummary:
        """The summary of a run that ended with an unexpected error."""
        return replace(self._summary(finished=False), error=error)


async def _receive(stream: MemoryObjectReceiveStream[Work]) -> Work:
    """The next item, without a trip round the event loop when one is waiting.

    ``receive()`` always yields first; each yield is a poll of the selector, which drops
    the GIL to the reading thread and waits to get it back: per batch, that was measurable.
    """
    try:
        return stream.receive_nowait()
    except anyio.WouldBlock:
        return await stream.receive()


def _the_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception to raise for a failed task group: a bug before a BulkloadError (the bug
    is what went wrong; the error may be its consequence), never a cancellation."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        elif not isinstance(exc, anyio.get_cancelled_exc_class()):
            leaves.append(exc)

    collect(group)
    consequences = (BulkloadError, anyio.BrokenResourceError, anyio.ClosedResourceError)
    for leaf in leaves:
        if not isinstance(leaf, consequences):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, BulkloadError):
            return leaf
    return leaves[0] if leaves else group


__all__ = ["LoadRun"]
