"""check_raw_many (the bulk path) must decide exactly as check_raw does, record by record."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validate_oracle import columns, deep_json, value_texts, wide_json

from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

SCHEMA = TableSchema.from_json(
    {
        "tableName": "t",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "ratio", "type": "numeric"},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)


def good(i: int) -> bytes:
    return json.dumps(
        {
            "id": i,
            "amount": 12.5,
            "ratio": "0.25",
            "day": f"2024-01-{1 + i % 31:02d}",
            "seen_at": "2024-03-31 23:59:59",
            "note": "a: b",
            "meta": {"k": [1, {"x": ":"}]},
        },
        separators=(",", ":"),
    ).encode()


def verdicts_one_by_one(validator: RecordValidator, raws: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = []
    for raw in raws:
        try:
            out.append(validator.check_raw(raw))
        except RecordInvalid as exc:
            out.append(exc.reason)
    return out


def verdicts_in_bulk(validator: RecordValidator, raws: list[bytes]) -> list[bytes | str]:
    return [r.reason if isinstance(r, RecordInvalid) else r for r in validator.check_raw_many(raws)]


def test_an_all_valid_list_comes_back_as_itself() -> None:
    raws = [good(i) for i in range(300)]
    assert VALIDATOR.check_raw_many(raws) is raws


def test_one_bad_record_among_many_is_found_and_the_rest_kept() -> None:
    raws = [good(i) for i in range(300)]
    # day 31 of a 30-day month, a duplicate key, a stray BOM and a missing column
    raws[7] = raws[7].replace(b'"day":"2024-01-08"', b'"day":"2024-04-31"')
    raws[100] = raws[100].replace(b'{"id":100,', b'{"id":100,"id":101,')
    raws[150] = b"\xef\xbb\xbf " + raws[150]
    raws[200] = raws[200].replace(b'"ratio":"0.25",', b"")
    result = verdicts_in_bulk(VALIDATOR, raws)
    assert result == verdicts_one_by_one(VALIDATOR, raws)
    assert isinstance(result[7], str) and "calendar" in result[7]
    assert isinstance(result[100], str) and "duplicate key" in result[100]
    assert result[150] == good(150) and result[200] == raws[200]
    assert sum(isinstance(r, str) for r in result) == 2


def test_a_missing_key_cannot_hide_a_duplicate_in_another_record() -> None:
    raws = [good(i) for i in range(20)]
    raws[3] = raws[3].replace(b'"note":"a: b",', b"")  # one key fewer here...
    raws[4] = raws[4].replace(b'{"id":4,', b'{"id":4,"id":5,')  # ...one more there
    result = verdicts_in_bulk(VALIDATOR, raws)
    assert isinstance(result[4], str) and "duplicate key" in result[4]
    assert result == verdicts_one_by_one(VALIDATOR, raws)


@st.composite
def tables_and_records(draw: st.DrawFn) -> tuple[list[Column], list[bytes]]:
    cols = draw(columns())
    raws: list[bytes] = []
    for _ in range(draw(st.integers(1, 40))):
        chosen = draw(st.lists(st.sampled_from(cols), max_size=len(cols) + 1))
        members = [f'"{c.name}":{draw(value_texts(c))}' for c in chosen]
        raws.append(("{" + ",".join(members) + "}").encode())
    return cols, raws


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_and_records())
def test_bulk_and_one_by_one_agree(case: tuple[list[Column], list[bytes]]) -> None:
    cols, raws = case
    validator = RecordValidator(TableSchema("t", tuple(cols)))
    assert verdicts_in_bulk(validator, raws) == verdicts_one_by_one(validator, raws)


@st.composite
def deep_and_wide_records(draw: st.DrawFn) -> list[bytes]:
    """Records whose JSON values nest around the depth limit or hold many members, among
    plain ones: the shapes where a parser's own limits or the colon count could differ."""
    raws: list[bytes] = []
    for _ in range(draw(st.integers(1, 30))):
        value = draw(st.sampled_from(["1", '{"a":":"}']) | deep_json() | wide_json())
        note = draw(st.sampled_from(['"x"', '"a:b"', '"\\u003a"']))
        raws.append(f'{{"note":{note},"meta":{value}}}'.encode())
    return raws


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_and_wide_records())
def test_bulk_and_one_by_one_agree_on_deep_and_wide_values(raws: list[bytes]) -> None:
    validator = RecordValidator(
        TableSchema("t", (Column("note", ColumnType.STRING), Column("meta", ColumnType.JSON)))
    )
    assert verdicts_in_bulk(validator, raws) == verdicts_one_by_one(validator, raws)
