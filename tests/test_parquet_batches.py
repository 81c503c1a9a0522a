"""How many rows of a Parquet file come to a chunk: bounded by their decoded bytes.

The bytes a chunk's batch holds decide what a load holds per chunk in flight (the batch,
the column-at-a-time encoder's copies of it, the records it makes). The reader sizes its
batches from the row groups' encoded sizes, which for dictionary-encoded strings are far
below the decoded ones, so it also cuts a batch that decoded to more than
MAX_CHUNK_BYTES; narrow rows still come CHUNK_RECORDS to a chunk (more chunks cost CPU).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from bulkload.pipeline.readers import discover_inputs, read_chunks  # noqa: E402
from bulkload.pipeline.readers.parquet import CHUNK_TARGET_BYTES, MAX_CHUNK_BYTES  # noqa: E402

CHUNK_RECORDS = 2_000
WIDE = 3_000  # characters of each wide string


def _strings(count: int, distinct: int) -> list[str]:
    rng = random.Random(distinct)
    pool = ["".join(rng.choices("abcdefghij klmnop", k=WIDE)) for _ in range(distinct)]
    return [pool[i % distinct] if distinct < count else f"{pool[i]}{i}" for i in range(count)]


def _write(path: Path, notes: list[str], row_group: int) -> Path:
    table = pa.table(
        {"id": pa.array(range(len(notes)), pa.int64()), "note": pa.array(notes, pa.string())}
    )
    pq.write_table(table, path, row_group_size=row_group)
    return path


def _chunks(path: Path, start: int = 0) -> list[tuple[list[int], int, list[int]]]:
    """(ids, decoded bytes, positions) of each chunk."""
    (input_file,) = discover_inputs([str(path)])
    return [
        (chunk.items.batch.column(0).to_pylist(), chunk.items.batch.nbytes, list(chunk.ends))
        for chunk in read_chunks(input_file, start=start, chunk_records=CHUNK_RECORDS)
    ]


def test_repeated_wide_strings_come_in_chunks_of_bounded_bytes(tmp_path: Path) -> None:
    """Dictionary-encoded: the row group's encoded size counts ~30 bytes a row, so the
    reader asks for CHUNK_RECORDS rows, ~6 MB decoded; it cuts them to MAX_CHUNK_BYTES."""
    rows = 6_000
    path = _write(tmp_path / "repeated.parquet", _strings(rows, 20), row_group=3_000)
    metadata = pq.ParquetFile(path).metadata
    encoded = metadata.row_group(0).total_byte_size / metadata.row_group(0).num_rows
    assert encoded < 100  # the estimate alone would take 2,000 rows (~6 MB) at a time
    chunks = _chunks(path)
    assert max(size for _, size, _ in chunks) <= MAX_CHUNK_BYTES
    # every row once, in order, at its position; and not cut finer than needed
    assert [i for ids, _, _ in chunks for i in ids] == list(range(rows))
    assert [p for _, _, ends in chunks for p in ends] == list(range(1, rows + 1))
    assert len(chunks) <= 2 * rows * WIDE // MAX_CHUNK_BYTES


def test_distinct_wide_strings_come_about_a_megabyte_to_a_chunk(tmp_path: Path) -> None:
    rows = 3_000
    path = _write(tmp_path / "distinct.parquet", _strings(rows, rows), row_group=1_000)
    chunks = _chunks(path)
    sizes = [size for _, size, _ in chunks]
    assert max(sizes) <= MAX_CHUNK_BYTES
    assert [i for ids, _, _ in chunks for i in ids] == list(range(rows))
    # about CHUNK_TARGET_BYTES each (the last of the file may be short)
    assert min(sizes[:-1]) >= CHUNK_TARGET_BYTES // 2
    assert len(chunks) <= rows * (WIDE + 20) // CHUNK_TARGET_BYTES + 2


def test_narrow_rows_still_come_chunk_records_to_a_chunk(tmp_path: Path) -> None:
    rows = 5_000
    path = _write(tmp_path / "narrow.parquet", [f"n{i}" for i in range(rows)], row_group=2_500)
    counts = [len(ids) for ids, _, _ in _chunks(path)]
    assert sum(counts) == rows and max(counts) == CHUNK_RECORDS
    assert len(counts) <= 4  # batches may span row groups: 2,000 + 2,000 + 1,000


def test_a_resumed_load_cuts_the_rest_of_a_cut_batch_as_the_first_run_did(
    tmp_path: Path,
) -> None:
    rows = 6_000
    path = _write(tmp_path / "repeated.parquet", _strings(rows, 20), row_group=3_000)
    first = _chunks(path)
    # resume in the middle of the second chunk: the rest of it, then the same chunks
    resume_at = first[1][2][0] + 10
    resumed = _chunks(path, start=resume_at)
    assert resumed[0][0] == first[1][0][11:]
    assert [ids for ids, _, _ in resumed[1:]] == [ids for ids, _, _ in first[2:]]
