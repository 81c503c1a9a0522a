"""The generator's promises: deterministic, the asked size, every record fits the schema."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import pytest

from benchmarks import datagen

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def check_record(record: dict[str, object]) -> None:
    assert set(record) == set(datagen.COLUMN_NAMES)
    assert isinstance(record["id"], int) and not isinstance(record["id"], bool)
    assert isinstance(record["account"], int) and 0 < record["account"] < 2**63
    amount = record["amount"]
    assert isinstance(amount, int | float)
    whole, _, fraction = f"{abs(amount):.2f}".partition(".")
    assert len(whole) <= 10 and len(fraction) == 2  # numeric(12, 2)
    assert isinstance(record["ratio"], float)
    assert isinstance(record["customer"], str) and isinstance(record["note"], str)
    assert isinstance(record["active"], bool)
    assert isinstance(record["day"], str) and DATE.match(record["day"])
    assert isinstance(record["seen_at"], str) and TIMESTAMP.match(record["seen_at"])
    assert isinstance(record["meta"], dict)


def test_small_records_fit_the_schema_and_carry_multibyte_text(tmp_path: Path) -> None:
    dataset = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=3_000)
    records = list(datagen.iter_records(dataset.path))
    assert len(records) == dataset.records == 3_000
    assert [r["id"] for r in records] == list(range(3_000))
    for record in records:
        check_record(record)
    assert any(any(ord(ch) > 127 for ch in str(r["customer"])) for r in records)
    average = dataset.bytes_on_disk / dataset.records
    assert 200 <= average <= 300


def test_same_request_gives_identical_bytes(tmp_path: Path) -> None:
    first = datagen.generate(tmp_path / "a", kind="mixed", fmt="jsonl", records=5_000)
    second = datagen.generate(tmp_path / "b", kind="mixed", fmt="jsonl", records=5_000)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_mixed_records_have_medium_and_large_ones(tmp_path: Path) -> None:
    dataset = datagen.generate(tmp_path, kind="mixed", fmt="jsonl", records=20_000)
    sizes = [len(line) for line in dataset.path.read_bytes().splitlines()]
    medium = [s for s in sizes if 2_000 <= s <= 61_000]
    large = [s for s in sizes if 200_000 <= s <= 901_000]
    assert len(sizes) == 20_000
    assert len(medium) == 200  # 1%
    assert len(large) == 1
    assert max(sizes) < 1_000_000  # still fits one request
    for line in dataset.path.read_bytes().splitlines()[:50]:
        check_record(json.loads(line))


def test_target_bytes_stops_at_a_record_boundary(tmp_path: Path) -> None:
    dataset = datagen.generate(tmp_path, kind="small", fmt="jsonl", target_bytes=1_000_000)
    data = dataset.path.read_bytes()
    assert 1_000_000 <= len(data) < 1_000_000 + 400
    assert data.endswith(b"\n")
    assert data.count(b"\n") == dataset.records


def test_gzip_holds_the_plain_file(tmp_path: Path) -> None:
    plain = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=2_000)
    packed = datagen.generate(tmp_path, kind="small", fmt="jsonl.gz", records=2_000)
    assert gzip.decompress(packed.path.read_bytes()) == plain.path.read_bytes()
    assert packed.records == plain.records and packed.bytes_on_disk < plain.bytes_on_disk


def test_csv_has_a_header_and_one_row_per_record(tmp_path: Path) -> None:
    dataset = datagen.generate(tmp_path, kind="small", fmt="csv", records=1_000)
    with dataset.path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == datagen.COLUMN_NAMES
    assert len(rows) == 1_001
    assert [int(row[0]) for row in rows[1:]] == list(range(1_000))
    assert all(row[5] in ("true", "false") for row in rows[1:])
    assert all(isinstance(json.loads(row[8]), dict) for row in rows[1:])


def test_an_existing_file_is_reused_not_rewritten(tmp_path: Path) -> None:
    first = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=1_000)
    first.path.write_bytes(first.path.read_bytes())  # same content, new mtime
    stamp = first.path.stat().st_mtime_ns
    again = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=1_000)
    assert again == first
    assert again.path.stat().st_mtime_ns == stamp


def test_a_truncated_file_is_regenerated(tmp_path: Path) -> None:
    first = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=1_000)
    whole = first.path.read_bytes()
    first.path.write_bytes(whole[:100])
    again = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=1_000)
    assert again.path.read_bytes() == whole


def test_the_schema_is_a_valid_table_definition() -> None:
    from bulkload.contract.schema import TableSchema

    schema = TableSchema.from_json(datagen.table_definition())
    assert schema.column_names == datagen.COLUMN_NAMES
    assert {c.type.value for c in schema.columns} == {
        "string",
        "boolean",
        "JSON",
        "integer",
        "numeric",
        "date",
        "timestamp",
    }


def test_size_must_be_given_exactly_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        datagen.generate(tmp_path, records=10, target_bytes=10)


def test_parquet_holds_the_jsonl_records_typed(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = 2 * datagen.PARQUET_ROW_GROUP_ROWS // 1000 + 7  # not a multiple of anything
    jsonl = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=records)
    parquet = datagen.generate(tmp_path, kind="small", fmt="parquet", records=records)
    assert parquet.records == records
    table = pq.read_table(parquet.path)
    assert table.column_names == list(datagen.COLUMN_NAMES)
    assert str(table.schema.field("amount").type) == "decimal128(12, 2)"
    rows = table.to_pylist()
    for row, expected in zip(rows, datagen.iter_records(jsonl.path), strict=True):
        assert row["id"] == expected["id"] and row["meta"] == expected["meta"]
        assert f"{row['amount']:.2f}" == f"{expected['amount']:.2f}"
        assert row["day"].isoformat() == expected["day"]
        assert row["seen_at"].isoformat(sep=" ") == expected["seen_at"]
        assert (row["note"], row["ratio"], row["active"]) == (
            expected["note"],
            expected["ratio"],
            expected["active"],
        )


def test_parquet_is_only_for_small_records_by_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="small"):
        datagen.generate(tmp_path, kind="mixed", fmt="parquet", records=10)
    with pytest.raises(ValueError, match="count"):
        datagen.generate(tmp_path, kind="small", fmt="parquet", target_bytes=10_000)
