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

The package, by concept: ``discovery`` (inputs and their formats), ``source`` (the
uncompressed byte stream, fingerprints), ``chunks`` (what readers yield), and one reader per
format: ``jsonl``, ``csv``, ``jsonarray``, ``parquet``. This module dispatches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bulkload.config import CsvDialect
from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import (
    DEFAULT_CHUNK_RECORDS,
    DEFAULT_MAX_RECORD_BYTES,
    PROBLEM_RAW_PREFIX_BYTES,
    Chunk,
    ChunkKind,
    ReaderProblem,
)
from bulkload.pipeline.readers.csv import (
    DEFAULT_DIALECT,
    check_csv_header,
    open_csv_source,
    read_csv,
)
from bulkload.pipeline.readers.discovery import (
    EXTENSIONS_HELP,
    FORMATS,
    Compression,
    Discovery,
    Format,
    InputFile,
    SkippedEntry,
    discover,
    discover_inputs,
    display_path,
    parquet_available,
)
from bulkload.pipeline.readers.jsonarray import read_json_array
from bulkload.pipeline.readers.jsonl import read_jsonl
from bulkload.pipeline.readers.parquet import read_parquet
from bulkload.pipeline.readers.replay import read_rejects
from bulkload.pipeline.readers.source import (
    DEFAULT_BUFFER_BYTES,
    ReadingStopped,
    Source,
    fingerprint,
    verify_unchanged,
)

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_CHUNK_RECORDS",
    "DEFAULT_MAX_RECORD_BYTES",
    "EXTENSIONS_HELP",
    "FORMATS",
    "PROBLEM_RAW_PREFIX_BYTES",
    "Chunk",
    "ChunkKind",
    "Compression",
    "Discovery",
    "Format",
    "InputFile",
    "ReaderProblem",
    "ReadingStopped",
    "SkippedEntry",
    "check_csv_headers",
    "discover",
    "discover_inputs",
    "display_path",
    "fingerprint",
    "parquet_available",
    "read_chunks",
    "verify_unchanged",
]


def check_csv_headers(
    inputs: list[InputFile],
    csv_dialect: CsvDialect = DEFAULT_DIALECT,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> None:
    """The header of every CSV file, checked before a load starts (see check_csv_header)."""
    for input_file in inputs:
        check_csv_header(input_file, csv_dialect, max_record_bytes)


def read_chunks(
    input_file: InputFile,
    *,
    start: int = 0,
    start_line: int | None = None,
    chunk_records: int = DEFAULT_CHUNK_RECORDS,
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    csv_dialect: CsvDialect = DEFAULT_DIALECT,
    should_stop: Callable[[], bool] | None = None,
    csv_blocks: bool = False,
) -> Iterator[Chunk]:
    """The records after position ``start``, in chunks of at most ``chunk_records``.

    ``start == Chunk.ends[i]`` resumes after record i; ``start_line`` may then carry
    ``Chunk.lines[i]``, which spares JSONL a pass over the prefix (other formats count
    lines themselves; see the module docstring). Records longer than ``max_record_bytes``
    become problems without being held in memory. ``csv_dialect`` says how CSV inputs
    (and the raw CSV rows of a rejects file) are written. A regular file is read up to the
    size it had at discovery (``InputFile.size_bytes``); while waiting for a stream's data,
    ``should_stop`` is asked now and then, and ReadingStopped raised once it says yes.
    ``csv_blocks``: a CSV file's rows come as raw blocks (``readers.csv.CsvBlock``), parsed
    where they are checked (``chunkcheck``), so that a worker process can do it.
    """
    if start < 0:
        raise InputError(f"input {input_file.display_name}: resume position {start} is negative")
    chunk_records = max(1, chunk_records)
    if input_file.format == "parquet":
        yield from read_parquet(input_file, start, chunk_records)
        return
    if input_file.format == "csv":
        source = open_csv_source(input_file, buffer_bytes, csv_dialect, should_stop)
    else:
        source = Source(input_file, buffer_bytes, should_stop)
    with source:
        try:
            if input_file.format == "jsonl":
                yield from read_jsonl(source, start, start_line, chunk_records, max_record_bytes)
            elif input_file.format == "csv":
                yield from read_csv(
                    input_file,
                    source,
                    start,
                    chunk_records,
                    max_record_bytes,
                    csv_dialect,
                    blocks=csv_blocks,
                )
            elif input_file.format == "rejects":
                yield from read_rejects(
                    source, start, start_line, chunk_records, max_record_bytes, csv_dialect
                )
            else:
                yield from read_json_array(source, start, chunk_records, max_record_bytes)
        except InputError as exc:
            if not source.grew:
                raise
            # Cut at the size it had at start, a file still being written looks truncated.
            raise InputError(
                f"{exc} (it grew while it was loaded: is it still being written? load it once "
                "it is complete)"
            ) from None
