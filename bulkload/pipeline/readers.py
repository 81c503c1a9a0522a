"""Input files: discovery, formats, compression, positions and resume.

Every reader streams: it reads blocks of ``buffer_bytes`` and never holds more than one
block plus the record in progress, whatever the file size. It yields :class:`Chunk` objects
of raw records with, for each record, its source line and the position just after it, so
that the pipeline can checkpoint and later resume with ``read_chunks(start=...)``.

Positions are one integer per file: for JSONL, CSV and JSON arrays the offset in the
*uncompressed* byte stream just after the record; for Parquet the number of rows consumed.
Line numbers stay right after a resume: for JSONL the caller passes ``start_line``, the
line of the record that ended at ``start`` (``Chunk.lines[i]``), and the reader seeks. CSV
rows and JSON array elements may span lines, so for them (and for JSONL without
``start_line``) the reader counts the line breaks before ``start`` itself: one pass over
the prefix at memchr speed, no parsing.

Records that cannot even be delimited or decoded (an over-long line, a CSV row with invalid
UTF-8 or a broken quote) are not errors of the whole file: they travel in
``Chunk.problems`` to the rejects file. Defects of the file itself (not a JSON array,
truncated compressed stream, unreadable path) raise :class:`InputError`, after the records
read before the defect have been yielded.
"""

from __future__ import annotations

import bz2
import csv
import functools
import hashlib
import importlib
import importlib.util
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import accumulate, repeat
from operator import add, itemgetter
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, Protocol, cast, get_args

from bulkload.errors import InputError

Format = Literal["jsonl", "csv", "json", "parquet"]
Compression = Literal["gzip", "zstd", "bz2"]

FORMATS: tuple[Format, ...] = get_args(Format)
FORMAT_BY_EXTENSION: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".json": "json",
    ".parquet": "parquet",
}
COMPRESSION_BY_EXTENSION: dict[str, Compression] = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}

DEFAULT_BUFFER_BYTES = 1 << 20
DEFAULT_CHUNK_RECORDS = 2000
# A record this long could never fit in a request body; past it we stop holding the bytes.
DEFAULT_MAX_RECORD_BYTES = 64 << 20
# How much of an undecodable record is kept for the rejects file.
PROBLEM_RAW_PREFIX_BYTES = 4096
FINGERPRINT_SPAN_BYTES = 1 << 20
# Compressed bytes handed to the zstd decompressor at a time: bounds the output of one call.
ZSTD_INPUT_BYTES = 1 << 17
# The csv module refuses fields over 128 KiB by default; a field up to a whole request body
# is legitimate, and the limit still stops a stray quote from swallowing the rest of a file.
CSV_FIELD_LIMIT_CHARS = 1_000_000

UTF8_BOM = b"\xef\xbb\xbf"
_FIRST_BYTE = itemgetter(0)
EXTENSIONS_HELP = (
    ".jsonl, .ndjson, .csv, .json or .parquet (optionally followed by .gz, .zst or .bz2)"
)


@dataclass(frozen=True, slots=True)
class InputFile:
    path: Path | None  # None for standard input
    display_name: str
    format: Format
    compression: Compression | None
    size_bytes: int | None  # on-disk (compressed) size; None for standard input
    mtime_ns: int | None


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


@dataclass(slots=True)
class Chunk:
    kind: ChunkKind
    items: list[Any]
    lines: list[int]  # 1-based source line (CSV: first line of the row; Parquet: row index + 1)
    ends: list[int]  # position just after each item
    header: list[str] | None  # CSV: the header row, on every chunk
    bytes_consumed: int  # on-disk bytes read so far in this file
    problems: list[ReaderProblem]


# --------------------------------------------------------------------------------------
# discovery


def discover_inputs(paths: Sequence[str], input_format: str | None = None) -> list[InputFile]:
    """Resolve the command line's inputs: files, directories (supported files in name order,
    not recursive) and ``-`` (standard input). A file reached twice is read once."""
    if input_format is not None and input_format not in FORMATS:
        raise InputError(f"--format {input_format!r} is not one of {', '.join(FORMATS)}")
    if not paths:
        raise InputError("no input given: name files, directories, or - for standard input")
    chosen_format: Format | None = input_format  # narrowed by the check above
    inputs: list[InputFile] = []
    seen: set[str] = set()
    for text in paths:
        if text == "-":
            candidates = [_stdin_input(chosen_format)]
        else:
            candidates = _path_inputs(text, chosen_format)
        for candidate in candidates:
            identity = "-" if candidate.path is None else os.path.realpath(candidate.path)
            if identity not in seen:
                seen.add(identity)
                inputs.append(candidate)
    return inputs


def _stdin_input(input_format: Format | None) -> InputFile:
    file_format: Format = input_format or "jsonl"
    if file_format == "parquet":
        raise InputError("parquet cannot be read from standard input (-); give the file's path")
    return InputFile(
        path=None,
        display_name="<stdin>",
        format=file_format,
        compression=None,
        size_bytes=None,
        mtime_ns=None,
    )


def _path_inputs(text: str, input_format: Format | None) -> list[InputFile]:
    path = Path(text)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputError(f"input {text!r} does not exist; check the path") from None
    except OSError as exc:
        raise InputError(
            f"input {text!r} cannot be read ({exc.strerror}); check the path"
        ) from None
    if stat.S_ISDIR(status.st_mode):
        return _directory_inputs(path, text, input_format)
    return [_file_input(path, text, status, input_format, explicit=True)]


def _directory_inputs(directory: Path, text: str, input_format: Format | None) -> list[InputFile]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        raise InputError(
            f"input directory {text!r} cannot be listed ({exc.strerror}); check its permissions"
        ) from None
    inputs = []
    for entry in entries:
        if entry.name.startswith(".") or _classify(entry.name)[0] is None:
            continue
        try:
            if not entry.is_file():
                continue
            status = entry.stat()
        except OSError:
            continue
        inputs.append(
            _file_input(Path(entry.path), entry.path, status, input_format, explicit=False)
        )
    if not inputs:
        raise InputError(
            f"input directory {text!r} has no input files; it needs files named {EXTENSIONS_HELP}"
        )
    return inputs


def _classify(name: str) -> tuple[Format | None, Compression | None]:
    """The format and compression a file name announces."""
    lower = name.lower()
    compression: Compression | None = None
    for extension, kind in COMPRESSION_BY_EXTENSION.items():
        if lower.endswith(extension):
            compression = kind
            lower = lower[: -len(extension)]
            break
    for extension, file_format in FORMAT_BY_EXTENSION.items():
        if lower.endswith(extension):
            return file_format, compression
    return None, compression


def _file_input(
    path: Path, text: str, status: os.stat_result, input_format: Format | None, *, explicit: bool
) -> InputFile:
    named_format, compression = _classify(path.name)
    file_format = input_format or named_format
    if file_format is None:
        raise InputError(
            f"input {text!r} has an unknown extension; name it {EXTENSIONS_HELP}, or pass --format"
        )
    if file_format == "parquet":
        if compression is not None:
            raise InputError(
                f"input {text!r}: parquet files are compressed inside; remove the outer compression"
            )
        if not parquet_available():
            raise InputError(
                f"input {text!r} is parquet, which needs pyarrow: install bulkload[parquet]"
            )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        what = "input" if explicit else "input file"
        raise InputError(
            f"{what} {text!r} cannot be read ({exc.strerror}); check its permissions"
        ) from None
    return InputFile(
        path=path,
        display_name=text,
        format=file_format,
        compression=compression,
        size_bytes=status.st_size,
        mtime_ns=status.st_mtime_ns,
    )


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


# --------------------------------------------------------------------------------------
# fingerprint


def fingerprint(input_file: InputFile) -> dict[str, Any]:
    """What binds a checkpoint to its input: size, mtime and a hash of the first and last
    MiB of the on-disk bytes (cheap for any size, and catches edits at either end)."""
    if input_file.path is None:
        return {"size": None, "mtime_ns": None, "blake2b": None}
    try:
        with open(input_file.path, "rb") as handle:
            status = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            digest.update(handle.read(FINGERPRINT_SPAN_BYTES))
            if status.st_size > FINGERPRINT_SPAN_BYTES:
                handle.seek(max(FINGERPRINT_SPAN_BYTES, status.st_size - FINGERPRINT_SPAN_BYTES))
                digest.update(handle.read(FINGERPRINT_SPAN_BYTES))
    except OSError as exc:
        raise _io_error(input_file.display_name, exc) from None
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "blake2b": digest.hexdigest()}


# --------------------------------------------------------------------------------------
# the uncompressed byte stream


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _ZstdReader:
    """zstd frames in sequence; unlike ``stream_reader`` it notices a frame cut short."""

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: Any = self._decompressor.decompressobj()
        self._frame_started = False

    def read(self, size: int = -1, /) -> bytes:
        while True:
            compressed = self._raw.read(ZSTD_INPUT_BYTES)
            if not compressed:
                if self._frame_started and not self._frame.eof:
                    raise EOFError("zstd frame ends early")
                return b""
            data = self._decompress(compressed)
            if data:
                return data

    def _decompress(self, compressed: bytes) -> bytes:
        pieces = []
        while compressed:
            self._frame_started = True
            pieces.append(self._frame.decompress(compressed))
            if not self._frame.eof:
                break
            compressed = self._frame.unused_data
            self._frame = self._decompressor.decompressobj()
            self._frame_started = False
        return b"".join(pieces)


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, EOFError, zlib.error]
    try:
        from isal import isal_zlib

        errors.append(cast("type[BaseException]", isal_zlib.error))
    except ImportError:
        pass
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


def _io_error(name: str, exc: BaseException) -> InputError:
    if isinstance(exc, EOFError):
        return InputError(
            f"input {name}: compressed stream ends early (file truncated?); "
            "re-create or re-download it"
        )
    if isinstance(exc, OSError) and exc.strerror:
        return InputError(f"input {name} cannot be read ({exc.strerror}); check the file")
    return InputError(f"input {name} cannot be read ({exc}); check the file")


class _Source:
    """The uncompressed bytes of one input, block by block; translates every I/O and
    decompression error into InputError naming the input."""

    def __init__(self, input_file: InputFile, buffer_bytes: int) -> None:
        self.name = input_file.display_name
        self.buffer_bytes = max(1, buffer_bytes)
        self._errors = _decompression_errors()
        self._pending = b""
        self._stdin_bytes = 0
        self._raw: IO[bytes] | None = None
        self._read: Callable[[int], bytes]
        self.seekable = False
        if input_file.path is None:
            # read1: a slow producer's records flow on without waiting for a full block.
            self._read = getattr(sys.stdin.buffer, "read1", sys.stdin.buffer.read)
            return
        try:
            raw = open(input_file.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise _io_error(self.name, exc) from None
        self._raw = raw
        stream: _Readable
        if input_file.compression is None:
            stream = raw
            self.seekable = True
        elif input_file.compression == "gzip":
            stream = _open_gzip(raw)
        elif input_file.compression == "zstd":
            stream = _ZstdReader(raw)
        else:
            stream = bz2.BZ2File(raw)
        self._read = stream.read

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(self) -> bytes:
        """The next block of uncompressed bytes; b"" at the end."""
        if self._pending:
            block, self._pending = self._pending, b""
            return block
        try:
            block = self._read(self.buffer_bytes)
        except self._errors as exc:
            raise _io_error(self.name, exc) from None
        self._stdin_bytes += len(block)
        return block

    def bytes_consumed(self) -> int:
        if self._raw is None:
            return self._stdin_bytes
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def skip_to(self, start: int, *, count_lines: bool) -> int:
        """Position the stream at ``start``; return the line breaks before it if asked
        (else 0). Plain files seek; compressed streams and stdin are read and discarded."""
        if start <= 0:
            return 0
        if self.seekable and not count_lines:
            assert self._raw is not None
            try:
                size = os.fstat(self._raw.fileno()).st_size
                if start > size:
                    raise self._beyond_end(start)
                self._raw.seek(start)
            except OSError as exc:
                raise _io_error(self.name, exc) from None
            return 0
        remaining = start
        line_breaks = 0
        while remaining > 0:
            block = self.read()
            if not block:
                raise self._beyond_end(start)
            if len(block) > remaining:
                self._pending = block[remaining:]
                block = block[:remaining]
            if count_lines:
                line_breaks += block.count(b"\n")
            remaining -= len(block)
        return line_breaks

    def skip_bom(self) -> int:
        """At the start of the stream: drop a UTF-8 byte order mark; return its length."""
        head = b""
        while len(head) < len(UTF8_BOM):
            block = self.read()
            if not block:
                break
            head += block
        if head.startswith(UTF8_BOM):
            head = head[len(UTF8_BOM) :]
            skipped = len(UTF8_BOM)
        else:
            skipped = 0
        self._pending = head
        return skipped

    def _beyond_end(self, start: int) -> InputError:
        return InputError(
            f"input {self.name}: resume position {start} is past its end; the file changed "
            "since the checkpoint: restart the load (--restart)"
        )


def _open_gzip(raw: IO[bytes]) -> _Readable:
    try:
        from isal import igzip

        isal_gzip: Any = igzip
        return cast(_Readable, isal_gzip.IGzipFile(fileobj=raw, mode="rb"))
    except ImportError:
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")


# --------------------------------------------------------------------------------------
# reading


def read_chunks(
    input_file: InputFile,
    *,
    start: int = 0,
    start_line: int | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Chunk]:
    """The records after position ``start``, in chunks of at most ``chunk_records``.

    ``start == Chunk.ends[i]`` resumes after record i; ``start_line`` may then carry
    ``Chunk.lines[i]``, which spares JSONL a pass over the prefix (other formats count
    lines themselves; see the module docstring). Records longer than ``max_record_bytes``
    become problems without being held in memory.
    """
    if start < 0:
        raise InputError(f"input {input_file.display_name}: resume position {start} is negative")
    chunk_records = max(1, chunk_records)
    if input_file.format == "parquet":
        yield from _read_parquet(input_file, start, chunk_records)
        return
    with _Source(input_file, buffer_bytes) as source:
        if input_file.format == "jsonl":
            yield from _read_jsonl(source, start, start_line, chunk_records, max_record_bytes)
        elif input_file.format == "csv":
            yield from _read_csv(input_file, source, start, chunk_records, max_record_bytes)
        else:
            yield from _read_json_array(source, start, chunk_records, max_record_bytes)


class _Pending:
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
        if all_problems or not self.problems:
            problems, self.problems = self.problems, []
        else:
            # A problem travels with the records around it, so positions stay in order.
            last_end = self.ends[count - 1]
            problems = [p for p in self.problems if p.end <= last_end]
            self.problems = [p for p in self.problems if p.end > last_end]
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


def _problem_prefix_bytes(limit: int) -> int:
    return min(PROBLEM_RAW_PREFIX_BYTES, limit)


def _problem_prefix(data: bytes, limit: int) -> bytes:
    """What the rejects file keeps of an over-long record: the same bytes whatever the
    block size was when the limit was crossed."""
    return data[: _problem_prefix_bytes(limit)]


def _too_long(limit: int) -> str:
    return f"line longer than {limit:,} bytes (no record can be that large); skipped"


def _may_hold_blank_lines(lines: list[bytes]) -> bool:
    """Whether some line may be empty or whitespace only (skipped, not a record). Lines
    that merely start with a blank also say yes: the careful path sorts them out."""
    try:
        firsts = bytes(map(_FIRST_BYTE, lines))
    except IndexError:  # an empty line
        return True
    return b" " in firsts or b"\t" in firsts or b"\x0b" in firsts or b"\x0c" in firsts


def _read_jsonl(
    source: _Source, start: int, start_line: int | None, chunk_records: int, limit: int
) -> Iterator[Chunk]:
    # A JSONL record is one line, so the line count at its end is its own line number.
    line_breaks = source.skip_to(start, count_lines=start_line is None)
    line_no = line_breaks if start_line is None else start_line
    pending = _Pending(ChunkKind.RAW_JSON, chunk_records)
    items, lines, ends = pending.items, pending.lines, pending.ends
    offset = start  # stream position of the first byte of the carried partial line
    carried: list[bytes] = []  # a partial line, in pieces: a long line grows without copies
    carried_size = 0
    skipping_line: int | None = None  # line number of an over-long line being skipped
    skipped_prefix = b""
    if start == 0:
        offset += source.skip_bom()
    while True:
        try:
            block = source.read()
        except InputError:
            yield from pending.rest(source.bytes_consumed())
            raise
        if not block:
            break
        if skipping_line is not None:
            newline = block.find(b"\n")
            if newline < 0:
                offset += len(block)
                continue
            line_no += 1
            offset += newline + 1
            pending.problems.append(
                ReaderProblem(skipping_line, offset, _too_long(limit), skipped_prefix)
            )
            skipping_line = None
            block = block[newline + 1 :]
        if b"\n" not in block:
            carried.append(block)
            carried_size += len(block)
            if carried_size > limit:
                skipping_line = line_no + 1
                skipped_prefix = _problem_prefix(b"".join(carried), limit)
                offset += carried_size
                carried, carried_size = [], 0
            continue
        parts = block.split(b"\n")
        check_length = carried_size + len(block) > limit
        if carried:
            # The partial line carried over is the start of the block's first line: join
            # just that line, not carry + block (a 1 MiB copy per block).
            carried.append(parts[0])
            parts[0] = b"".join(carried)
        carry = parts.pop()
        strip_cr = b"\r" in block or b"\r" in parts[0]
        if parts and not (strip_cr or check_length or _may_hold_blank_lines(parts)):
            # Every line is a record: positions and line numbers by running sums, not one
            # Python step per line.
            items.extend(parts)
            lines.extend(range(line_no + 1, line_no + 1 + len(parts)))
            line_no += len(parts)
            ends.extend(accumulate(map(add, map(len, parts), repeat(1)), initial=offset))
            del ends[len(ends) - len(parts) - 1]  # the initial offset, before the first line
            offset = ends[-1]
            parts = []
        for line in parts:
            line_no += 1
            offset += len(line) + 1
            if strip_cr and line.endswith(b"\r"):
                line = line[:-1]
            if not line or line.isspace():
                continue
            if check_length and len(line) > limit:
                pending.problems.append(
                    ReaderProblem(line_no, offset, _too_long(limit), _problem_prefix(line, limit))
                )
                continue
            items.append(line)
            lines.append(line_no)
            ends.append(offset)
        if len(carry) > limit:
            skipping_line = line_no + 1
            skipped_prefix = _problem_prefix(carry, limit)
            offset += len(carry)
            carried, carried_size = [], 0
        else:
            carried, carried_size = ([carry], len(carry)) if carry else ([], 0)
        if len(items) >= chunk_records:
            yield from pending.full_chunks(source.bytes_consumed())
            items, lines, ends = pending.items, pending.lines, pending.ends
    if skipping_line is not None:
        pending.problems.append(
            ReaderProblem(skipping_line, offset, _too_long(limit), skipped_prefix)
        )
    elif carried:
        carry = b"".join(carried)
        line_no += 1
        offset += len(carry)
        line = carry[:-1] if carry.endswith(b"\r") else carry
        if line and not line.isspace():
            items.append(line)
            lines.append(line_no)
            ends.append(offset)
    yield from pending.rest(source.bytes_consumed())


# ---- CSV


class _CsvLineFeeder:
    """Feeds decoded lines to ``csv.reader`` and remembers where each line ended, so every
    row gets its first line, its end position and its raw bytes."""

    def __init__(self, source: _Source, offset: int, line_no: int, limit: int) -> None:
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
        prefix = _problem_prefix(self._carry, self.limit)
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
        self.problems.append(ReaderProblem(first_line, self.offset, _too_long(self.limit), prefix))
        self._skipped_long_line = True

    def raw_row(self) -> bytes:
        return b"\n".join(self.row_raw)


def _read_csv_header(feeder: _CsvLineFeeder, reader: Iterator[list[str]]) -> list[str] | None:
    """The first non-blank row; None for an empty file."""
    try:
        while True:
            feeder.start_row()
            row = next(reader)
            if feeder.row_has_bad_utf8:
                raise InputError(
                    f"input {feeder.source.name}: the CSV header is not valid UTF-8; "
                    "save the file as UTF-8"
                )
            if row:
                return row
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(
            f"input {feeder.source.name}: the CSV header cannot be parsed ({exc}); fix it"
        ) from None


def _read_csv(
    input_file: InputFile, source: _Source, start: int, chunk_records: int, limit: int
) -> Iterator[Chunk]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT_CHARS:
        csv.field_size_limit(CSV_FIELD_LIMIT_CHARS)
    if start > 0 and input_file.path is not None:
        # Read the header on its own, then seek (or discard) straight to ``start``.
        with _Source(input_file, source.buffer_bytes) as header_source:
            header_feeder = _CsvLineFeeder(header_source, header_source.skip_bom(), 0, limit)
            header = _read_csv_header(header_feeder, csv.reader(header_feeder, strict=True))
            header_end = header_feeder.offset
        if header is None or start < header_end:
            raise _resume_mismatch(source.name, start, "is not past the CSV header")
        line_breaks = source.skip_to(start, count_lines=True)
        feeder = _CsvLineFeeder(source, start, line_breaks, limit)
        reader = csv.reader(feeder, strict=True)
    else:
        feeder = _CsvLineFeeder(source, source.skip_bom(), 0, limit)
        reader = csv.reader(feeder, strict=True)
        header = _read_csv_header(feeder, reader)
        if header is None:
            return  # an empty file: nothing to load
        if start > 0:
            _skip_csv_lines(feeder, start)  # standard input cannot be reopened
    pending = _Pending(ChunkKind.CSV_ROWS, chunk_records)
    pending.header = header
    items, lines, ends = pending.items, pending.lines, pending.ends
    while True:
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
            pending.problems.append(
                ReaderProblem(
                    first_line,
                    feeder.offset,
                    "row is not valid UTF-8",
                    feeder.raw_row(),
                )
            )
            continue
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
        raise _resume_mismatch(feeder.source.name, start, "is not at a row boundary")


def _resume_mismatch(name: str, start: int, what: str) -> InputError:
    return InputError(
        f"input {name}: resume position {start} {what}; the file changed since the "
        "checkpoint: restart the load (--restart)"
    )


# ---- JSON array


def _nested(inner: bytes) -> bytes:
    return rb"(?:\{(?:" + inner + rb")*+\}|\[(?:" + inner + rb")*+\])"


# The fast path: one C-level match over a whole element nested up to 4 deep (strings as
# units, possessive so nothing backtracks). An element it cannot finish, deeper or cut by
# the block's end, is scanned token by token instead.
_FLAT = rb'"(?:[^"\\]++|\\.)*+"|[^"\[\]{},]++'


class _ArrayPatterns(NamedTuple):
    json_token: re.Pattern[bytes]
    string_special: re.Pattern[bytes]
    element: re.Pattern[bytes]
    not_whitespace: re.Pattern[bytes]


@functools.cache
def _array_patterns() -> _ArrayPatterns:
    """Compiled on first use: ~10 ms that a load of anything but a JSON array never needs."""
    element = (
        rb"(?:"
        + _FLAT
        + rb"|"
        + _nested(
            _FLAT
            + rb"|,|"
            + _nested(_FLAT + rb"|,|" + _nested(_FLAT + rb"|,|" + _nested(_FLAT + rb"|,")))
        )
        + rb")*+"
    )
    return _ArrayPatterns(
        json_token=re.compile(rb'"(?:[^"\\]++|\\.)*+"|["\[\]{},]', re.DOTALL),
        string_special=re.compile(rb'["\\]'),
        element=re.compile(element, re.DOTALL),
        not_whitespace=re.compile(rb"[^ \t\r\n]"),
    )


_WHITESPACE = b" \t\r\n"
_QUOTE, _COMMA = ord('"'), ord(",")
_OPEN_BRACKET, _CLOSE_BRACKET = ord("["), ord("]")
_OPENERS = frozenset(b"[{")
_DELIMITERS = frozenset(b",]")


class _ArrayState(Enum):
    BEFORE_ARRAY = 1
    FIRST_ELEMENT = 2  # after '[': an element or ']'
    NEXT_ELEMENT = 3  # after ',': an element
    IN_ELEMENT = 4
    AFTER_ELEMENT = 5  # only when resuming: ',' or ']'
    AFTER_ARRAY = 6


class _JsonArrayScanner:
    """Finds the elements of a top-level JSON array in a stream fed block by block.

    It tracks only what delimits elements (strings with their escapes, nesting depth) and
    jumps over string bodies with regular expressions; the elements themselves are decoded
    later, by the validator, so a malformed element becomes one rejected record.
    """

    def __init__(
        self, name: str, offset: int, line_breaks: int, limit: int, out: _Pending, *, resumed: bool
    ) -> None:
        self.name = name
        self.limit = limit
        self.out = out
        self.state = _ArrayState.AFTER_ELEMENT if resumed else _ArrayState.BEFORE_ARRAY
        self.buffer = b""
        self.buffer_offset = offset  # stream position of buffer[0]
        self.pos = 0  # scan position in buffer
        self.counted_to = offset  # stream position up to which line breaks are counted
        self.line_breaks = line_breaks
        self.depth = 0
        self.in_string = False
        self.element_start = 0  # in buffer
        self.element_line = 0
        self.oversize_prefix: bytes | None = None

    def line_breaks_before(self, position: int) -> int:
        """Line breaks before stream ``position`` (never before a position already asked)."""
        base = self.buffer_offset
        self.line_breaks += self.buffer.count(b"\n", self.counted_to - base, position - base)
        self.counted_to = position
        return self.line_breaks

    def feed(self, block: bytes) -> None:
        keep_from = self.element_start if self.state is _ArrayState.IN_ELEMENT else self.pos
        if keep_from:
            self.line_breaks_before(self.buffer_offset + keep_from)
            self.buffer = self.buffer[keep_from:]
            self.buffer_offset += keep_from
            self.pos -= keep_from
            self.element_start -= keep_from
        self.buffer = self.buffer + block if self.buffer else block
        self._scan()
        if (
            self.state is _ArrayState.IN_ELEMENT
            and self.oversize_prefix is None
            and len(self.buffer) - self.element_start > self.limit
        ):
            # Keep scanning the element's structure, but stop holding its bytes.
            self.oversize_prefix = self.buffer[
                self.element_start : self.element_start + _problem_prefix_bytes(self.limit)
            ]
        if self.oversize_prefix is not None and self.state is _ArrayState.IN_ELEMENT:
            self.element_start = self.pos

    def finish(self) -> None:
        if self.state in (_ArrayState.BEFORE_ARRAY, _ArrayState.AFTER_ARRAY):
            return
        line = self.line_breaks_before(self.buffer_offset + len(self.buffer)) + 1
        raise InputError(
            f"input {self.name}: the JSON array ends early at line {line} (no closing ']'; "
            "file truncated?); fix or re-create the file"
        )

    def _scan(self) -> None:
        patterns = _array_patterns()
        buffer = self.buffer
        size = len(buffer)
        pos = self.pos
        state = self.state
        depth = self.depth
        while pos < size:
            if state is _ArrayState.IN_ELEMENT:
                if self.in_string:
                    special = patterns.string_special.search(buffer, pos)
                    if special is None:
                        pos = size
                        break
                    at = special.start()
                    if buffer[at] == _QUOTE:
                        self.in_string = False
                        pos = at + 1
                    elif at + 1 < size:
                        pos = at + 2
                    else:
                        pos = at  # the escaped byte is in the next block
                        break
                    continue
                token = patterns.json_token.search(buffer, pos)
                if token is None:
                    pos = size
                    break
                at = token.start()
                pos = token.end()
                char = buffer[at]
                if char == _QUOTE:
                    if pos - at == 1:
                        self.in_string = True  # the string goes on past this block
                elif char in _OPENERS:
                    depth += 1
                elif depth:
                    if char != _COMMA:
                        depth -= 1
                elif char in _DELIMITERS:
                    self._end_element(at)
                    state = _ArrayState.NEXT_ELEMENT if char == _COMMA else _ArrayState.AFTER_ARRAY
                # a stray '}' at depth 0 stays inside the element; the validator rejects it
                continue
            found = patterns.not_whitespace.search(buffer, pos)
            if found is None:
                pos = size
                break
            at = found.start()
            char = buffer[at]
            if state is _ArrayState.FIRST_ELEMENT or state is _ArrayState.NEXT_ELEMENT:
                if char == _CLOSE_BRACKET:
                    # ']' right after ',' (a trailing comma) is tolerated
                    state = _ArrayState.AFTER_ARRAY
                    pos = at + 1
                elif char == _COMMA:
                    self._empty_element(at)
                    state = _ArrayState.NEXT_ELEMENT
                    pos = at + 1
                else:
                    self.element_start = at
                    self.element_line = self.line_breaks_before(self.buffer_offset + at) + 1
                    self.oversize_prefix = None
                    end = patterns.element.match(buffer, at).end()  # type: ignore[union-attr]
                    if end < size and buffer[end] in _DELIMITERS:
                        self._end_element(end)
                        if buffer[end] == _COMMA:
                            state = _ArrayState.NEXT_ELEMENT
                        else:
                            state = _ArrayState.AFTER_ARRAY
                        pos = end + 1
                    else:
                        state = _ArrayState.IN_ELEMENT
                        depth = 0
                        self.in_string = False
                        pos = at
            elif state is _ArrayState.BEFORE_ARRAY:
                if char != _OPEN_BRACKET:
                    line = self.line_breaks_before(self.buffer_offset + at) + 1
                    raise InputError(
                        f"input {self.name}: expected a JSON array ('[') at line {line}, found "
                        f"{chr(char)!r}; use --format jsonl for JSON Lines"
                    )
                state = _ArrayState.FIRST_ELEMENT
                pos = at + 1
            elif state is _ArrayState.AFTER_ELEMENT:
                if char == _COMMA:
                    state = _ArrayState.NEXT_ELEMENT
                elif char == _CLOSE_BRACKET:
                    state = _ArrayState.AFTER_ARRAY
                else:
                    line = self.line_breaks_before(self.buffer_offset + at) + 1
                    raise InputError(
                        f"input {self.name}: expected ',' or ']' at line {line} where the "
                        "checkpoint left off; the file changed: restart the load (--restart)"
                    )
                pos = at + 1
            else:  # AFTER_ARRAY
                line = self.line_breaks_before(self.buffer_offset + at) + 1
                raise InputError(
                    f"input {self.name}: unexpected data after the JSON array at line {line}; "
                    "a .json file must hold exactly one array"
                )
        self.pos = pos
        self.state = state
        self.depth = depth

    def _end_element(self, delimiter: int) -> None:
        raw = self.buffer[self.element_start : delimiter].rstrip(_WHITESPACE)
        end = self.buffer_offset + self.element_start + len(raw)
        if self.oversize_prefix is None and len(raw) > self.limit:
            self.oversize_prefix = _problem_prefix(raw, self.limit)
        if self.oversize_prefix is not None:
            reason = f"array element longer than {self.limit:,} bytes (no record can be that large)"
            self.out.problems.append(
                ReaderProblem(self.element_line, end, reason, self.oversize_prefix)
            )
            self.oversize_prefix = None
            return
        self.out.items.append(raw)
        self.out.lines.append(self.element_line)
        self.out.ends.append(end)

    def _empty_element(self, comma: int) -> None:
        end = self.buffer_offset + comma
        line_breaks = self.line_breaks_before(end)
        self.out.problems.append(
            ReaderProblem(line_breaks + 1, end, "empty array element (two commas in a row)", b"")
        )


def _read_json_array(
    source: _Source, start: int, chunk_records: int, limit: int
) -> Iterator[Chunk]:
    # Elements may span lines: count the line breaks before ``start`` rather than trust a hint.
    line_breaks = source.skip_to(start, count_lines=True)
    pending = _Pending(ChunkKind.RAW_JSON, chunk_records)
    offset = start if start > 0 else source.skip_bom()
    scanner = _JsonArrayScanner(source.name, offset, line_breaks, limit, pending, resumed=start > 0)
    while True:
        try:
            block = source.read()
            if not block:
                scanner.finish()
                break
            scanner.feed(block)
        except InputError:
            yield from pending.rest(source.bytes_consumed())
            raise
        if len(pending.items) >= chunk_records:
            yield from pending.full_chunks(source.bytes_consumed())
    yield from pending.rest(source.bytes_consumed())


# ---- Parquet


def _read_parquet(input_file: InputFile, start: int, chunk_records: int) -> Iterator[Chunk]:
    name = input_file.display_name
    if input_file.path is None:
        raise InputError("parquet cannot be read from standard input (-); give the file's path")
    try:
        pyarrow: Any = importlib.import_module("pyarrow")
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise InputError(
            f"input {name} is parquet, which needs pyarrow: install bulkload[parquet]"
        ) from None
    arrow_errors = (OSError, pyarrow.ArrowException)
    try:
        parquet_file = parquet.ParquetFile(input_file.path)
        metadata = parquet_file.metadata
        total_rows: int = metadata.num_rows
        if start > total_rows:
            raise InputError(
                f"input {name}: resume position {start} is past its {total_rows} rows; the file "
                "changed since the checkpoint: restart the load (--restart)"
            )
        # Whole row groups before ``start`` are skipped by their row counts, unread.
        first_group, rows_before = metadata.num_row_groups, 0
        for group in range(metadata.num_row_groups):
            group_rows = metadata.row_group(group).num_rows
            if rows_before + group_rows > start:
                first_group = group
                break
            rows_before += group_rows
        to_skip = start - rows_before
        row = rows_before
        size = input_file.size_bytes or 0
        batches = parquet_file.iter_batches(
            batch_size=chunk_records, row_groups=list(range(first_group, metadata.num_row_groups))
        )
        for batch in batches:
            if to_skip:
                if to_skip >= batch.num_rows:
                    to_skip -= batch.num_rows
                    row += batch.num_rows
                    continue
                batch = batch.slice(to_skip)
                row += to_skip
                to_skip = 0
            items = batch.to_pylist()
            positions = range(row + 1, row + 1 + len(items))
            row += len(items)
            consumed = size * row // total_rows if total_rows else size
            yield Chunk(
                ChunkKind.OBJECTS,
                items,
                list(positions),
                list(positions),
                None,
                consumed,
                [],
            )
    except arrow_errors as exc:
        raise InputError(
            f"input {name} cannot be read as parquet ({exc}); check the file"
        ) from None
