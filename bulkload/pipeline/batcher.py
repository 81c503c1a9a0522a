"""Size-aware greedy packing of serialized records into request bodies.

A request holds at most ``max_records`` records and its body, ``[r1,r2,...]``, at most
``max_bytes`` bytes. A body may wrap the array (Peak v2: ``{"solutionName": ..., "data": [...]}``):
``body_prefix`` and ``body_suffix`` are then counted too, so the limit holds for the bytes
actually sent. Records are packed greedily in input order: a batch is sealed when the
next record would break a limit, or as soon as it holds ``max_records`` (so a full batch
leaves at once instead of waiting for a record that may be slow to come). Plain
synchronous code without I/O: the pipeline calls it from its reader thread.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add
from typing import Generic, TypeVar, overload

from bulkload.contract.schema import MAX_BODY_BYTES, MAX_RECORDS_PER_REQUEST

T = TypeVar("T")

# "[" and "]" around the records; the smallest possible body is "[]".
_BRACKETS_BYTES = 2


class BodyRecords(Sequence[bytes]):
    """The records of a sealed batch, read back from its body when asked for.

    A batch's records are only needed again when its request fails (a split, a resend of
    the named suspects, a rejects line); holding them beside the body kept every byte in
    flight twice (up to 30 bodies of 1 MB and their records: benchmarks/PROFILE.md, "wide
    Parquet rows' memory"). So a sealed batch keeps where each record starts in the body,
    and ``records[i]`` is that slice of it: the same bytes, made when asked.
    """

    __slots__ = ("_body", "_starts")

    def __init__(self, body: bytes, records: Sequence[bytes], first_start: int) -> None:
        self._body = body
        # record i is body[starts[i] : starts[i + 1] - 1] (a comma or "]" follows each)
        self._starts = array(
            "q", accumulate(map((1).__add__, map(len, records)), initial=first_start)
        )

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("batch record index out of range")
        starts = self._starts
        return self._body[starts[index] : starts[index + 1] - 1]

    def __iter__(self) -> Iterator[bytes]:
        body, starts = self._body, self._starts
        for index in range(len(starts) - 1):
            yield body[starts[index] : starts[index + 1] - 1]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (bytes, str)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BodyRecords({len(self)} records)"


@dataclass(slots=True)
class Batch(Generic[T]):
    seq: int
    records: Sequence[bytes]  # serialized records, in input order (BodyRecords once sealed)
    tags: Sequence[T]  # the caller's per-record metadata (positions), parallel to records
    body: bytes  # prefix + b"[" + b",".join(records) + b"]" + suffix, built once when sealed

    @property
    def size(self) -> int:
        return len(self.records)


def body_size(record_sizes: Iterable[int], *, wrapper_bytes: int = 0) -> int:
    """Exact bytes of the body holding records of these sizes: brackets plus commas, plus
    ``wrapper_bytes`` (the prefix and suffix around the array)."""
    count = 0
    total = 0
    for size in record_sizes:
        count += 1
        total += size
    return wrapper_bytes + _BRACKETS_BYTES + total + max(count - 1, 0)


class Batcher(Generic[T]):
    """Packs records into batches; ``add`` and ``flush`` hand back each sealed batch once.

    ``add`` seals and returns the open batch when the new record does not fit in it (the
    record then starts the next batch), or the batch the record just filled to
    ``max_records``; otherwise None. A batch returned by ``add`` whose last tag is the
    caller's tag for this record therefore contains it.
    """

    __slots__ = (
        "_empty_bytes",
        "_max_bytes",
        "_max_records",
        "_next_seq",
        "_prefix",
        "_records",
        "_suffix",
        "_tags",
        "_used_bytes",
    )

    def __init__(
        self,
        *,
        max_records: int = MAX_RECORDS_PER_REQUEST,
        max_bytes: int = MAX_BODY_BYTES,
        first_seq: int = 0,
        body_prefix: bytes = b"",
        body_suffix: bytes = b"",
    ) -> None:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        wrapper = len(body_prefix) + len(body_suffix)
        if max_bytes < wrapper + _BRACKETS_BYTES + 1:
            raise ValueError(f"max_bytes must be at least {wrapper + 3}, got {max_bytes}")
        self._prefix = body_prefix
        self._suffix = body_suffix
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._next_seq = first_seq
        self._records: list[bytes] = []
        self._tags: list[T] = []
        # Body bytes so far counting the wrapper, "[" and, per record, the record and the byte
        # after it ("," or the closing "]"): exactly the body size once there is a record.
        self._empty_bytes = wrapper + 1
        self._used_bytes = self._empty_bytes

    def fits_alone(self, record: bytes) -> bool:
        """Whether a batch of just this record is within max_bytes (else reject it)."""
        return len(record) + _BRACKETS_BYTES + self._empty_bytes - 1 <= self._max_bytes

    def add(self, record: bytes, tag: T) -> Batch[T] | None:
        """Add one record (precondition: ``fits_alone(record)``); see the class docstring."""
        cost = len(record) + 1
        records = self._records
        sealed = None
        if self._used_bytes + cost > self._max_bytes:
            if cost + self._empty_bytes > self._max_bytes:
                raise ValueError(
                    f"a record of {len(record)} bytes cannot fit in a {self._max_bytes}-byte "
                    "body; check fits_alone() first"
                )
            # Only a non-empty batch gets here (the record fits alone), so max_records > 1
            # and the record starting the next batch cannot also fill it: one batch out.
            sealed = self._seal()
            records = self._records
        records.append(record)
        self._tags.append(tag)
        self._used_bytes += cost
        if sealed is None and len(records) >= self._max_records:
            return self._seal()
        return sealed

    def add_many(self, records: Sequence[bytes], tags: Sequence[T]) -> list[Batch[T]]:
        """``add`` each record with its tag in turn; the batches sealed on the way, in order.

        Same batches as ``add`` one at a time, but the records that fit are found with one
        running sum and copied in one slice, not handled one by one in Python.
        """
        sealed: list[Batch[T]] = []
        start, count = 0, len(records)
        while start < count:
            stop = min(count, start + self._max_records - len(self._records))
            part = records[start:stop]
            # body bytes each record adds: itself and the "," or "]" after it
            costs = list(accumulate(map(add, map(len, part), repeat(1))))
            fitting = bisect_right(costs, self._max_bytes - self._used_bytes)
            if fitting:
                self._records.extend(part[:fitting] if fitting < len(part) else part)
                self._tags.extend(tags[start : start + fitting])
                self._used_bytes += costs[fitting - 1]
            start += fitting
            if fitting == len(part):
                if len(self._records) >= self._max_records:
                    sealed.append(self._seal())
                continue
            # the next record overflows the open batch: add() seals it (or refuses a
            # record too large to fit even alone)
            batch = self.add(records[start], tags[start])
            if batch is not None:
                sealed.append(batch)
            start += 1
        return sealed

    def flush(self) -> Batch[T] | None:
        """Seal the open batch at the end of the input (None if it is empty)."""
        if not self._records:
            return None
        return self._seal()

    @property
    def next_seq(self) -> int:
        """The sequence number the open batch will have when sealed."""
        return self._next_seq

    @property
    def pending_records(self) -> int:
        """Records in the open batch, not yet handed out."""
        return len(self._records)

    def _seal(self) -> Batch[T]:
        records, tags = self._records, self._tags
        body = json_array(records, prefix=self._prefix, suffix=self._suffix)
        views = BodyRecords(body, records, len(self._prefix) + 1)
        batch = Batch(seq=self._next_seq, records=views, tags=tags, body=body)
        self._next_seq += 1
        self._records = []
        self._tags = []
        self._used_bytes = self._empty_bytes
        return batch


def json_array(records: Sequence[bytes], *, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """The request body: the records as one JSON array, ``[r1,r2,...]``, inside the wrapper.

    Built by one join with the brackets stuck to the first and last record, not as
    ``b"[" + b",".join(records) + b"]"``: a body is up to 1 MB, and each of those two extra
    copies is a fresh allocation and its page faults (~80 µs per 500-record body).
    """
    if len(records) <= 1:
        return prefix + b"[" + b"".join(records) + b"]" + suffix
    return b",".join([prefix + b"[" + records[0], *records[1:-1], records[-1] + b"]" + suffix])
