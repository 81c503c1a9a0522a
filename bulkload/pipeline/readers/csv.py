"""CSV: rows parsed by the csv module, each with its first line, its end position and (for
the rejects file) its raw bytes.

Two ways through a block of lines. The common one: every line of the block is one whole row
(no quoted line break, valid UTF-8, no malformed quote), so the whole block goes through ONE
``csv.reader`` over its decoded lines, and lines and positions follow from the line lengths
(``_CsvLineFeeder.take_block``). Otherwise the lines are fed to ``csv.reader`` one at a time,
so that a row may span lines and a bad row is caught with its own bytes and position.

With ``blocks`` the reader stops at the header: the rest goes out as raw blocks of whole
lines (``CsvBlock``, cut by ``take_raw``), and whoever checks a block (a worker process)
parses it with ``parse_csv_block``: the same loop over the same lines, so the same rows,
lines, positions and problems. A row that a block's end cuts is named, to be parsed again
with the next block (``chunkcheck.CsvBlockTake``, in the loader, in input order).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from typing import Any, cast

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
        self.row_problems = 0  # len(problems) when the current row began
        self.row_offset = offset  # where it began, after how many lines
        self.row_line_no = line_no
        self._lines: list[bytes] = []
        self._index = 0
        self._carry = b""
        self._eof = False
        self._last_unterminated = False  # the final line has no b"\n"
        self._skipped_long_line = False
        self._block_tried = False  # take_block parsed the current block's lines at once

    def __iter__(self) -> _CsvLineFeeder:
        return self

    def start_row(self) -> None:
        self.row_raw.clear()
        self.row_has_bad_utf8 = False
        self.row_problems = len(self.problems)
        self.row_offset = self.offset
        self.row_line_no = self.line_no

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
        self._block_tried = False
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
        """At a row boundary: the rows of the next block (or of what is left of the current
        one, once: what the header's read left) when every line of it is one whole row
        (parsed in one go); None leaves the block's lines to be
        fed one at a time (a row spans lines, a line is not UTF-8, a quote is malformed,
        a line was too long, or the input ended)."""
        if self._skipped_long_line or self.problems:
            return None
        if self._index < len(self._lines):
            # What the header's read left over (most of the first block): taken in one go
            # too, not row by row, when it holds whole rows only.
            if self._block_tried or self._last_unterminated:
                return None
            lines = self._lines[self._index :]
        else:
            try:
                self._refill()
            except StopIteration:
                return None
            lines = self._lines
            if self._skipped_long_line or self.problems or self._last_unterminated:
                return None
        # Once per block: a block that fell back to row by row is not parsed whole again.
        self._block_tried = True
        try:
            texts = list(map(bytes.decode, lines))
            rows = list(make_reader(texts))
        except (UnicodeDecodeError, csv.Error):
            return None
        if len(rows) != len(lines):
            return None  # a quoted line break: some row spans lines
        first_line = self.line_no + 1
        # each line's end: the lengths summed, plus one b"\n" per line (C loops only)
        ends = list(
            map(
                add,
                accumulate(map(len, lines)),
                range(self.offset + 1, self.offset + len(lines) + 1),
            )
        )
        self._index = len(self._lines)
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

    def take_raw(self, quote: bytes) -> tuple[bytes | LongLine, bool] | None:
        """At a row boundary: the next piece of input for a worker to parse (``CsvBlock``),
        read and cut at a line break but not split or decoded: whole lines as bytes (the
        last one unterminated only at the end of the input: then True), or an over-long
        line skipped unheld. None once the input has ended.

        The cut is the last line break with an even number of ``quote`` characters before
        it in the piece, where a row that began at the piece's start surely ended (if every
        quote character opens or closes a quoted field; else the last line break, and the
        loader parses a row that the cut split again, see CsvBlockTake)."""
        if self._index < len(self._lines):  # what the header's read left over
            rest = self._lines[self._index :]
            self._index = len(self._lines)
            data = b"\n".join(rest)
            final = self._last_unterminated
            if not final:
                data += b"\n"
            self.offset += len(data)
            self.line_no += len(rest)
            return data, final
        while not self._eof:
            block = self.source.read()
            if not block:
                self._eof = True
                carry, self._carry = self._carry, b""
                if not carry:
                    break
                self.offset += len(carry)
                self.line_no += 1
                return carry, True
            buffer = self._carry + block if self._carry else block
            cut = buffer.rfind(b"\n") + 1
            if cut == 0:
                self._carry = buffer
                if len(buffer) > self.limit:
                    self._skip_long_line()
                    self._skipped_long_line = False
                    return LongLine(self.problems.pop(), not self._eof), False
                continue
            if quote:
                cut = _even_quotes_cut(buffer, cut, quote)
            data = buffer[:cut]
            self._carry = buffer[cut:]
            self.offset += cut
            self.line_no += data.count(b"\n")
            return data, False
        return None


def _even_quotes_cut(buffer: bytes, cut: int, quote: bytes) -> int:
    """The last line break up to ``cut`` (one is there) after an even number of quote
    characters, else ``cut`` itself: counting is memchr-fast, so the loader can afford it."""
    quotes = buffer.count(quote, 0, cut)
    end = cut
    while quotes % 2:
        previous = buffer.rfind(b"\n", 0, end - 1) + 1
        if previous == 0:
            return cut  # no row ends here (a quoted field longer than the block, or stray quotes)
        quotes -= buffer.count(quote, previous, end)
        end = previous
    return end


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line too long to hold, in a block's place: its problem, and whether a line break
    ended it (else the input did)."""

    problem: ReaderProblem
    ended: bool


class _BlockEnd(Exception):
    """A block's lines ran out inside a row, before the end of the input."""


class _BlockFeeder(_CsvLineFeeder):
    """The feeder over one ``CsvBlock``'s bytes (in a worker, or the loader), handing out
    lines exactly as the feeder over the source would: so the rows, their lines and
    positions and the problems are the ones read_csv reads, whichever process parses."""

    def __init__(self, block: CsvBlock) -> None:
        super().__init__(cast(Source, None), block.offset, block.line_no, 0)
        self._segments = iter(block.segments)
        self._final = block.final
        self._tail = b""  # the input's unterminated last line, handed out on its own

    def _refill(self) -> None:
        self._lines = []
        self._index = 0
        self._block_tried = False
        while not self._lines:
            segment = next(self._segments, None)
            if segment is None:
                if self._tail:
                    self._lines = [self._tail]
                    self._last_unterminated = True
                    self._tail = b""
                    return
                if self.row_raw and not self._final:
                    raise _BlockEnd
                raise StopIteration
            if isinstance(segment, LongLine):
                problem = segment.problem
                self.problems.append(problem)
                self.offset = problem.end
                self.line_no = problem.line if segment.ended else problem.line - 1
                self._skipped_long_line = True
                return
            parts = segment.split(b"\n")
            self._tail = parts.pop()
            self._lines = parts


# rows, their first lines, their end positions
_BlockRows = tuple[list[list[str]], list[int], list[int]]
_MakeReader = Callable[[Iterable[str]], Iterator[list[str]]]


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
    *,
    blocks: bool = False,
) -> Iterator[Chunk]:
    """The rows after ``start`` in chunks of ``chunk_records``; with ``blocks``, the part
    after the header as raw blocks instead (``CsvBlock``), to be parsed by
    ``parse_csv_block`` where they are checked."""
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
    if blocks and not feeder.problems and not feeder._skipped_long_line:
        yield from _read_blocks(feeder, source, header, chunk_records, dialect)
        return
    pending = Pending(ChunkKind.CSV_ROWS, chunk_records)
    pending.header = header
    try:
        for _ in _parse_rows(feeder, reader, dialect, pending):
            yield from pending.full_chunks(source.bytes_consumed())
    except InputError:
        yield from pending.rest(source.bytes_consumed())
        raise
    yield from pending.rest(source.bytes_consumed())


def _parse_rows(
    feeder: _CsvLineFeeder, reader: Iterator[list[str]], dialect: CsvDialect, pending: Pending
) -> Iterator[None]:
    """Parse rows into ``pending`` (the rows, their lines and end positions, the problems)
    until the feeder's input ends; yields whenever ``pending`` holds a chunk's worth."""
    null_markers = frozenset(dialect.null_markers)
    chunk_records = pending.chunk_records

    def block_reader(texts: Iterable[str]) -> Iterator[list[str]]:
        return _csv_reader(texts, dialect)

    while True:
        feeder.start_row()
        block = feeder.take_block(block_reader)
        if block is not None:
            if null_markers:
                # The empty field is NULL already; a marker becomes one.
                pending.items.extend(
                    ["" if field in null_markers else field for field in row] for row in block[0]
                )
            else:
                pending.items.extend(block[0])
            pending.lines.extend(block[1])
            pending.ends.extend(block[2])
            if len(pending.items) >= chunk_records:
                yield
            continue
        first_line = feeder.line_no + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # an over-long line skipped in the row first (else the next row would be lost)
            pending.problems.extend(feeder.problems)
            feeder.problems.clear()
            pending.problems.append(
                ReaderProblem(
                    first_line,
                    feeder.offset,
                    f"malformed CSV row: {exc}",
                    feeder.raw_row(),
                )
            )
            continue
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
        pending.items.append(row)
        pending.lines.append(first_line)
        pending.ends.append(feeder.offset)
        if len(pending.items) >= chunk_records:
            yield
    pending.problems.extend(feeder.problems)
    feeder.problems.clear()


# ---- raw blocks: parsed where they are checked (a worker process, with --workers) ------------


class CsvFileBlocks:
    """What the loader keeps of one file's blocks while it takes their verdicts in order
    (``chunkcheck.CsvBlockTake`` lives in ``take``, made there): never pickled."""

    __slots__ = ("chunk_records", "header", "take")

    def __init__(self, header: list[str], chunk_records: int) -> None:
        self.header = header
        self.chunk_records = chunk_records
        self.take: Any = None


class CsvBlock(list[Any]):
    """A block of a CSV file as read, for a Chunk's items (``ChunkKind.CSV_ROWS``): whole
    lines of bytes from a row boundary, not yet split, decoded or parsed (``segments``;
    an over-long line skipped is a ``LongLine`` among them), starting at position
    ``offset`` after ``line_no`` lines. ``final``: the input ends after it (every file's
    blocks end with one final block, maybe empty). It pickles without ``file``, the
    loader's own bookkeeping, so a worker gets the bytes and the dialect only."""

    __slots__ = ("cut_short", "dialect", "file", "final", "line_no", "offset", "segments")

    def __init__(
        self,
        segments: tuple[bytes | LongLine, ...],
        offset: int,
        line_no: int,
        final: bool,
        dialect: CsvDialect,
        file: CsvFileBlocks | None = None,
    ) -> None:
        super().__init__()
        self.segments = segments
        self.offset = offset
        self.line_no = line_no
        self.final = final
        self.dialect = dialect
        self.file = file
        # the input failed here (an I/O error): what was read is taken, a cut row dropped
        self.cut_short = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (CsvBlock, (self.segments, self.offset, self.line_no, self.final, self.dialect))

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CsvBlock(offset={self.offset}, line_no={self.line_no}, final={self.final})"

    def from_row(self, offset: int, line_no: int, then: CsvBlock) -> CsvBlock:
        """This block from the row that starts at ``offset`` (after ``line_no`` lines), which
        its end cut, followed by the next block ``then``: to be parsed again as one."""
        kept: list[bytes | LongLine] = []
        position = self.offset
        for segment in self.segments:
            if isinstance(segment, LongLine):
                if position >= offset:
                    kept.append(segment)
                position = segment.problem.end
                continue
            if position + len(segment) > offset:
                kept.append(segment[max(0, offset - position) :])
            position += len(segment)
        return CsvBlock(
            (*kept, *then.segments), offset, line_no, then.final, then.dialect, then.file
        )


@dataclass(slots=True)
class CsvBlockRows:
    """A block parsed: what read_csv would have read from it."""

    rows: list[list[str]]
    lines: list[int]
    ends: list[int]
    problems: list[ReaderProblem]
    # where the row that the block's end cut begins (position, lines before), else None
    unfinished: tuple[int, int] | None


def parse_csv_block(block: CsvBlock) -> CsvBlockRows:
    """The rows of ``block``, parsed as read_csv parses them (the same feeder logic and
    loop over the same lines). A row the block's end cuts is left out and named."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT_CHARS:
        csv.field_size_limit(CSV_FIELD_LIMIT_CHARS)
    feeder = _BlockFeeder(block)
    pending = Pending(ChunkKind.CSV_ROWS, sys.maxsize)
    unfinished = None
    try:
        for _ in _parse_rows(feeder, _csv_reader(feeder, block.dialect), block.dialect, pending):
            pass
    except _BlockEnd:
        # The cut row is parsed again with the next block; its problems come back then.
        pending.problems.extend(feeder.problems[: feeder.row_problems])
        unfinished = (feeder.row_offset, feeder.row_line_no)
    return CsvBlockRows(pending.items, pending.lines, pending.ends, pending.problems, unfinished)


def _read_blocks(
    feeder: _CsvLineFeeder,
    source: Source,
    header: list[str],
    chunk_records: int,
    dialect: CsvDialect,
) -> Iterator[Chunk]:
    """The file from here as raw blocks (see CsvBlock): the loader only reads and cuts at
    the last line break; rows are parsed where the chunk is checked."""
    file = CsvFileBlocks(header, chunk_records)
    quote = dialect.quote_char.encode()
    while True:
        offset, line_no = feeder.offset, feeder.line_no
        try:
            piece = feeder.take_raw(quote)
        except InputError:
            # What was read before the defect is taken first, as read_csv's rows are.
            last = CsvBlock((), offset, line_no, True, dialect, file)
            last.cut_short = True
            yield _block_chunk(last, source)
            raise
        if piece is None:
            yield _block_chunk(CsvBlock((), offset, line_no, True, dialect, file), source)
            return
        segment, final = piece
        yield _block_chunk(CsvBlock((segment,), offset, line_no, final, dialect, file), source)
        if final:
            return


def _block_chunk(block: CsvBlock, source: Source) -> Chunk:
    assert block.file is not None
    return Chunk(ChunkKind.CSV_ROWS, block, [], [], block.file.header, source.bytes_consumed(), [])


def _skip_csv_lines(feeder: _CsvLineFeeder, start: int) -> None:
    """Discard whole lines up to ``start`` (a row boundary) without parsing them."""
    while feeder.offset < start:
        try:
            next(feeder)
        except StopIteration:
            break
    if feeder.offset != start:
        raise resume_mismatch(feeder.source.name, start, "is not at a row boundary")
