"""The load, wired together: read → validate → batch (a worker thread) → send (async
workers) → acknowledge (checkpoint), with rejects on the side.

Why a thread for the producer: reading, validating and packing are CPU-bound synchronous
code; in a thread they never block the event loop that keeps 30 requests moving, and a
bounded queue between the two makes a slow API slow the reader down (backpressure).

Resume rests on one invariant: batches are a pure function of (input, options). Batch
``seq`` always holds the same records, so the checkpoint can name batches by number, a
rerun can seek to the end of the contiguous done prefix, re-cut the same batches from
there and skip the ones recorded beyond it. That is why a stopping run never seals a
partial batch: it simply drops it, to be cut again, whole, by the next run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Any, Protocol

from bulkload.client.http import IngestResult, PeakClient
from bulkload.config import ApiConfig, LoadConfig
from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.errors import BulkloadError, InputError, TooManyBadRecords
from bulkload.pipeline.batcher import Batch, Batcher
from bulkload.pipeline.checkpoint import (
    BatchDone,
    Checkpoint,
    Position,
    ResumePlan,
    default_checkpoint_path,
    default_rejects_path,
)
from bulkload.pipeline.progress import ProgressReporter
from bulkload.pipeline.readers import (
    Chunk,
    ChunkKind,
    InputFile,
    discover_inputs,
    fingerprint,
    read_chunks,
)
from bulkload.pipeline.rejects import RejectsFile
from bulkload.pipeline.sender import RetryPolicy, Sender, SendEvent
from bulkload.pipeline.summary import LoadStats, LoadSummary

# (file_index, resume offset just after the record, its line number)
RecordTag = tuple[int, int, int]

_QUEUE_POLL_S = 0.2


class LoadApi(Protocol):
    """What the pipeline needs of the API client (PeakClient satisfies it)."""

    async def get_table(self, name: str) -> TableSchema: ...

    async def ingest(
        self, table: str, body: bytes, *, timeout_s: float | None = None
    ) -> IngestResult: ...


@dataclass(slots=True)
class _Work:
    batch: Batch[RecordTag]
    span_rejected: int


class _Stopped(Exception):
    """The producer saw the stop flag."""


def _outcomes(
    encode: Callable[[Any], bytes], items: Iterable[Any]
) -> Iterator[bytes | RecordInvalid]:
    """Each item's bytes to send, or why it is refused (what check_raw_many gives in bulk)."""
    for item in items:
        try:
            yield encode(item)
        except RecordInvalid as exc:
            yield exc


async def _put_each(queue: asyncio.Queue[_Work | None], works: list[_Work]) -> None:
    for work in works:
        await queue.put(work)


def _checkpoint_identity(
    table: str, schema: TableSchema, config: LoadConfig, inputs: Sequence[InputFile]
) -> dict[str, Any]:
    return {
        "table": table,
        "schema": [column.to_json() for column in schema.columns],
        "options": {
            "max_batch_records": config.max_batch_records,
            "max_batch_bytes": config.max_batch_bytes,
            "ignore_unknown_columns": config.ignore_unknown_columns,
            "input_format": config.input_format,
        },
        "inputs": [{"name": f.display_name, **fingerprint(f)} for f in inputs],
    }


class LoadRun:
    """One run of a load. Build it, then ``await run()``; see ``load()`` for the front door."""

    def __init__(
        self,
        table: str,
        inputs: list[InputFile],
        schema: TableSchema,
        api: LoadApi,
        config: LoadConfig,
        *,
        checkpoint: Checkpoint | None,
        rejects: RejectsFile,
        progress_stream: Any = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.inputs = inputs
        self.schema = schema
        self.config = config
        self.checkpoint = checkpoint
        self.rejects = rejects
        self.validator = RecordValidator(
            schema, ignore_unknown_columns=config.ignore_unknown_columns
        )
        self.stats = LoadStats()
        self.stop_reading = threading.Event()
        self.stop_sending = asyncio.Event()
        self.fatal: BaseException | None = None
        self.stopped_reason: str | None = None
        self._rejects_lock = threading.Lock()
        self._acks: list[BatchDone] = []
        self._acks_ready = asyncio.Event()
        self._next_commit: asyncio.Future[None]  # created when run() starts, in its loop
        self._closing = False
        self._progress_stream = progress_stream
        self._trailing_rejected = 0
        self.plan: ResumePlan | None = checkpoint.plan if checkpoint is not None else None
        sizes = [f.size_bytes for f in inputs]
        self.stats.bytes_total = (
            None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        )
        self.sender = Sender(
            api,
            table,
            concurrency=config.concurrency,
            rate_limit_per_s=config.rate_limit_per_s,
            policy=RetryPolicy(
                max_retries=config.max_retries,
                max_retry_time_s=config.max_retry_time_s,
                initial_s=config.backoff_initial_s,
                max_s=config.backoff_max_s,
            ),
            on_event=self._on_send_event,
            sleep=sleep,
            clock=clock,
        )

    # ---- the producer (runs in a worker thread) -------------------------------------------

    def _reject(
        self, input_file: InputFile, line: int, reason: str, item: Any, kind: ChunkKind | None
    ) -> None:
        with self._rejects_lock:
            if kind is ChunkKind.RAW_JSON or isinstance(item, bytes | bytearray):
                self.rejects.add(
                    source=input_file.display_name, line=line, reason=reason, record=bytes(item)
                )
            else:
                self.rejects.add(
                    source=input_file.display_name, line=line, reason=reason, value=item
                )

    def _encoder_for(
        self,
        chunk: Chunk,
        input_file: InputFile,
        cache: dict[tuple[str, ...], Callable[[Any], bytes]],
    ) -> Callable[[Any], bytes]:
        if chunk.kind is ChunkKind.RAW_JSON:
            return self.validator.check_raw
        if chunk.kind is ChunkKind.OBJECTS:
            return self.validator.check_object
        header = tuple(chunk.header or ())
        encoder = cache.get(header)
        if encoder is None:
            problems = self.validator.csv_header_problems(list(header))
            if problems:
                known = {column.name for column in self.schema.columns}
                # The hint only helps with unknown columns, not with a column named twice.
                hint = (
                    " (use --ignore-unknown-columns to drop unknown columns)"
                    if not self.config.ignore_unknown_columns
                    and any(name not in known for name in header)
                    else ""
                )
                raise InputError(
                    f"CSV header of {input_file.display_name} does not fit table {self.table}: "
                    + "; ".join(problems)
                    + hint
                )
            encoder = self.validator.csv_encoder(list(header))
            cache[header] = encoder
        return encoder

    def produce(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[_Work | None]) -> None:
        config, stats = self.config, self.stats
        plan = self.plan
        start = plan.start if plan is not None else None
        done_beyond = plan.done_beyond if plan is not None else frozenset()
        batcher: Batcher[RecordTag] = Batcher(
            max_records=config.max_batch_records,
            max_bytes=config.max_batch_bytes,
            first_seq=plan.next_seq if plan is not None else 0,
        )
        max_alone = config.max_batch_bytes - 2
        check_raw_many = self.validator.check_raw_many
        span_reasons: list[str] = []  # rejects since the last sealed batch
        tail_reasons: list[str] = []  # ... of which after the last accepted record
        # Batches sealed from the current chunk, handed to the event loop together: one
        # cross-thread call (and one wake-up of each thread) per chunk, not per batch.
        sealed_works: list[_Work] = []

        def hand_over() -> None:
            if sealed_works:
                works = list(sealed_works)
                sealed_works.clear()
                self._put_all(loop, queue, works)

        def seal(batch: Batch[RecordTag]) -> None:
            nonlocal span_reasons
            in_span = span_reasons[: len(span_reasons) - len(tail_reasons)]
            span_reasons = list(tail_reasons)
            if batch.seq in done_beyond:
                stats.batches_skipped += 1
                stats.records_skipped += batch.size + len(in_span)
                return
            for reason in in_span:
                self._count_reject(reason)
            stats.batches_planned += 1
            if config.dry_run:
                return
            sealed_works.append(_Work(batch, len(in_span)))

        def accept(record: bytes, tag: RecordTag) -> None:
            sealed = batcher.add(record, tag)
            if sealed is not None:
                if sealed.tags[-1] is tag:
                    # sealed with this record in it: the rejects read before the record
                    # belong to the sealed batch's span too
                    tail_reasons.clear()
                seal(sealed)
            tail_reasons.clear()

        first_file = start.file_index if start is not None else 0
        bytes_before = sum(f.size_bytes or 0 for f in self.inputs[:first_file])
        stats.bytes_read = bytes_before
        try:
            for file_index in range(first_file, len(self.inputs)):
                input_file = self.inputs[file_index]
                offset, line = (
                    (start.offset, start.line)
                    if start and file_index == start.file_index
                    else (0, 0)
                )
                encoders: dict[tuple[str, ...], Callable[[Any], bytes]] = {}
                read_before = stats.records_read
                for chunk in read_chunks(
                    input_file, start=offset, start_line=line, buffer_bytes=config.read_buffer_bytes
                ):
                    if self.stop_reading.is_set():
                        raise _Stopped
                    encode = self._encoder_for(chunk, input_file, encoders)
                    header = chunk.header or ()
                    for problem in chunk.problems:
                        self._reject(input_file, problem.line, problem.reason, problem.raw, None)
                        span_reasons.append(problem.reason)
                        tail_reasons.append(problem.reason)
                    items = chunk.items
                    outcomes: Iterable[bytes | RecordInvalid]
                    if chunk.kind is ChunkKind.RAW_JSON:
                        outcomes = check_raw_many(items)
                        every_record_goes_as_is = (
                            outcomes is items and bool(items) and max(map(len, items)) <= max_alone
                        )
                    else:
                        outcomes = _outcomes(encode, items)
                        every_record_goes_as_is = False
                    if every_record_goes_as_is:
                        # The common case: the first record the usual way (it settles the
                        # rejects read before it), the rest in bulk, with no rejects among
                        # them to account for.
                        accept(items[0], (file_index, chunk.ends[0], chunk.lines[0]))
                        tags = list(
                            zip(
                                repeat(file_index),
                                islice(chunk.ends, 1, None),
                                islice(chunk.lines, 1, None),
                            )
                        )
                        for sealed in batcher.add_many(items[1:], tags):
                            seal(sealed)
                    else:
                        for outcome, item, end, item_line in zip(
                            outcomes, items, chunk.ends, chunk.lines, strict=True
                        ):
                            if isinstance(outcome, RecordInvalid):
                                reason = str(outcome)
                            elif len(outcome) <= max_alone:
                                accept(outcome, (file_index, end, item_line))
                                continue
                            else:
                                reason = (
                                    f"record is {len(outcome):,} bytes; one request holds at "
                                    f"most {config.max_batch_bytes:,} bytes"
                                )
                            if chunk.kind is ChunkKind.CSV_ROWS and len(item) == len(header):
                                item = dict(zip(header, item, strict=True))  # name the fields
                            self._reject(input_file, item_line, reason, item, chunk.kind)
                            span_reasons.append(reason)
                            tail_reasons.append(reason)
                    stats.records_read += len(chunk.items) + len(chunk.problems)
                    stats.bytes_read = bytes_before + chunk.bytes_consumed
                    hand_over()
                if stats.records_read == read_before and offset == 0:
                    # not an error (an empty export is legal), but rarely what was meant
                    print(
                        f"bulkload: warning: input {input_file.display_name} holds no records",
                        file=sys.stderr,
                        flush=True,
                    )
                bytes_before += input_file.size_bytes or 0
                stats.bytes_read = bytes_before
            last = batcher.flush()
            if last is not None:
                seal(last)
            hand_over()
            for reason in span_reasons:
                self._count_reject(reason)
            self._trailing_rejected = len(span_reasons)
        except _Stopped:
            return

    def _count_reject(self, reason: str) -> None:
        self.stats.count_reject(reason)
        limit = self.config.max_bad_records
        if limit is not None and self.stats.records_rejected > limit and self.fatal is None:
            self.fatal = TooManyBadRecords(
                f"more than {limit:,} records rejected (--max-bad-records): see {self.rejects.path}; "
                "fix the input or raise the limit, then rerun the same command"
            )
            self.stop_reading.set()

    def _put_all(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[_Work | None],
        works: list[_Work],
    ) -> None:
        """Queue ``works`` in order, waiting for room (backpressure); _Stopped on a stop,
        leaving the rest unqueued, to be cut again by the next run."""
        future = asyncio.run_coroutine_threadsafe(_put_each(queue, works), loop)
        while True:
            try:
                future.result(timeout=_QUEUE_POLL_S)
                return
            except concurrent.futures.TimeoutError:
                if self.stop_reading.is_set():
                    future.cancel()
                    raise _Stopped from None

    # ---- the senders (async workers) -----------------------------------------------------

    def _on_send_event(self, event: SendEvent) -> None:
        # counted live from events (not from outcomes) so progress shows retries as they happen
        if event.kind in ("retry", "throttled"):
            self.stats.retries += 1
        if event.kind == "throttled":
            self.stats.throttled += 1

    async def _next_work(self, queue: asyncio.Queue[_Work | None]) -> _Work | None:
        """The next batch, or None once the queue is closed or a stop was asked, whichever
        comes first: a stopping worker must not sit on an empty queue."""
        if self.stop_sending.is_set():
            return None
        try:
            work = queue.get_nowait()
        except asyncio.QueueEmpty:
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(self.stop_sending.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                return None
            work = getter.result()
        return None if self.stop_sending.is_set() else work

    async def _close_queue(self, queue: asyncio.Queue[_Work | None], workers: int) -> None:
        """One "done" per worker, unless a stop comes first (stopped workers drain nothing,
        so a put on a full queue would wait forever)."""
        closer = asyncio.ensure_future(self._put_done_markers(queue, workers))
        stopper = asyncio.ensure_future(self.stop_sending.wait())
        await asyncio.wait({closer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (closer, stopper):
            task.cancel()

    @staticmethod
    async def _put_done_markers(queue: asyncio.Queue[_Work | None], workers: int) -> None:
        for _ in range(workers):
            await queue.put(None)

    async def _worker(self, queue: asyncio.Queue[_Work | None]) -> None:
        stats = self.stats
        while (work := await self._next_work(queue)) is not None:
            batch = work.batch
            try:
                outcome = await self.sender.send(batch.records, batch.body)
            except BulkloadError as exc:
                self._fail(exc)
                return
            stats.records_ingested += outcome.ingested
            stats.requests += outcome.requests
            stats.in_doubt_requests += outcome.in_doubt
            stats.latencies_s.extend(outcome.latencies_s)
            if outcome.rejected:
                for index, reason in outcome.rejected:
                    file_index, _end, line = batch.tags[index]
                    self._reject(
                        self.inputs[file_index],
                        line,
                        reason,
                        batch.records[index],
                        ChunkKind.RAW_JSON,
                    )
                    self._count_reject(reason)
            stats.batches_sent += 1
            file_index, end, line = batch.tags[-1]
            self._acks.append(
                BatchDone(
                    seq=batch.seq,
                    records=batch.size,
                    server_rejected=len(outcome.rejected),
                    span_rejected=work.span_rejected,
                    end=Position(file_index=file_index, offset=end, line=line),
                )
            )
            committed = self._next_commit
            self._acks_ready.set()
            # Take no new batch until this one is in the checkpoint: then a kill -9 can leave
            # at most one stored-but-unrecorded batch per worker, i.e. the in-flight window.
            try:
                await asyncio.shield(committed)
            except BulkloadError as exc:
                self._fail(exc)
                return

    def _commit(self, acks: list[BatchDone]) -> None:
        with self._rejects_lock:
            self.rejects.flush(durable=True)
        if self.checkpoint is not None and acks:
            self.checkpoint.record(acks)

    def _fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.stop_reading.set()
        self.stop_sending.set()

    async def _flush_acks(self) -> bool:
        """Commit the acknowledgements so far; False when the commit failed (run stopped)."""
        acks, self._acks = self._acks, []
        committed, self._next_commit = self._next_commit, asyncio.get_running_loop().create_future()
        try:
            await asyncio.to_thread(self._commit, acks)
        except BulkloadError as exc:
            # No commit will ever come again: fail this one and every later waiter, and stop.
            self._fail(exc)
            for waiter in (committed, self._next_commit):
                waiter.set_exception(exc)
                waiter.exception()  # retrieved here; workers that await it see it too
            return False
        committed.set_result(None)
        return True

    async def _committer(self) -> None:
        """Group commit: while one fsync runs, the next acknowledgements pile up."""
        while True:
            await self._acks_ready.wait()
            self._acks_ready.clear()
            if not await self._flush_acks():
                return
            if self._closing and not self._acks:
                return

    # ---- the whole run -------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """First Ctrl-C: stop reading, let requests in flight finish, keep the checkpoint."""
        if self.stopped_reason is None:
            self.stopped_reason = reason
        self.stop_reading.set()
        self.stop_sending.set()

    async def _await_workers(self, workers: list[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        """Wait for the workers; once a stop is asked, give requests in flight a bounded time."""
        stop = asyncio.create_task(self.stop_sending.wait())
        pending = set(workers)
        try:
            while pending and not self.stop_sending.is_set():
                await asyncio.wait({*pending, stop}, return_when=asyncio.FIRST_COMPLETED)
                pending = {task for task in pending if not task.done()}
            if pending:
                _done, pending = await asyncio.wait(pending, timeout=self.config.drain_timeout_s)
            return pending
        finally:
            stop.cancel()

    async def run(self) -> LoadSummary:
        started = time.monotonic()
        stats, config = self.stats, self.config
        plan = self.plan
        if plan is not None:
            stats.records_read = stats.records_skipped = plan.skipped_records
        if plan is not None and plan.finished:
            return self._summary(started, finished=True)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=config.queue_batches)
        workers = [
            asyncio.create_task(self._worker(queue), name=f"bulkload-sender-{i}")
            for i in range(config.concurrency)
        ]
        self._next_commit = loop.create_future()
        committer = asyncio.create_task(self._committer(), name="bulkload-checkpoint")
        producer_error: BaseException | None = None
        async with ProgressReporter(
            stats,
            in_flight=lambda: self.sender.in_flight,
            enabled=config.progress,
            stream=self._progress_stream,
        ):
            try:
                await asyncio.to_thread(self.produce, loop, queue)
            except BaseException as exc:  # InputError mid-file, or cancellation
                producer_error = exc
                self.stop_reading.set()
                self.stop_sending.set()
            # when stopping, queued batches are simply never sent: the next run cuts them again
            await self._close_queue(queue, len(workers))
            pending = await self._await_workers(workers)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            # never cancel a commit half-way: its thread would go on writing behind our back
            self._closing = True
            self._acks_ready.set()
            await committer

        if isinstance(producer_error, BulkloadError):
            self.fatal = self.fatal or producer_error
        elif producer_error is not None:
            raise producer_error
        finished = self.fatal is None and self.stopped_reason is None
        if finished and self.checkpoint is not None:
            summary = self._summary(started, finished=True)
            await asyncio.to_thread(
                self.checkpoint.mark_finished,
                {
                    "records_ingested": summary.records_ingested,
                    "records_rejected": summary.records_rejected,
                    "trailing_rejected": self._trailing_rejected,
                },
            )
        summary = self._summary(started, finished=finished)
        if self.fatal is not None:
            if isinstance(self.fatal, BulkloadError):
                self.fatal.summary = summary  # type: ignore[attr-defined]
            raise self.fatal
        return summary

    def _summary(self, started: float, *, finished: bool) -> LoadSummary:
        return LoadSummary.from_stats(
            self.stats,
            table=self.table,
            elapsed_s=time.monotonic() - started,
            dry_run=self.config.dry_run,
            finished=finished,
            stopped_reason=self.stopped_reason,
            checkpoint_path=str(self.checkpoint.path) if self.checkpoint is not None else None,
            rejects_path=str(self.rejects.path),
        )


def _install_sigint(run: LoadRun) -> Callable[[], None]:
    """First SIGINT: graceful stop. Second: exit at once (the checkpoint is append-only,
    each line fsynced, so it is consistent at any instant)."""
    loop = asyncio.get_running_loop()

    def on_sigint() -> None:
        if run.stopped_reason is not None:
            os._exit(130)
        print(
            "\nbulkload: stopping: letting requests in flight finish (Ctrl-C again to quit now)",
            file=sys.stderr,
            flush=True,
        )
        run.request_stop("interrupted")

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # not the main thread
        return lambda: None

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGINT)

    return remove


async def load(
    table: str,
    paths: Sequence[str | os.PathLike[str]],
    *,
    api: ApiConfig | None = None,
    config: LoadConfig | None = None,
    client: LoadApi | None = None,
    cwd: Path | None = None,
    handle_sigint: bool = False,
    progress_stream: Any = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LoadSummary:
    """Load every valid record of ``paths`` into ``table``; return the summary.

    ``api`` defaults to the environment (PEAK_* variables); pass ``client`` to use an
    already-open client instead; ``sleep`` and ``clock`` are how backoff waits and tells time
    (tests pass a virtual clock). Raises a ``BulkloadError`` for anything that stops the run
    (its ``summary`` attribute, when set, describes what was done before it stopped).
    """
    config = config or LoadConfig()
    cwd = cwd or Path.cwd()
    path_names = [os.fspath(p) for p in paths]
    inputs = discover_inputs(path_names, config.input_format)
    resumable = all(f.path is not None for f in inputs)
    checkpoint_path = config.checkpoint_path or default_checkpoint_path(table, path_names, cwd)
    rejects_path = config.rejects_path or default_rejects_path(checkpoint_path)
    if not resumable and config.checkpoint_path is None:
        print("bulkload: reading stdin: this load cannot be resumed", file=sys.stderr)

    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            api = api or ApiConfig.from_env()
            api.require_credentials()
            # The ingest retry policy also covers the token request and the table fetch.
            client = await stack.enter_async_context(
                PeakClient(api, retry_policy=RetryPolicy.from_config(config), sleep=sleep)
            )
        schema = await client.get_table(table)
        checkpoint: Checkpoint | None = None
        if resumable and not config.dry_run:
            identity = _checkpoint_identity(table, schema, config, inputs)
            checkpoint = Checkpoint.open(checkpoint_path, identity, restart=config.restart)
            stack.callback(checkpoint.close)
            for warning in checkpoint.warnings:
                print(f"bulkload: warning: {warning}", file=sys.stderr)
        rejects = RejectsFile.open(rejects_path, restart=config.restart)
        stack.callback(rejects.close)
        run = LoadRun(
            table,
            inputs,
            schema,
            client,
            config,
            checkpoint=checkpoint,
            rejects=rejects,
            progress_stream=progress_stream,
            sleep=sleep,
            clock=clock,
        )
        remove_handler = _install_sigint(run) if handle_sigint else (lambda: None)
        try:
            return await run.run()
        finally:
            remove_handler()


__all__ = ["LoadApi", "LoadRun", "load"]
