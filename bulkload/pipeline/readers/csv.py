"""CSV: rows parsed by the csv module, each with its first line, its end position and (for
the rejects file) its raw bytes.

Two ways through a block of lines. The common one: every line of the block is one whole row
(no quoted line break, valid UTF-8, no malformed quote), so the whole block goes through ONE
``csv.reader`` over its decoded lines, and lines and positions follow from the line lengths
(``_CsvLineFeeder.take_block``). Otherwise the lines are fed to ``csv.reader`` one at a time,
so that a row may span lines and a bad row is caught with its own bytes and position.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate

from bulkload.config import CsvDialect
from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import (
    Chunk,
    ChunkKind,
    Pending,
    ReaderProblem,
    problem_prefix,
    resume_mismatch,
    too_long,
)
from bulkload.pipeline.readers.discovery import InputFile
from bulkload.pipeline.readers.source import Source

# The csv module refuses fields over 128 KiB by default; a field up to a whole request body
# is legitimate, and the limit still stops a stray quote from swallowing the rest of a file.
CSV_FIELD_LIMIT_CHARS = 1_000_000
DEFAULT_DIALECT = CsvDialect()


class _CsvLineFeeder:
    """Feeds decoded lines to ``csv.reader`` and remembers where each line ended, so every
    row gets its first line, its end position and its raw bytes."""

    def __init__(self, source: Source, offset: int, line_no: int, limit: int) -> None:
        self.source = source
        self.offset = offset  # position after the last line handed out
        self.line_no = line_no  # line count at ``offset``
        self.limit = limit
        self.row_raw: list[bytes] = []  # the current row's lines, without their b"\n"
        self.row_has_bad_utf8 = False
        self.problems: list[ReaderProblem] = []
        self._lines: list[bytes] = []
        self._index = 0
        self._carry = b""
        self._eof = False
        self._last_unterminated = False  # the final line has no b"\n"
        self._skipped_long_line = False

    def __iter__(self) -> _CsvLineFeeder:
        return self

    def start_row(self) -> None:
        self.row_raw.clear()
        self.row_has_bad_utf8 = False

    def __next__(self) -> str:
        if self._index >= len(self._lines):
            self._refill()
            if self._skipped_long_line:
                # A blank line stands in for the dropped one; offsets already count it.
                self._skipped_long_line = False
                return "\n"
        line = self._lines[self._index]
        self._index += 1
        self.line_no += 1
        self.row_raw.append(line)
        if self._last_unterminated and self._index == len(self._lines):
            self.offset += len(line)
            newline = ""
        else:
            self.offset += len(line) + 1
            newline = "\n"
        try:
            return line.decode("utf-8") + newline
        except UnicodeDecodeError:
            self.row_has_bad_utf8 = True
            return line.decode("utf-8", "surrogateescape") + newline

    def _refill(self) -> None:
        self._lines = []
        self._index = 0
        while not self._lines:
            if self._eof:
                raise StopIteration
            block = self.source.read()
            if not block:
                self._eof = True
                if self._carry:
                    self._lines = [self._carry]
                    self._last_unterminated = True
                    self._carry = b""
                continue
            buffer = self._carry + block if self._carry else block
            parts = buffer.split(b"\n")
            self._carry = parts.pop()
            self._lines = parts
            if len(self._carry) > self.limit and not parts:
                self._skip_long_line()
                return

    def _skip_long_line(self) -> None:
        """Drop an over-long line without holding it; it becomes a problem."""
        first_line = self.line_no + 1
        prefix = problem_prefix(self._carry, self.limit)
        self.offset += len(self._carry)
        self._carry = b""
        while True:
            block = self.source.read()
            if not block:
                self._eof = True
                break
            newline = block.find(b"\n")
            if newline >= 0:
                self.offset += newline + 1
                self._carry = block[newline + 1 :]
                self.line_no += 1
                break
            self.offset += len(block)
        self.problems.append(ReaderProblem(first_line, self.offset, too_long(self.limit), prefix))
        self._skipped_long_line = True

    def raw_row(self) -> bytes:
        return b"\n".join(self.row_raw)

    def take_block(self, make_reader: _MakeReader) -> _BlockRows | None:
        """At a row boundary with no line left over: the rows of the next block when every
        line of it is one whole row (parsed in one go); None leaves the block's lines to be
        fed one at a time (a row spans lines, a line is not UTF-8, a quote is malformed,
        a line was too long, or the input ended)."""
        if self._index < len(self._lines) or self._skipped_long_line or self.problems:
            return None
        try:
            self._refill()
        except StopIteration:
            return None
        lines = self._lines
        if self._skipped_long_line or self.problems or self._last_unterminated:
            return None
        try:
            texts = list(map(bytes.decode, lines))
            rows = list(make_reader(texts))
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != len(lines):
            return None  # a quoted line break: some row spans lines
        first_line = self.line_no + 1
        ends = list(accumulate(map(len, lines), _add_line, initial=self.offset))
        del ends[0]
        self._index = len(lines)
        self.line_no += len(lines)
        self.offset = ends[-1]
        if [] in rows:  # blank lines hold no row
            kept = [i for i, row in enumerate(rows) if row]
            return (
                [rows[i] for i in kept],
                [first_line + i for i in kept],
                [ends[i] for i in kept],
            )
        return rows, list(range(first_line, first_line + len(rows))), ends


# rows, their first lines, their end positions
_BlockRows = tuple[list[list[str]], list[int], list[int]]
_MakeReader = Callable[[Iterable[str]], Iterator[list[str]]]


def _add_line(offset: int, length: int) -> int:
    return offset + length + 1  # the line and its b"\n"


def _read_csv_header(
    feeder: _CsvLineFeeder, reader: Iterator[list[str]], dialect: CsvDialect
) -> list[str] | None:
    """The first non-blank row; None for an empty file."""
    try:
        while True:
            feeder.start_row()
            row = next(reader)
            if feeder.row_has_bad_utf8:
                raise InputError(
                    f"input {feeder.source.name}: the CSV header is not valid "
                    f"{_encoding_name(dialect)} ({_first_bad_byte(feeder.raw_row())}); "
                    + _ENCODING_ADVICE
                )
            if row:
                _check_header_delimiter(feeder.source.name, row, dialect)
                return row
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(
            f"input {feeder.source.name}: the CSV header cannot be parsed ({exc}); fix it"
        ) from None


_ENCODING_ADVICE = "pass the file's encoding with --encoding NAME (e.g. cp1252, latin-1, utf-16)"
# Delimiters other than the comma that exports use; seen inside a one-field header, they
# mean the file was split on the wrong character.
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


def _check_header_delimiter(name: str, header: list[str], dialect: CsvDialect) -> None:
    if len(header) != 1:
        return
    for char, shown in _OTHER_DELIMITERS.items():
        if char != dialect.delimiter and char in header[0]:
            raise InputError(
                f"input {name}: the CSV header is one field {_clip(header[0])!r}: the file seems "
                f"separated by {shown}, not {_shown_delimiter(dialect.delimiter)}; pass "
                f"--delimiter {shown}"
            )


def _shown_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _encoding_name(dialect: CsvDialect) -> str:
    return "UTF-8" if dialect.encoding is None else dialect.encoding


def _first_bad_byte(raw: bytes) -> str:
    """Where a row stops being valid UTF-8, for the reason of its reject."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the row"
    return "an undecodable byte"


def _undecodable_reason(raw: bytes, dialect: CsvDialect) -> str:
    if dialect.encoding is None:
        return (
            f"row is not valid UTF-8 ({_first_bad_byte(raw)}; kept as is in the rejects file): "
            "if the file is in another encoding, load these rejects again with --encoding NAME "
            "(e.g. cp1252 or latin-1)"
        )
    return f"row is not valid {dialect.encoding} ({_first_bad_byte(raw)}); check --encoding"


def _csv_reader(lines: Iterable[str], dialect: CsvDialect) -> Iterator[list[str]]:
    if not dialect.quote_char:
        return csv.reader(lines, strict=True, delimiter=dialect.delimiter, quoting=csv.QUOTE_NONE)
    return csv.reader(lines, strict=True, delimiter=dialect.delimiter, quotechar=dialect.quote_char)


def open_csv_source(
    input_file: InputFile,
    buffer_bytes: int,
    dialect: CsvDialect,
    should_stop: Callable[[], bool] | None = None,
) -> Source:
    """The input's bytes as UTF-8, transcoded when ``dialect`` names another encoding."""
    source = Source(input_file, buffer_bytes, should_stop)
    if not dialect.decodes_utf8:
        assert dialect.encoding is not None
        source.transcode_to_utf8(dialect.encoding)
    return source


# A header line is short; a block this size reads it in one go.
_HEADER_BLOCK_BYTES = 1 << 16


def check_csv_header(input_file: InputFile, dialect: CsvDialect, limit: int) -> None:
    """Raise now the InputError that reading would raise for this file's header (split on
    the wrong delimiter, not in the given encoding, unparseable): before a checkpoint
    records this load's options, so that following the advice reruns cleanly."""
    if input_file.format != "csv" or not input_file.resumable or not dialect.has_header:
        return  # a stream (stdin, a FIFO) is read once: its header is checked as it is read
    with open_csv_source(input_file, _HEADER_BLOCK_BYTES, dialect) as source:
        feeder = _CsvLineFeeder(source, source.skip_bom(), 0, limit)
        _read_csv_header(feeder, _csv_reader(feeder, dialect), dialect)


def read_csv(
    input_file: InputFile,
    source: Source,
    start: int,
    chunk_records: int,
    limit: int,
    dialect: CsvDialect = DEFAULT_DIALECT,
) -> Iterator[Chunk]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT_CHARS:
        csv.field_size_limit(CSV_FIELD_LIMIT_CHARS)
    header: list[str] | None
    if not dialect.has_header:
        assert dialect.column_names is not None
        header = list(dialect.column_names)
        line_breaks = source.skip_to(start, count_lines=True)
        feeder = _CsvLineFeeder(
            source, start if start > 0 else source.skip_bom(), line_breaks, limit
        )
        reader = _csv_reader(feeder, dialect)
    elif start > 0 and input_file.path is not None:
        # Read the header on its own, then seek (or discard) straight to ``start``.
        with open_csv_source(input_file, source.buffer_bytes, dialect) as header_source:
            header_feeder = _CsvLineFeeder(header_source, header_source.skip_bom(), 0, limit)
            header = _read_csv_header(header_feeder, _csv_reader(header_feeder, dialect), dialect)
            header_end = header_feeder.offset
        if header is None or start < header_end:
            raise resume_mismatch(source.name, start, "is not past the CSV header")
        line_breaks = source.skip_to(start, count_lines=True)
        feeder = _CsvLineFeeder(source, start, line_breaks, limit)
        reader = _csv_reader(feeder, dialect)
    else:
        feeder = _CsvLineFeeder(source, source.skip_bom(), 0, limit)
        reader = _csv_reader(feeder, dialect)
        header = _read_csv_header(feeder, reader, dialect)
        if header is None:
            return  # an empty file: nothing to load
        if start > 0:
            _skip_csv_lines(feeder, start)  # standard input cannot be reopened
    null_markers = frozenset(dialect.null_markers)
    pending = Pending(ChunkKind.CSV_ROWS, chunk_records)
    pending.header = header
    items, lines, ends = pending.items, pending.lines, pending.ends

    def block_reader(texts: Iterable[str]) -> Iterator[list[str]]:
        return _csv_reader(texts, dialect)

    while True:
        block = feeder.take_block(block_reader)
        if block is not None:
            if null_markers:
                # The empty field is NULL already; a marker becomes one.
                items.extend(
                    ["" if field in null_markers else field for field in row] for row in block[0]
                )
            else:
                items.extend(block[0])
            lines.extend(block[1])
            ends.extend(block[2])
            if len(items) >= chunk_records:
                yield from pending.full_chunks(source.bytes_consumed())
                items, lines, ends = pending.items, pending.lines, pending.ends
            continue
        feeder.start_row()
        first_line = feeder.line_no + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            pending.problems.append(
                ReaderProblem(
                    first_line,
                    feeder.offset,
                    f"malformed CSV row: {exc}",
                    feeder.raw_row(),
                )
            )
            continue
        except InputError:
            yield from pending.rest(source.bytes_consumed())
            raise
        if feeder.problems:
            pending.problems.extend(feeder.problems)
            feeder.problems.clear()
            continue
        if not row:
            continue
        if feeder.row_has_bad_utf8:
            raw = feeder.raw_row()
            pending.problems.append(
                ReaderProblem(first_line, feeder.offset, _undecodable_reason(raw, dialect), raw)
            )
            continue
        if null_markers:
            # The empty field is NULL already; a marker becomes one.
            row = ["" if field in null_markers else field for field in row]
        items.append(row)
        lines.append(first_line)
        ends.append(feeder.offset)
        if len(items) >= chunk_records:
            yield from pending.full_chunks(source.bytes_consumed())
            items, lines, ends = pending.items, pending.lines, pending.ends
    pending.problems.extend(feeder.problems)
    yield from pending.rest(source.bytes_consumed())


def _skip_csv_lines(feeder: _CsvLineFeeder, start: int) -> None:
    """Discard whole lines up to ``start`` (a row boundary) without parsing them."""
    while feeder.offset < start:
        try:
            next(feeder)
        except StopIteration:
            break
    if feeder.offset != start:
        raise resume_mismatch(feeder.source.name, start, "is not at a row boundary")
