"""Replay: a bulkload rejects file read as an input, each line giving back its record.

A rejects line is ``{"source", "line", "reason", "record", ...}`` (see pipeline/rejects.py).
Its ``record`` is loaded as it stands: the JSON object (a CSV reject's typed record) goes to
the validator like a JSON Lines record, so a user who fixed the table or the rejects file
loads exactly those records again. A line holding only a raw CSV row (one that could not
be decoded) carries the CSV header; bytes that were not UTF-8 are decoded with
``--encoding`` this time, and the row is split with ``--delimiter``/``--quote``: the way to
load the rows of a file whose encoding was not given the first time, without loading the
rest of it twice.

Positions and lines are the rejects file's own (it is JSON Lines), so a replay has its own
checkpoint and its own rejects file, whose lines name the rejects file and its line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

import msgspec

from bulkload.config import CsvDialect
from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import Chunk, ChunkKind, Pending, ReaderProblem
from bulkload.pipeline.readers.jsonl import read_jsonl
from bulkload.pipeline.readers.source import Source
from bulkload.pipeline.rejects import unescape_bytes


class _RejectLine(msgspec.Struct):
    source: str
    line: int
    reason: str
    record: msgspec.Raw
    raw: bool = False
    escaped: bool = False  # record is escape_bytes() text of bytes that were not UTF-8
    csv_header: list[str] | None = None
    note: str | None = None  # set when the record was cut short


_DECODER = msgspec.json.Decoder(_RejectLine)
_TEXT = msgspec.json.Decoder(str)
_NULL = b"null"


class _Converter:
    """One rejects line -> (kind, CSV header, item) to load, or the reason it cannot be."""

    def __init__(self, dialect: CsvDialect) -> None:
        self.dialect = dialect
        self.encoding = dialect.encoding or "utf-8"

    def convert(self, raw: bytes) -> tuple[ChunkKind, list[str] | None, Any] | str:
        try:
            entry = _DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            return f"not a bulkload rejects line ({exc}); fix or remove it"
        record = bytes(entry.record)
        if record == _NULL:
            return (
                "the rejects line holds no record (nothing was kept of it); load it from its source"
            )
        if entry.note is not None:
            return f"the rejects line holds only part of the record ({entry.note}); load it from its source"
        if not entry.raw:
            return ChunkKind.RAW_JSON, None, record
        text = _TEXT.decode(record)
        if not entry.escaped:
            # It was valid UTF-8 (decoded with any --encoding already when it was read).
            if entry.csv_header is None:
                return ChunkKind.RAW_JSON, None, text.encode("utf-8")
            decoded = text
        else:
            # Bytes that were not UTF-8: what --encoding (this time) says they are.
            data = unescape_bytes(text)
            try:
                decoded = data.decode(self.encoding)
            except UnicodeDecodeError as exc:
                return (
                    f"record is not valid {self.encoding} (byte 0x{data[exc.start]:02x} at "
                    f"byte {exc.start + 1}): pass its encoding with --encoding NAME (e.g. "
                    "cp1252 or latin-1)"
                )
            if entry.csv_header is None:
                return ChunkKind.RAW_JSON, None, decoded.encode("utf-8")
        rows = [row for row in self._csv_rows(decoded) if row]
        if len(rows) != 1:
            return f"the raw CSV row holds {len(rows)} rows with this --delimiter and --quote"
        return ChunkKind.CSV_ROWS, entry.csv_header, rows[0]

    def _csv_rows(self, text: str) -> list[list[str]]:
        dialect = self.dialect
        lines = text.splitlines(keepends=True)
        try:
            if not dialect.quote_char:
                return list(csv.reader(lines, delimiter=dialect.delimiter, quoting=csv.QUOTE_NONE))
            return list(
                csv.reader(
                    lines, strict=True, delimiter=dialect.delimiter, quotechar=dialect.quote_char
                )
            )
        except csv.Error:
            return []


def read_rejects(
    source: Source,
    start: int,
    start_line: int | None,
    chunk_records: int,
    limit: int,
    dialect: CsvDialect,
) -> Iterator[Chunk]:
    """The records of a rejects file, in chunks of one kind each (JSON records, or raw CSV
    rows sharing a header); a line that gives no record becomes a problem in its place."""
    converter = _Converter(dialect)
    pending = Pending(ChunkKind.RAW_JSON, chunk_records)
    consumed = 0
    try:
        for chunk in read_jsonl(source, start, start_line, chunk_records, limit):
            consumed = chunk.bytes_consumed
            # Records and problems in position order: a problem travels with the records
            # around it, whichever chunk kind those end up in.
            problems = iter(chunk.problems)
            next_problem = next(problems, None)
            for item, line, end in zip(chunk.items, chunk.lines, chunk.ends, strict=True):
                while next_problem is not None and next_problem.end < end:
                    pending.problems.append(next_problem)
                    next_problem = next(problems, None)
                converted = converter.convert(item)
                if isinstance(converted, str):
                    pending.problems.append(ReaderProblem(line, end, converted, item))
                    continue
                kind, header, value = converted
                if kind is not pending.kind or header != pending.header:
                    yield from pending.rest(consumed)
                    pending = Pending(kind, chunk_records)
                    pending.header = header
                pending.items.append(value)
                pending.lines.append(line)
                pending.ends.append(end)
            if next_problem is not None:
                pending.problems.append(next_problem)
                pending.problems.extend(problems)
            yield from pending.full_chunks(consumed)
    except InputError:
        yield from pending.rest(source.bytes_consumed())
        raise
    yield from pending.rest(source.bytes_consumed() or consumed)
