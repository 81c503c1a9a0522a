"""Parquet through pyarrow (optional): batches of rows; the position is the number of rows
consumed, and whole row groups before it are skipped unread.

A chunk's items are an ``ArrowRows``: the batch's rows as dicts (ChunkKind.OBJECTS, what
``check_object`` takes) made only when someone iterates them, so that
``bulkload.contract.arrowfast.ArrowChunkEncoder`` can convert the batch a column at a time
instead (and a chunk pickles as Arrow buffers, not as Python objects)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import Chunk, ChunkKind
from bulkload.pipeline.readers.discovery import InputFile

# Bytes of a column chunk read at a time. pyarrow's default (pre_buffer) reads every
# column chunk of a row group whole before decoding a row: with 1M-row groups of 3 KB
# strings that held 311 MB in Arrow's pool where this holds 26 MB.
READ_BUFFER_BYTES = 1 << 20
# A chunk's size, roughly: rows of large records come fewer to a chunk, so that a chunk of
# 2,000 rows of 900 KB never sits in memory. Estimated from the row groups' uncompressed
# (encoded) sizes, which for small records are far below the decoded ones (21 bytes a row
# for the benchmark's ~260-byte records): only rows encoded in more than 500 bytes come
# fewer than 2,000 to a chunk. A pure function of the file, so the chunks are too.
CHUNK_TARGET_BYTES = 1 << 20
# A batch that decodes to more than this after all is cut in slices of at most this
# (_bounded). Slices of CHUNK_TARGET_BYTES held 3 MB less than these, for 3x the added CPU.
MAX_CHUNK_BYTES = 2 * CHUNK_TARGET_BYTES


# Arrow's own allocator (mimalloc in pyarrow's wheels) keeps the pages of freed batches:
# with the system allocator a load of 200k small records peaked at 119 MB instead of 150,
# for no more CPU (PROFILE.md); 1M records 123-125 MB instead of 151-159.
_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def _import_pyarrow() -> Any:
    """pyarrow, with the system allocator as its default pool when this import is the
    process's first and no one chose a pool (ARROW_DEFAULT_MEMORY_POOL): a program that
    used pyarrow before calling load() keeps its own."""
    if "pyarrow" in sys.modules or _POOL_VARIABLE in os.environ:
        return importlib.import_module("pyarrow")
    # Arrow's C++ side reads the variable once, when its default pool is first asked
    # for (pyarrow's import does): set_memory_pool alone changes only the pool pyarrow's
    # Python calls pass, not the one the Parquet decoder's buffers come from.
    os.environ[_POOL_VARIABLE] = "system"
    try:
        pyarrow: Any = importlib.import_module("pyarrow")
        pyarrow.default_memory_pool()
    finally:
        del os.environ[_POOL_VARIABLE]
    return pyarrow


def read_parquet(input_file: InputFile, start: int, chunk_records: int) -> Iterator[Chunk]:
    name = input_file.display_name
    if input_file.path is None:
        raise InputError("parquet cannot be read from standard input (-); give the file's path")
    try:
        pyarrow = _import_pyarrow()
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise InputError(
            f"input {name} is parquet, which needs pyarrow: install bulkload[parquet]"
        ) from None
    from bulkload.contract.arrowfast import ArrowRows

    arrow_errors = (OSError, pyarrow.ArrowException)
    try:
        parquet_file = parquet.ParquetFile(
            input_file.path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES
        )
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
        groups = list(range(first_group, metadata.num_row_groups))
        if not groups:  # pyarrow 18+ refuses an empty list (a file of no rows, or all read)
            return
        batches = parquet_file.iter_batches(
            batch_size=_batch_rows(metadata, groups, chunk_records), row_groups=groups
        )
        for batch in _bounded(batches):
            if to_skip:
                if to_skip >= batch.num_rows:
                    to_skip -= batch.num_rows
                    row += batch.num_rows
                    continue
                batch = batch.slice(to_skip)
                row += to_skip
                to_skip = 0
            items = ArrowRows(batch)
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


def _bounded(batches: Iterator[Any]) -> Iterator[Any]:
    """Each batch, or where it decoded to more than MAX_CHUNK_BYTES, zero-copy slices of it
    of at most that. The row groups' sizes are the encoded ones: a dictionary-encoded column
    of 3 KB strings that repeat counts ~27 bytes a row there, so its batches came 2,000
    rows (6.5 MB) at a time, and the column-at-a-time encoder made several copies of each.
    A function of the batch alone: the chunks stay a function of the file and the resume
    position, as the batches are."""
    for batch in batches:
        decoded = batch.nbytes
        if decoded <= MAX_CHUNK_BYTES or batch.num_rows < 2:
            yield batch
            continue
        parts = min(batch.num_rows, -(-decoded // MAX_CHUNK_BYTES))
        rows = -(-batch.num_rows // parts)
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _batch_rows(metadata: Any, groups: list[int], chunk_records: int) -> int:
    """``chunk_records``, or fewer where the widest row group's rows are large."""
    widest = 0.0
    for group in groups:
        group_metadata = metadata.row_group(group)
        if group_metadata.num_rows:
            widest = max(widest, group_metadata.total_byte_size / group_metadata.num_rows)
    if widest <= 0:
        return chunk_records
    return max(1, min(chunk_records, int(CHUNK_TARGET_BYTES // widest)))
