"""What the stages of a load hand each other over their streams.

    producer ──Work──▶ senders ──Settled──▶ committer
        └──────────────LooseRejects─────────────┘

A record the producer refuses travels with the batch whose span it belongs to (the
records between the previous batch's end and this batch's end), so the committer, the one
writer of the rejects file, lists it in the same commit that records the batch: a resumed
run that seeks past a batch never has to find its rejects again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from bulkload.pipeline.batcher import Batch
from bulkload.pipeline.sender import SendOutcome

# (file_index, resume offset just after the record, its line number)
RecordTag = tuple[int, int, int]

NO_VALUE: Any = object()


@dataclass(frozen=True, slots=True)
class ReadReject:
    """A record refused before sending: the rejects file line it becomes."""

    source: str
    line: int
    reason: str
    record: bytes | None = None  # the original bytes (JSON Lines, JSON array)
    value: Any = NO_VALUE  # or an already parsed record (CSV row, Parquet row)
    csv_row: dict[str, str] | None = None  # a CSV row as read, when value is its typed record
    csv_header: list[str] | None = None  # names the fields of a raw CSV row in record
    problems: tuple[str, ...] | None = None  # every problem (``reason`` names the first)


@dataclass(slots=True)
class Work:
    """One sealed batch, and the records refused in its span."""

    batch: Batch[RecordTag]
    read_rejects: list[ReadReject]


def _no_one_waits() -> None:
    pass


class CommitWaiter:
    """How one sender waits for the commit of each batch it settles, reused batch after
    batch: one per sender task instead of one ``anyio.Event`` per batch (each made through
    the backend lookup; ~12 Python calls a batch fewer, measured in PROFILE.md).

    A sender settles one batch at a time and waits for it before taking the next, so the
    committer's ``committed()`` always answers the one wait in progress (or the next one,
    when it comes first: the semaphore keeps the count)."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = anyio.Semaphore(0, fast_acquire=True)

    def committed(self) -> None:
        self._done.release()

    async def wait(self) -> None:
        await self._done.acquire()


@dataclass(slots=True)
class Settled:
    """A batch done with by a sender: ``outcome`` is None when it was not sent (a stop came
    first, or a dry run). ``committed`` is called once the committer has made it durable."""

    work: Work
    outcome: SendOutcome | None
    committed: Callable[[], None] = _no_one_waits


@dataclass(slots=True)
class LooseRejects:
    """Rejects that belong to no batch: after the last batch of the input, or the ones
    read just before --max-bad-records stopped the reading. Nobody waits for their commit
    (the checkpoint is marked finished only after the committer has ended)."""

    rejects: list[ReadReject]
    committed: Callable[[], None] = _no_one_waits


CommitItem = Settled | LooseRejects


@dataclass(frozen=True, slots=True)
class ReadingEnd:
    """What the producer cut, told once it has read every input to its end."""

    first_seq: int  # the first batch this run cut (the resume plan's next_seq)
    next_seq: int  # one past the last batch cut
    trailing_rejected: int  # rejects after the last batch (in no batch's span)

    @property
    def batches_cut(self) -> int:
        return self.next_seq - self.first_seq
