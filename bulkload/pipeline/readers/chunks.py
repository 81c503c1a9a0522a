"""What readers yield: chunks of raw records with their lines and resume positions, the
problems (records that could not be delimited or decoded), and the buffer that cuts them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bulkload.errors import InputError

DEFAULT_CHUNK_RECORDS = 2000
# A record this long could never fit in a request body; past it we stop holding the bytes.
DEFAULT_MAX_RECORD_BYTES = 64 << 20
# How much of an undecodable record is kept for the rejects file.
PROBLEM_RAW_PREFIX_BYTES = 4096


class ChunkKind(Enum):
    RAW_JSON = "raw_json"  # items: bytes of one JSON value each
    OBJECTS = "objects"  # items: Python values (Parquet rows as dicts)
    CSV_ROWS = "csv_rows"  # items: list[str] of fields, named by Chunk.header


@dataclass(frozen=True, slots=True)
class ReaderProblem:
    """A record that could not be delimited or decoded; it goes to the rejects file."""

    line: int  # 1-based line where the record starts
    end: int  # position just after it (resume semantics as Chunk.ends)
    reason: str
    raw: bytes  # the record's bytes; for an over-long one, its first bytes only


def split_problems(
    problems: list[ReaderProblem], last_end: int | None
) -> tuple[list[ReaderProblem], list[ReaderProblem]]:
    """The problems that go with a chunk whose last record ends at ``last_end`` (all of
    them when None), and those kept for the next: a problem travels with the records
    around it, so positions stay in order. One rule for every reader that cuts chunks."""
    if last_end is None or not problems:
        return problems, []
    return [p for p in problems if p.end <= last_end], [p for p in problems if p.end > last_end]


@dataclass(slots=True)
class Chunk:
    kind: ChunkKind
    items: list[Any]
    lines: list[int]  # 1-based source line (CSV: first line of the row; Parquet: row index + 1)
    ends: list[int]  # position just after each item
    header: list[str] | None  # CSV: the header row, on every chunk
    bytes_consumed: int  # on-disk bytes read so far in this file
    problems: list[ReaderProblem]


class Pending:
    """Records read but not yet yielded; cut into chunks of the requested size."""

    __slots__ = (
        "chunk_records",
        "ends",
        "header",
        "items",
        "kind",
        "lines",
        "problems",
    )

    def __init__(self, kind: ChunkKind, chunk_records: int) -> None:
        self.kind = kind
        self.chunk_records = chunk_records
        self.items: list[Any] = []
        self.lines: list[int] = []
        self.ends: list[int] = []
        self.problems: list[ReaderProblem] = []
        self.header: list[str] | None = None

    def full_chunks(self, bytes_consumed: int) -> Iterator[Chunk]:
        while len(self.items) >= self.chunk_records:
            yield self._cut(self.chunk_records, bytes_consumed)

    def rest(self, bytes_consumed: int) -> Iterator[Chunk]:
        """Everything still pending, at the end of the input."""
        yield from self.full_chunks(bytes_consumed)
        if self.items or self.problems:
            yield self._cut(len(self.items), bytes_consumed, all_problems=True)

    def _cut(self, count: int, bytes_consumed: int, *, all_problems: bool = False) -> Chunk:
        problems, self.problems = split_problems(
            self.problems, None if all_problems or not self.problems else self.ends[count - 1]
        )
        if count == len(self.items):
            chunk = Chunk(
                self.kind,
                self.items,
                self.lines,
                self.ends,
                self.header,
                bytes_consumed,
                problems,
            )
            self.items, self.lines, self.ends = [], [], []
            return chunk
        chunk = Chunk(
            self.kind,
            self.items[:count],
            self.lines[:count],
            self.ends[:count],
            self.header,
            bytes_consumed,
            problems,
        )
        del self.items[:count], self.lines[:count], self.ends[:count]
        return chunk


def problem_prefix_bytes(limit: int) -> int:
    return min(PROBLEM_RAW_PREFIX_BYTES, limit)


def problem_prefix(data: bytes, limit: int) -> bytes:
    """What the rejects file keeps of an over-long record: the same bytes whatever the
    block size was when the limit was crossed."""
    return data[: problem_prefix_bytes(limit)]


def too_long(limit: int) -> str:
    return f"line longer than {limit:,} bytes (no record can be that large); skipped"


def resume_mismatch(name: str, start: int, what: str) -> InputError:
    return InputError(
        f"input {name}: resume position {start} {what}; the file changed since the "
        "checkpoint: restart the load (--restart)"
    )
