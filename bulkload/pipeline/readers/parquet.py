"""Parquet through pyarrow (optional): batches of rows; the position is the number of rows
consumed, and whole row groups before it are skipped unread.

A chunk's items are an ``ArrowRows``: the batch's rows as dicts (ChunkKind.OBJECTS, what
``check_object`` takes) made only when someone iterates them, so that
``bulkload.contract.arrowfast.ArrowChunkEncoder`` can convert the batch a column at a time
instead (and a chunk pickles as Arrow buffers, not as Python objects)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import Chunk, ChunkKind
from bulkload.pipeline.readers.discovery import InputFile


def read_parquet(input_file: InputFile, start: int, chunk_records: int) -> Iterator[Chunk]:
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
    from bulkload.contract.arrowfast import ArrowRows

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
