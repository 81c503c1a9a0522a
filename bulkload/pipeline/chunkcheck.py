"""The per-chunk CPU work of a load: each item of a chunk becomes the JSON bytes to send,
or the reason it is refused. The same code runs in the loader process (``--workers 0``)
and in worker processes (``pipeline/workers.py``), so where it runs cannot change a byte.

It touches nothing but the validator it owns: the order of chunks, the batches and the
rejects stay with the producer, which takes verdicts in input order.

A CSV file may come as raw blocks (``readers.csv.CsvBlock``): the checker then parses the
block too (``parse_csv_block``, read_csv's own loop), so a worker does the csv module's
work, and the verdict says what the block held (``BlockRead``). The loader takes those in
input order with ``CsvBlockTake``, which parses again a row that a block's end cut (with
the next block) and cuts the chunks read_csv would have cut: the producer sees the same
chunks, rows, lines and problems whichever way the file was read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bulkload.contract.arrowrows import ArrowRows
from bulkload.contract.csvfast import CsvChunkEncoder
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.pipeline.readers.chunks import Chunk, ChunkKind, ReaderProblem, split_problems
from bulkload.pipeline.readers.csv import CsvBlock, CsvFileBlocks, parse_csv_block

Validator = RecordValidator | V2RecordValidator
Outcome = bytes | RecordInvalid


@dataclass(slots=True)
class Verdict:
    """What became of one chunk's items, in their order."""

    # None: every item goes as it is (raw JSON that passed whole); else one per item
    outcomes: Sequence[Outcome] | None
    all_bytes: bool  # no item is refused (outcomes None, or bytes only)
    # what the options did to these items (--coerce, --ignore-unknown-columns)
    records_coerced: int = 0
    fields_dropped: dict[str, int] | None = None
    block: BlockRead | None = None  # a CSV block's: what it held


@dataclass(slots=True)
class BlockRead:
    """What a CSV block held besides its records' outcomes: what read_csv gives a chunk."""

    lines: list[int]
    ends: list[int]
    problems: list[ReaderProblem]
    # by index: the rows of the records refused or longer than ``keep_rows_over`` bytes (a
    # reject names their fields); the others' fields are not sent back
    rows: dict[int, list[str]]
    unfinished: tuple[int, int] | None  # where a row that the block's end cut begins


def _outcomes(encode: Callable[[Any], bytes], items: Iterable[Any]) -> Iterator[Outcome]:
    """Each item's bytes to send, or why it is refused (what check_raw_many gives in bulk)."""
    for item in items:
        try:
            yield encode(item)
        except RecordInvalid as exc:
            yield exc


class ChunkChecker:
    """Turns chunks into verdicts with one validator and its per-header encoders.

    ``keep_rows_over``: a CSV block's verdict keeps the fields of a record whose JSON is
    longer than this (the producer rejects it as too large, naming its fields)."""

    def __init__(self, validator: Validator, keep_rows_over: int = 0) -> None:
        self.validator = validator
        self.keep_rows_over = keep_rows_over
        self._csv_encoders: dict[tuple[str, ...], Callable[[Any], bytes]] = {}
        self._csv_chunk_encoders: dict[tuple[str, ...], CsvChunkEncoder] = {}
        self._arrow_encoder: Callable[[ArrowRows], list[Outcome]] | None = None

    def check(
        self, kind: ChunkKind, header: Sequence[str] | None, exact_header: bool, items: list[Any]
    ) -> Verdict:
        """``exact_header``: every CSV header name is its column's own (no --map, no case
        folding), so the chunk-at-a-time encoder, which knows nothing of a mapping, may
        take the rows. The header's own problems were raised by the caller already."""
        validator = self.validator
        coerced_before, dropped_before = self._counters()
        outcomes: Sequence[Outcome]
        if kind is ChunkKind.RAW_JSON:
            outcomes = validator.check_raw_many(items)
            if outcomes is items:
                return self._verdict(None, True, coerced_before, dropped_before)
        elif isinstance(items, CsvBlock):
            parsed = parse_csv_block(items)
            rows = parsed.rows
            outcomes = self._csv_outcomes(header, exact_header, rows)
            all_bytes = set(map(type, outcomes)) <= {bytes}
            keep = self.keep_rows_over
            kept: dict[int, list[str]] = {}
            if not all_bytes or (outcomes and max(map(len, outcomes)) > keep):  # type: ignore[arg-type]
                kept = {
                    i: rows[i]
                    for i, outcome in enumerate(outcomes)
                    if not isinstance(outcome, bytes) or len(outcome) > keep
                }
            verdict = self._verdict(outcomes, all_bytes, coerced_before, dropped_before)
            verdict.block = BlockRead(
                parsed.lines, parsed.ends, parsed.problems, kept, parsed.unfinished
            )
            return verdict
        elif kind is ChunkKind.CSV_ROWS:
            outcomes = self._csv_outcomes(header, exact_header, items)
        elif isinstance(validator, RecordValidator) and isinstance(items, ArrowRows):
            # Parquet: the record batch a column at a time (contract/arrowfast.py)
            if self._arrow_encoder is None:
                from bulkload.contract.arrowfast import ArrowChunkEncoder  # imports pyarrow

                self._arrow_encoder = ArrowChunkEncoder(validator)
            outcomes = self._arrow_encoder(items)
        else:
            outcomes = list(_outcomes(validator.check_object, items))
        all_bytes = set(map(type, outcomes)) <= {bytes}
        return self._verdict(outcomes, all_bytes, coerced_before, dropped_before)

    def _csv_outcomes(
        self, header: Sequence[str] | None, exact_header: bool, rows: list[list[str]]
    ) -> list[Outcome]:
        validator = self.validator
        names = tuple(header or ())
        if exact_header and isinstance(validator, RecordValidator):
            chunk_encoder = self._csv_chunk_encoders.get(names)
            if chunk_encoder is None:
                chunk_encoder = CsvChunkEncoder(validator, list(names))
                self._csv_chunk_encoders[names] = chunk_encoder
            return chunk_encoder(rows)
        encode = self._csv_encoders.get(names)
        if encode is None:
            encode = self._csv_encoders[names] = validator.csv_encoder(list(names))
        return list(_outcomes(encode, rows))

    def _counters(self) -> tuple[int, Counter[str] | None]:
        validator = self.validator
        if not isinstance(validator, RecordValidator):  # a v2 validator keeps no such counts
            return 0, None
        dropped = validator.dropped_fields
        return validator.records_coerced, (Counter(dropped) if dropped else None)

    def _verdict(
        self,
        outcomes: Sequence[Outcome] | None,
        all_bytes: bool,
        coerced_before: int,
        dropped_before: Counter[str] | None,
    ) -> Verdict:
        validator = self.validator
        if not isinstance(validator, RecordValidator):
            return Verdict(outcomes, all_bytes)
        dropped: dict[str, int] | None = None
        if validator.dropped_fields:
            delta = Counter(validator.dropped_fields)
            if dropped_before:
                delta.subtract(dropped_before)
            dropped = {name: count for name, count in delta.items() if count}
        return Verdict(
            outcomes, all_bytes, validator.records_coerced - coerced_before, dropped or None
        )


class CsvBlockTake:
    """The loader's side of one CSV file's blocks, their verdicts taken in input order:
    the chunks read_csv would have yielded (``chunk_records`` rows each, a problem with
    the first chunk that ends at or after it, the rest at the end of the file), each with
    its part of the verdicts. Accepted records carry None for their fields."""

    def __init__(self, file: CsvFileBlocks) -> None:
        self._header = file.header
        self._chunk_records = file.chunk_records
        self._outcomes: list[Outcome] = []
        self._rows: list[list[str] | None] = []
        self._lines: list[int] = []
        self._ends: list[int] = []
        self._problems: list[ReaderProblem] = []
        self._coerced = 0
        self._dropped: Counter[str] = Counter()
        # the last block, and where the row that its end cut begins
        self._cut_row: tuple[CsvBlock, int, int] | None = None

    def again(self, block: CsvBlock) -> CsvBlock | None:
        """When the last block's end cut a row: ``block`` with that row in front, to be
        checked instead of it (its verdict, parsed from the wrong place, is dropped)."""
        cut_row, self._cut_row = self._cut_row, None
        if cut_row is None or block.cut_short:
            return None  # nothing cut, or the input failed: the cut row is dropped
        previous, offset, line_no = cut_row
        return previous.from_row(offset, line_no, block)

    def take(
        self, block: CsvBlock, verdict: Verdict, bytes_consumed: int
    ) -> list[tuple[Chunk, Verdict]]:
        read = verdict.block
        assert read is not None and verdict.outcomes is not None
        count = len(verdict.outcomes)
        self._outcomes.extend(verdict.outcomes)
        rows: list[list[str] | None] = [None] * count
        for index, row in read.rows.items():
            rows[index] = row
        self._rows.extend(rows)
        self._lines.extend(read.lines)
        self._ends.extend(read.ends)
        self._problems.extend(read.problems)
        self._coerced += verdict.records_coerced
        if verdict.fields_dropped:
            self._dropped.update(verdict.fields_dropped)
        if read.unfinished is not None:
            self._cut_row = (block, *read.unfinished)
        chunks = []
        while len(self._outcomes) >= self._chunk_records:
            chunks.append(self._cut(self._chunk_records, bytes_consumed, all_problems=False))
        if block.final and (self._outcomes or self._problems):
            chunks.append(self._cut(len(self._outcomes), bytes_consumed, all_problems=True))
        return chunks

    def _cut(self, count: int, bytes_consumed: int, *, all_problems: bool) -> tuple[Chunk, Verdict]:
        """What ``readers.chunks.Pending`` cuts, the same way."""
        problems, self._problems = split_problems(
            self._problems, None if all_problems or not self._problems else self._ends[count - 1]
        )
        outcomes, rows = self._outcomes[:count], self._rows[:count]
        lines, ends = self._lines[:count], self._ends[:count]
        del self._outcomes[:count], self._rows[:count], self._lines[:count], self._ends[:count]
        dropped = dict(self._dropped) if self._dropped else None
        verdict = Verdict(outcomes, set(map(type, outcomes)) <= {bytes}, self._coerced, dropped)
        self._coerced = 0
        self._dropped = Counter()
        chunk = Chunk(ChunkKind.CSV_ROWS, rows, lines, ends, self._header, bytes_consumed, problems)
        return chunk, verdict


__all__ = ["BlockRead", "ChunkChecker", "CsvBlockTake", "Outcome", "Validator", "Verdict"]
