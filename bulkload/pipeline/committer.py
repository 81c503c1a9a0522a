"""The committer: the one writer of the rejects file, the checkpoint and the outcome counters.

Senders hand it each batch they are done with (``Settled``), the producer the rejects that
belong to no batch (``LooseRejects``). It takes whatever has piled up, lists the rejects
(the ones read with each batch's span, then the ones the server refused), and makes the
group durable in a worker thread: rejects fsynced first, then one checkpoint append and
fsync for every batch of the group (group commit: while one fsync runs, the next
acknowledgements pile up). Then it calls each item's ``committed``; a sender takes no
new batch before, so a kill -9 leaves at most one stored-but-unrecorded batch per sender.

The durable part is shielded from cancellation: a commit half-done would have its thread
go on writing behind the run's back. If the run is cancelled (a failure elsewhere), what
is already in the stream is still committed, so no acknowledged batch is sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from bulkload.errors import BulkloadError
from bulkload.pipeline.checkpoint import BatchDone, Checkpoint, Position
from bulkload.pipeline.failpoints import FailPoints
from bulkload.pipeline.messages import (
    NO_VALUE,
    CommitItem,
    LooseRejects,
    ReadReject,
    Settled,
)
from bulkload.pipeline.producer import too_many_bad_records
from bulkload.pipeline.rejects import RejectsFile
from bulkload.pipeline.summary import LoadStats

log = logging.getLogger("bulkload")


class Committer:
    def __init__(
        self,
        *,
        stats: LoadStats,
        rejects: RejectsFile,
        checkpoint: Checkpoint | None,
        source_names: list[str],
        max_bad_records: int | None,
        on_failure: Callable[[BulkloadError], None],
        failpoints: FailPoints | None = None,
        dry_run: bool = False,
    ) -> None:
        self._stats = stats
        self._rejects = rejects
        self._checkpoint = checkpoint
        self._source_names = source_names
        self._max_bad_records = max_bad_records
        self._on_failure = on_failure
        self._failpoints = failpoints or FailPoints()
        self._dry_run = dry_run
        self._broken = False  # a commit failed: never try again in this run
        self.batches_recorded: set[int] = set()  # acknowledged and durable, this run

    async def run(self, items: MemoryObjectReceiveStream[CommitItem]) -> None:
        """Commit until every sender and the producer have closed their ends."""
        async with items:
            try:
                while True:
                    group = _drain(items)  # no trip round the loop while items wait
                    if not group:
                        try:
                            group = [await items.receive()]
                        except anyio.EndOfStream:
                            return
                        group.extend(_drain(items))
                    await self._commit(group)
            finally:
                if not self._broken:
                    # cancelled (a failure elsewhere): commit what already reached us
                    with anyio.CancelScope(shield=True):
                        leftovers = _drain(items)
                        if leftovers:
                            await self._commit(leftovers)

    async def _commit(self, group: list[CommitItem]) -> None:
        try:
            self._failpoints.hit("committer")
            done = self._apply(group)
            # rejects listed for no batch (trailing ones) must be durable before "finished"
            durable = bool(done) or any(isinstance(item, LooseRejects) for item in group)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._make_durable, done, durable)
        except BaseException:
            self._broken = True
            raise
        self.batches_recorded.update(batch.seq for batch in done)
        for item in group:
            item.committed()
        limit = self._max_bad_records
        if limit is not None and self._stats.records_rejected > limit:
            self._on_failure(too_many_bad_records(limit, str(self._rejects.path)))

    def _apply(self, group: list[CommitItem]) -> list[BatchDone]:
        """List the group's rejects and count its outcomes (in the loop: buffered writes)."""
        done: list[BatchDone] = []
        for item in group:
            if isinstance(item, LooseRejects):
                self._list_read_rejects(item.rejects)
                continue
            self._settle(item, done)
        return done

    def _settle(self, item: Settled, done: list[BatchDone]) -> None:
        stats = self._stats
        work, outcome = item.work, item.outcome
        batch = work.batch
        self._list_read_rejects(work.read_rejects)
        if outcome is None:
            if self._dry_run:
                stats.records_would_ingest += batch.size
            return  # not sent: its records are read and pending, cut again by the next run
        stats.records_ingested += outcome.ingested
        stats.records_unconfirmed += outcome.unconfirmed
        stats.unconfirmed_requests += outcome.unconfirmed > 0
        stats.requests += outcome.requests
        stats.in_doubt_requests += outcome.in_doubt
        stats.latencies_s.extend(outcome.latencies_s)
        stats.batches_sent += 1
        for index, reason in outcome.rejected:
            file_index, _end, line = batch.tags[index]
            self._rejects.add(
                source=self._source_names[file_index],
                line=line,
                reason=reason,
                record=batch.records[index],
            )
            stats.count_reject(reason)
        if outcome.unattributed:
            # Failures naming no row (Peak v2): listed with the server's text and the lines
            # the request held, counted as rejected; the batch's other rows were ingested.
            first_file, _, first_line = batch.tags[0]
            last_file, _, last_line = batch.tags[-1]
            for reason in outcome.unattributed:
                self._rejects.add_unattributed(
                    source=self._source_names[first_file],
                    lines=(first_line, last_line)
                    if first_file == last_file
                    else (first_line, None),
                    reason=reason,
                )
                stats.count_reject(reason)
                stats.records_unattributed += 1
        file_index, end, line = batch.tags[-1]
        done.append(
            BatchDone(
                seq=batch.seq,
                records=batch.size,
                server_rejected=len(outcome.rejected) + len(outcome.unattributed),
                span_rejected=len(work.read_rejects),
                end=Position(file_index=file_index, offset=end, line=line),
            )
        )

    def _list_read_rejects(self, rejects: list[ReadReject]) -> None:
        add, count = self._rejects.add, self._stats.count_reject
        for reject in rejects:
            value: Any = reject.value
            problems = reject.problems
            if value is NO_VALUE:
                add(source=reject.source, line=reject.line, reason=reject.reason,
                    problems=problems, record=reject.record,
                    csv_header=reject.csv_header)  # fmt: skip
            elif reject.csv_row is not None:
                add(source=reject.source, line=reject.line, reason=reject.reason, value=value,
                    problems=problems, row=reject.csv_row)  # fmt: skip
            else:
                add(source=reject.source, line=reject.line, reason=reject.reason,
                    problems=problems, value=value)  # fmt: skip
            count(reject.reason, problems)

    def _make_durable(self, done: list[BatchDone], durable: bool) -> None:
        # in a worker thread, while the loop waits for it: the files have one user at a time
        self._rejects.flush(durable=durable)
        if self._checkpoint is not None and done:
            self._checkpoint.record(done)


def _drain(items: MemoryObjectReceiveStream[CommitItem]) -> list[CommitItem]:
    """Whatever is in the stream right now, without waiting (nor yielding to the loop)."""
    out: list[CommitItem] = []
    while True:
        try:
            out.append(items.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return out
