"""Schema inference from a sample of records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.contract.validate import RecordValidator
from bulkload.errors import InputError
from bulkload.pipeline.infer import NUMERIC_HEADROOM_DIGITS, infer_columns


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def types_of(columns: list[Column]) -> dict[str, ColumnType]:
    return {c.name: c.type for c in columns}


def test_json_types_in_first_seen_key_order(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        [
            {"id": 1, "paid": True, "day": "2024-02-29", "at": "2024-01-02 03:04:05"},
            {"id": -(2**63), "meta": {"a": [1]}, "tags": [1, 2], "note": "hi", "empty": None},
            {"id": 2**63 - 1, "paid": False, "day": None, "note": "2024-01-01"},
        ],
    )
    columns = infer_columns(path)
    assert [c.name for c in columns] == ["id", "paid", "day", "at", "meta", "tags", "note", "empty"]
    assert types_of(columns) == {
        "id": ColumnType.INTEGER,
        "paid": ColumnType.BOOLEAN,
        "day": ColumnType.DATE,
        "at": ColumnType.TIMESTAMP,
        "meta": ColumnType.JSON,
        "tags": ColumnType.JSON,
        "note": ColumnType.STRING,  # one date-looking value among text stays text
        "empty": ColumnType.STRING,  # all null
    }
    # the proposal is a valid table definition
    TableSchema.from_json({"tableName": "t", "columns": [c.to_json() for c in columns]})


def test_numeric_precision_and_scale_from_the_digits_of_the_values(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text('{"amount": 12.50}\n{"amount": 1234}\n{"amount": -0.125}\n{"small": 0.5}\n')
    columns = {c.name: c for c in infer_columns(path)}
    amount = columns["amount"]
    # 4 digits before the point (1234) + 3 after (0.125), plus the headroom
    headroom = NUMERIC_HEADROOM_DIGITS
    assert (amount.type, amount.precision, amount.scale) == (ColumnType.NUMERIC, 7 + headroom, 3)
    small = columns["small"]
    assert (small.type, small.precision, small.scale) == (ColumnType.NUMERIC, 1 + headroom, 1)


def test_precision_and_scale_are_counted_on_the_value_like_the_validator(tmp_path: Path) -> None:
    """Contract 2: trailing zeros of the fraction and leading zeros don't count, `.5` and
    `5.` are plain decimals; and the proposed table takes every sampled record."""
    jsonl = tmp_path / "n.jsonl"
    records = ['{"a": 10.500, "b": 1e38, "c": 1.5e2, "d": 0.001}', '{"a": 7, "c": 1e-3}']
    jsonl.write_text("\n".join(records) + "\n")
    columns = {c.name: c for c in infer_columns(jsonl)}
    room = NUMERIC_HEADROOM_DIGITS  # added before the point, for values the sample missed
    assert (columns["a"].precision, columns["a"].scale) == (2 + room + 1, 1)  # 10.5 and 7
    assert columns["b"].type is ColumnType.JSON  # 39 digits: no numeric column holds it
    assert (columns["c"].precision, columns["c"].scale) == (3 + room + 3, 3)  # 150 and 0.001
    assert (columns["d"].precision, columns["d"].scale) == (room + 3, 3)
    csv = tmp_path / "n.csv"
    csv.write_text("x,y,z\n.5,007.50,1.000000000000000000000000000000000000000000\n5.,-0.25,2\n")
    columns = {c.name: c for c in infer_columns(csv)}
    assert [(c.type, c.precision, c.scale) for c in columns.values()] == [
        (ColumnType.NUMERIC, 1 + room + 1, 1),  # .5 and 5.
        (ColumnType.NUMERIC, 1 + room + 2, 2),  # 7.5 and -0.25
        (ColumnType.NUMERIC, 1 + room, 0),  # 1 and 2, however many zeros follow the point
    ]
    validator = RecordValidator(TableSchema("t", tuple(infer_columns(jsonl))))
    for record in records:
        validator.check_raw(record.encode())  # raises if the proposal rejects its sample


def test_integer_outside_int64_becomes_numeric(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text('{"n": 9223372036854775808}\n{"n": 1}\n')
    [column] = infer_columns(path)
    assert (column.type, column.precision, column.scale) == (
        ColumnType.NUMERIC,
        19 + NUMERIC_HEADROOM_DIGITS,
        0,
    )


def test_numeric_precision_is_capped_at_38(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_text('{"n": 12345678901234567890123456789.0}\n{"n": 0.123456789012345}\n')
    [column] = infer_columns(path)
    assert column.type is ColumnType.NUMERIC
    assert (column.precision, column.scale) == (38, 15)


def test_mixed_json_types_become_json_because_a_string_column_would_reject_them(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"x": 1}, {"x": "one"}, {"y": True}, {"y": 2}])
    assert types_of(infer_columns(path)) == {"x": ColumnType.JSON, "y": ColumnType.JSON}


def test_invalid_calendar_day_is_not_a_date(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"d": "2023-02-29"}, {"d": "2024-01-01"}])
    assert types_of(infer_columns(path)) == {"d": ColumnType.STRING}


def test_csv_types_from_text(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "id,amount,flag,day,at,note,blank\n"
        "1,1.50,true,2024-01-01,2024-01-01 10:00:00,{},\n"
        "-2,300,FALSE,,2024-01-01 10:00:01,x,\n"
        "3,-0.001,false,2024-12-31,,[1],\n"
    )
    columns = {c.name: c for c in infer_columns(path)}
    assert types_of(list(columns.values())) == {
        "id": ColumnType.INTEGER,
        "amount": ColumnType.NUMERIC,
        "flag": ColumnType.BOOLEAN,
        "day": ColumnType.DATE,
        "at": ColumnType.TIMESTAMP,
        "note": ColumnType.STRING,  # never JSON from CSV
        "blank": ColumnType.STRING,
    }
    assert (columns["amount"].precision, columns["amount"].scale) == (
        6 + NUMERIC_HEADROOM_DIGITS,
        3,
    )


def test_csv_mixed_values_are_strings(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("a,b\n1,true\nx,2\n")
    assert types_of(infer_columns(path)) == {"a": ColumnType.STRING, "b": ColumnType.STRING}


def test_only_the_first_sample_records_are_read(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"a": 1}] * 3 + [{"a": "late", "b": 1}])
    assert types_of(infer_columns(path, sample_records=3)) == {"a": ColumnType.INTEGER}
    assert types_of(infer_columns(path, sample_records=4)) == {
        "a": ColumnType.JSON,
        "b": ColumnType.INTEGER,
    }


def test_json_array_file_and_non_objects_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[1, "x", {"k": 1.5}, not json, {"k": 2}]')
    [column] = infer_columns(path)
    assert (column.name, column.type, column.precision, column.scale) == (
        "k",
        ColumnType.NUMERIC,
        2 + NUMERIC_HEADROOM_DIGITS,
        1,
    )


def test_names_breaking_the_rule_are_listed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "b.jsonl", [{"ok": 1, "1st": 2, "has space": 3}])
    with pytest.raises(InputError, match=r"'1st', 'has space'.*rename"):
        infer_columns(path)


def test_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"Id": 1}, {"id": 2}])
    with pytest.raises(InputError, match="'Id'/'id'"):
        infer_columns(path)


def test_empty_or_missing_input_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match=r"e\.jsonl has no records"):
        infer_columns(tmp_path / "e.jsonl")
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="no records"):
        infer_columns(tmp_path / "h.csv")
    with pytest.raises(InputError, match="does not exist"):
        infer_columns(tmp_path / "missing.jsonl")


def test_parquet_uses_its_own_schema(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from decimal import Decimal

    table = pa.table(
        {
            "id": pa.array([1], pa.int64()),
            "price": pa.array([Decimal("1.25")], pa.decimal128(10, 2)),
            "ratio": pa.array([0.5], pa.float64()),
            "ok": pa.array([True]),
            "name": pa.array(["x"]),
            "day": pa.array([0], pa.date32()),
            "at": pa.array([0], pa.timestamp("s")),
            "tags": pa.array([[1, 2]]),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    columns = infer_columns(path)
    assert [(c.name, c.type, c.precision, c.scale) for c in columns] == [
        ("id", ColumnType.INTEGER, None, None),
        ("price", ColumnType.NUMERIC, 10, 2),
        ("ratio", ColumnType.NUMERIC, None, None),
        ("ok", ColumnType.BOOLEAN, None, None),
        ("name", ColumnType.STRING, None, None),
        ("day", ColumnType.DATE, None, None),
        ("at", ColumnType.TIMESTAMP, None, None),
        ("tags", ColumnType.JSON, None, None),
    ]
