"""Worker processes for the per-chunk CPU work (``--workers N``).

    producer thread ──(kind, header, items)──▶ worker process 1..N ──Verdict──┐
          ▲                                                                  │
          └───────────── verdicts taken back in input order ─────────────────┘

Validation and conversion to the JSON sent (``chunkcheck.ChunkChecker``) are most of a
load's CPU and need nothing but a chunk's items, so they can run on other cores (Parquet
batches excepted: handing them over costs more than converting them, see ``submit``). A CSV
file goes as raw blocks of whole lines (``readers.csv.CsvBlock``) where that pays
(``csv_in_workers``): the worker parses them too, since pickling rows of str fields there
costs more than converting them (see ``submit``); elsewhere its rows stay in the loader.
Reading, the batcher, the rejects' accounting and every request stay in the loader process,
and the producer takes verdicts in the order it read the chunks (``Ticket.taken``): the
batches are the same bytes whether N is 0, 1 or 16, so resume and the checkpoint do not
depend on it.

The workers start as the pool is entered (``auto``: only for an input known or proven
large, see ``auto_start``), and the loader checks chunks itself while none has answered yet
and whenever all of them are behind (``ChunkPool.submit``).

Worker processes are spawned (not forked: the loader has an event loop and threads), ignore
the terminal's signals (the loader alone decides when to stop and tells them by closing the
pool), and end when the loader does. A chunk a worker fails on for any other reason than
dying is checked again in the loader process, which then raises what ``--workers 0`` would.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import compress, count
from operator import is_not
from typing import Any

from bulkload.contract.arrowrows import ArrowRows
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordValidator
from bulkload.errors import BulkloadError, WorkerFailed
from bulkload.pipeline.chunkcheck import ChunkChecker, CsvBlockTake, Outcome, Validator, Verdict
from bulkload.pipeline.failpoints import FailPoints, InjectedFault
from bulkload.pipeline.readers.chunks import Chunk, ChunkKind
from bulkload.pipeline.readers.csv import CsvBlock
from bulkload.pipeline.readers.discovery import InputFile

log = logging.getLogger("bulkload")

# With ``--workers auto``, an input whose size is known (regular files, ``stat`` at
# discovery) starts the workers as the load starts when it holds at least this many bytes
# for them, and never starts them when it is known to hold fewer: a worker's start-up (an
# interpreter and the validator's imports, ~0.25 CPU s) and its hand-over cost more than
# they save on a smaller input. Measured on 2 cores, small JSON Lines records, one worker
# against none (benchmarks/PROFILE.md, "the hand-over and the workers' start"):
# 300k records (78 MB) 1.05x the wall time for 1.23x the CPU; 1M (262 MB) 0.90x for 1.15x.
AUTO_START_BYTES = 128 << 20
# An input of unknown size (standard input, a FIFO, a compressed file smaller on disk than
# AUTO_START_BYTES) starts them once it has given this many chunks, checked in the loader.
AUTO_START_CHUNKS = 8
# auto never starts more: the loader process (reading, cutting, sending) is the limit first,
# and each worker holds ~33 MB. Measured on 1M small JSON Lines records, the loader's own CPU
# about equalled what one worker spent validating; CSV conversion costs ~2.5x that, so two
# or three workers can help. Three keep the whole process tree under 200 MB (loader ~80 MB,
# multiprocessing's resource tracker ~12 MB).
AUTO_MAX_WORKERS = 3
# How long a wait for a verdict lasts before the stop flag is looked at again.
_POLL_S = 0.1

ValidatorRecipe = tuple[Callable[..., Validator], tuple[Any, ...], dict[str, Any]]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def auto_workers() -> int:
    """``--workers auto``: a worker per usable core but one (the loader's own: reading,
    batching and sending), at least one, at most ``AUTO_MAX_WORKERS``."""
    return min(AUTO_MAX_WORKERS, max(1, usable_cores() - 1))


class AutoStart(enum.Enum):
    """When ``--workers auto`` starts its workers (``auto_start``)."""

    NOW = "now"  # the input is known to be large: as the load starts
    NEVER = "never"  # the input is known to be small: its chunks are checked in the loader
    PROVEN = "proven"  # unknown: once the input has given AUTO_START_CHUNKS chunks


def _worker_formats(csv_blocks: bool) -> set[str]:
    """The input formats whose chunks go to the workers (see ``ChunkPool.submit``)."""
    return {"jsonl", "json"} | ({"csv"} if csv_blocks else set())


def auto_start(inputs: Sequence[InputFile], *, csv_blocks: bool) -> AutoStart:
    """The rule for ``--workers auto``, from what is known before anything is read.

    Only the inputs whose chunks a worker would check count: JSON Lines and JSON arrays,
    and CSV where it goes as raw blocks (``csv_in_workers``); never Parquet (checked in the
    loader) nor a rejects file (mostly CSV rows, which stay in the loader too). A regular
    file's size is known from discovery; a compressed file's on-disk size is only a lower
    bound of what it holds; a stream's is unknown. So: NOW once the known bytes reach
    ``AUTO_START_BYTES``; NEVER when every such input's size is known exactly (regular,
    uncompressed) and they fall short; PROVEN otherwise."""
    formats = _worker_formats(csv_blocks)
    known = 0
    exact = True
    for input_file in inputs:
        if input_file.format not in formats:
            continue
        if input_file.size_bytes is None or input_file.stream:
            exact = False
            continue
        known += input_file.size_bytes
        if input_file.compression is not None:
            exact = False
    if known >= AUTO_START_BYTES:
        return AutoStart.NOW
    return AutoStart.NEVER if exact else AutoStart.PROVEN


def csv_in_workers(workers: int) -> bool:
    """Whether a CSV file goes to the workers as raw blocks (parsed there) rather than as
    rows parsed and converted in the loader. Only when the loader and each worker have a
    core of their own, on a machine of more than two: on two cores the worker, the loader
    and the sending side share them, and whole loads measured slower with a worker than
    without (benchmarks/PROFILE.md, "CSV parsed in the workers")."""
    cores = usable_cores()
    return workers >= 1 and cores > 2 and cores > workers


def validator_recipe(validator: Validator) -> ValidatorRecipe:
    """How a worker process builds the same validator (a validator holds structs made at
    run time, which do not pickle; its inputs do)."""
    if isinstance(validator, RecordValidator):
        return (
            RecordValidator,
            (validator.schema,),
            {
                "ignore_unknown_columns": validator.ignore_unknown_columns,
                "fields": validator.fields,
                "coerce": validator.coerce,
            },
        )
    if isinstance(validator, V2RecordValidator):
        return (
            V2RecordValidator,
            (validator.object,),
            {"ignore_unknown_columns": validator.ignore_unknown_columns},
        )
    raise TypeError(f"no recipe for {type(validator).__name__}")


# The signals by which the loader is asked to stop: for the loader alone to hear.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block the stop signals in this thread (the kernel hands them to another thread of the
    loader meanwhile), for a child started here to inherit the mask."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ---- in the worker process ----------------------------------------------------------------

_checker: ChunkChecker | None = None
_failpoints = FailPoints()


def _start_worker(recipe: ValidatorRecipe, keep_rows_over: int) -> None:
    # Ctrl-C reaches the whole process group: the loader drains and saves, then closes the
    # pool; a worker dying of the signal first would only turn that stop into a failure.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    # A loader killed outright (kill -9) cannot close the pool: its end of the pipe is held
    # by every worker too, so none would ever see it close. The parent's sentinel can.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="parent-watch", daemon=True).start()
    global _checker, _failpoints
    factory, args, kwargs = recipe
    _checker = ChunkChecker(factory(*args, **kwargs), keep_rows_over)
    _failpoints = FailPoints.from_env()


def _end_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the loader process has ended
    os._exit(1)


def _ready_in_worker() -> int:
    """Answered once a worker has started (imports done, validator built)."""
    return os.getpid()


def _check_in_worker(
    kind: ChunkKind, header: Sequence[str] | None, exact_header: bool, items: list[Any]
) -> Verdict | ChangedOutcomes:
    assert _checker is not None, "the pool's initializer builds the checker"
    try:
        _failpoints.hit("worker")
    except InjectedFault:
        os.kill(os.getpid(), signal.SIGKILL)
    _failpoints.hit("worker-bug")
    verdict = _checker.check(kind, header, exact_header, items)
    return ChangedOutcomes.of(verdict, items) or verdict


@dataclass(slots=True)
class ChangedOutcomes:
    """A verdict as it travels back from a worker when most outcomes are the very items
    sent: only the others (refused records, records re-encoded) go, by index, and the
    loader fills in the rest from the items it kept. A chunk with one refused record then
    sends back one outcome, not 2,000 records' bytes (pickled there, unpickled here)."""

    verdict: Verdict  # its outcomes None on the way
    indices: list[int]
    outcomes: list[Outcome]

    @classmethod
    def of(cls, verdict: Verdict, items: list[Any]) -> ChangedOutcomes | None:
        outcomes = verdict.outcomes
        if outcomes is None or isinstance(items, CsvBlock) or len(outcomes) != len(items):
            return None
        indices = list(compress(count(), map(is_not, outcomes, items)))
        if 2 * len(indices) > len(items):
            return None  # mostly new bytes (a renamed chunk): as it is
        changed = [outcomes[i] for i in indices]
        verdict.outcomes = None
        return cls(verdict, indices, changed)

    def restored(self, items: list[Any]) -> Verdict:
        """The verdict the worker made, from the items as the loader holds them."""
        outcomes: list[Outcome] = list(items)
        for index, outcome in zip(self.indices, self.outcomes, strict=True):
            outcomes[index] = outcome
        self.verdict.outcomes = outcomes
        return self.verdict


# ---- in the loader process ----------------------------------------------------------------


def _worker_died() -> WorkerFailed:
    return WorkerFailed(
        "a worker process (--workers) ended abruptly (killed, or out of memory?); the load "
        "stopped and saved what was acknowledged: rerun the same command to resume"
    )


class Ticket:
    """A chunk handed to the pool; ``verdict()`` waits for what became of it.

    Without a future the chunk is checked in the loader: at once (``checked_here``) when
    workers are running, so the loader works while they do, else when it is taken."""

    __slots__ = ("_args", "_error", "_future", "_pool", "_verdict")

    def __init__(
        self,
        pool: ChunkPool,
        args: tuple[ChunkKind, Sequence[str] | None, bool, list[Any]],
        future: Future[Verdict | ChangedOutcomes] | None,
    ) -> None:
        self._pool = pool
        self._args = args
        self._future = future
        self._verdict: Verdict | None = None
        self._error: Exception | None = None

    @classmethod
    def checked_here(
        cls, pool: ChunkPool, args: tuple[ChunkKind, Sequence[str] | None, bool, list[Any]]
    ) -> Ticket:
        """The chunk checked now, in this thread. What the check raises is raised when the
        chunk is taken in its turn, after the chunks before it, as --workers 0 raises it."""
        ticket = cls(pool, args, None)
        try:
            ticket._verdict = pool.checker.check(*args)
        except Exception as exc:
            ticket._error = exc
        return ticket

    def taken(self, chunk: Chunk, check_stop: Callable[[], None]) -> list[tuple[Chunk, Verdict]]:
        """The chunks as read_csv would have cut them, each with its verdict: ``chunk``
        itself, or for a CSV block (``readers.csv.CsvBlock``) those it completes. Called
        in input order: a block's rows depend on where the block before it ended."""
        block = chunk.items
        if not isinstance(block, CsvBlock):
            return [(chunk, self.verdict(check_stop))]
        assert block.file is not None
        take: CsvBlockTake | None = block.file.take
        if take is None:
            take = block.file.take = CsvBlockTake(block.file)
        again = take.again(block)
        if again is None:
            verdict = self.verdict(check_stop)
        else:
            # The block before ended inside a row (a quoted line break): this block was
            # parsed from the wrong place; the cut row and it are parsed here, as one.
            if self._future is not None:
                self._future.cancel()
            kind, header, exact, _ = self._args
            verdict = self._pool.checker.check(kind, header, exact, again)
            block = again
        return take.take(block, verdict, chunk.bytes_consumed)

    def verdict(self, check_stop: Callable[[], None]) -> Verdict:
        future = self._future
        if future is None:
            if self._verdict is not None:
                return self._verdict
            if self._error is not None:
                raise self._error
            return self._pool.checker.check(*self._args)
        while True:
            try:
                verdict = future.result(timeout=_POLL_S)
            except TimeoutError:
                check_stop()  # raises once the run stops
                continue
            except BrokenProcessPool:
                raise _worker_died() from None
            except Exception as exc:
                # Not a dead worker: check the chunk here, which gives the same verdict or
                # raises the error --workers 0 would (a record of no known field, say).
                if not isinstance(exc, BulkloadError):  # a bug: say so, then carry on
                    log.warning(
                        "a worker process failed on a chunk (%s: %s); checking it in the loader",
                        type(exc).__name__,
                        exc,
                    )
                return self._pool.checker.check(*self._args)
            if isinstance(verdict, ChangedOutcomes):
                return verdict.restored(self._args[3])
            return verdict


class ChunkPool:
    """Checks chunks in worker processes, or in this process when ``workers`` is 0.

    ``workers`` None is ``auto``: ``auto_workers()`` processes, started as ``auto_start``
    says from ``inputs``; until one of them has answered (its imports take ~0.3 s), chunks
    are checked here rather than waiting behind the start-up. An explicit number starts
    its workers as the pool is entered, and its first ``window`` chunks go to them whatever
    the timing. ``window`` is how many chunks may be handed over and not yet taken back:
    two per worker, so none waits for the producer. With the window full of chunks not yet
    done, the next one is checked here at once (the loader works beside the workers rather
    than wait for them); which chunks went where changes no byte of what the producer cuts,
    as verdicts are taken in input order.
    """

    def __init__(
        self, checker: ChunkChecker, workers: int | None, inputs: Sequence[InputFile] = ()
    ) -> None:
        self.checker = checker
        self._count = auto_workers() if workers is None else workers
        self._executor: ProcessPoolExecutor | None = None
        # read CSV files as raw blocks for the workers (``readers.read_chunks(csv_blocks)``)
        self.csv_blocks = csv_in_workers(self._count)
        self._auto = workers is None
        # chunks still to check here before auto starts the workers; None: it never does
        self._wait_chunks: int | None = 0
        # start as the pool is entered: some input gives the workers chunks (a Parquet or
        # CSV-rows load starts none; a rejects file's, at its first chunk for them)
        formats = _worker_formats(self.csv_blocks)
        self._start_at_entry = any(f.format in formats for f in inputs)
        if self._auto:
            plan = auto_start(inputs, csv_blocks=self.csv_blocks)
            self._wait_chunks = {
                AutoStart.NOW: 0,
                AutoStart.NEVER: None,
                AutoStart.PROVEN: AUTO_START_CHUNKS,
            }[plan]
        # auto: a worker's answer to its first call, once started (see _worker_up)
        self._ready: Future[int] | None = None
        # the chunks handed to the workers, oldest first, until seen done
        self._in_flight: list[Future[Verdict | ChangedOutcomes]] = []
        # how many chunks went to the workers, and how many were checked here beside them
        self.chunks_handed_over = 0
        self.chunks_checked_beside = 0

    @property
    def workers(self) -> int:
        return self._count

    @property
    def window(self) -> int:
        return 2 * self._count if self._executor is not None else 0

    def start(self) -> None:
        """Start the workers now if they are to start before the first chunk (explicit
        ``--workers N``, or ``auto`` on an input known to be large): their start-up then
        overlaps the reading of the first chunks."""
        if (
            self._executor is None
            and self._count > 0
            and self._wait_chunks == 0
            and self._start_at_entry
        ):
            self._begin()

    def _begin(self) -> ProcessPoolExecutor:
        with _stop_signals_blocked():  # the pool's queues may start the resource tracker
            executor = self._executor = self._start()
            try:
                # One call per worker: the pool spawns a process for each call no idle
                # worker takes, so all of them start now rather than at the first chunks.
                # (Spawned with the stop signals blocked: see submit.)
                calls = [executor.submit(_ready_in_worker) for _ in range(self._count)]
            except BrokenProcessPool:
                raise _worker_died() from None
        if self._auto:
            self._ready = calls[0]  # the first call goes to the first worker up
        return executor

    def _worker_up(self) -> bool:
        """auto: whether a worker has answered (a failed start counts: the next submit
        then says WorkerFailed)."""
        return self._ready is None or self._ready.done()

    def submit(
        self, kind: ChunkKind, header: Sequence[str] | None, exact_header: bool, items: list[Any]
    ) -> Ticket:
        args = (kind, header, exact_header, items)
        csv_rows = kind is ChunkKind.CSV_ROWS
        if (csv_rows and (not isinstance(items, CsvBlock) or not items.segments)) or isinstance(
            items, ArrowRows
        ):
            # A CSV chunk's rows are lists of str: pickling 2,000 x N fields there and back
            # costs more than converting them (make bench: --workers 1 took 7.5-8.4 CPU s for
            # 300k rows where 0 took 4.4-5.6, and was slower), so they are checked here. A
            # raw block (bytes) goes to a worker, unless it is empty (the end of a file).
            # Parquet too: a batch goes a column at a time for less than its bytes' trip
            # back costs, and a worker must import pyarrow (~90 MB of RSS, ~0.4 CPU s):
            # 200k rows, --workers 1 against 0, 1.33x the CPU, 1.23x the wall time, and
            # the tree at 279 MB where the loader alone peaks at 164 (PROFILE.md).
            return Ticket(self, args, None)
        executor = self._executor
        if executor is None:
            if self._count == 0 or self._wait_chunks is None or self._wait_chunks > 0:
                if self._wait_chunks:
                    self._wait_chunks -= 1
                return Ticket(self, args, None)
            executor = self._begin()
        in_flight = self._in_flight = [f for f in self._in_flight if not f.done()]
        if not self._worker_up() or len(in_flight) >= self.window:
            # No worker has answered yet (auto), or every worker has a chunk queued behind
            # the one it is on: this one is checked here meanwhile rather than queued too
            # (the loader would only wait). So the loader takes on what its own work leaves
            # it time for, and no more.
            self.chunks_checked_beside += 1
            return Ticket.checked_here(self, args)
        try:
            # submit() may spawn a worker: with the stop signals blocked in this thread, the
            # child starts with them blocked too, so a Ctrl-C that reaches the process group
            # while the child is still importing cannot kill it (its initializer then ignores
            # them for good). multiprocessing's resource tracker is started the same way.
            with _stop_signals_blocked():
                future = executor.submit(_check_in_worker, *args)
        except BrokenProcessPool:
            raise _worker_died() from None
        in_flight.append(future)
        self.chunks_handed_over += 1
        return Ticket(self, args, future)

    def _start(self) -> ProcessPoolExecutor:
        log.debug("starting %d worker processes", self._count)
        return ProcessPoolExecutor(
            max_workers=self._count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(validator_recipe(self.checker.validator), self.checker.keep_rows_over),
        )

    def close(self) -> None:
        """End the workers: a chunk being checked finishes, queued ones are dropped."""
        executor, self._executor = self._executor, None
        if executor is not None:
            log.debug(
                "chunks: %d checked by the workers, %d in the loader beside them",
                self.chunks_handed_over,
                self.chunks_checked_beside,
            )
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkPool:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "AUTO_MAX_WORKERS",
    "AUTO_START_BYTES",
    "AUTO_START_CHUNKS",
    "AutoStart",
    "ChangedOutcomes",
    "ChunkPool",
    "Ticket",
    "auto_start",
    "auto_workers",
    "csv_in_workers",
    "usable_cores",
    "validator_recipe",
]
