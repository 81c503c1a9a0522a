"""coerce_value: what --coerce makes of a value its column refused (contract/coerce.py)."""

from __future__ import annotations

import pytest

from bulkload.contract.coerce import Converted, Refusal, coerce_value
from bulkload.contract.formats import compile_format
from bulkload.contract.schema import Column, ColumnType


def coerce(kind: ColumnType, value: object, fmt: str | None = None) -> object:
    column = Column("c", kind, date_format=fmt)
    effective = column.effective_date_format
    outcome = coerce_value(column, compile_format(effective) if effective else None, value)
    if isinstance(outcome, Converted):
        return outcome.value
    return outcome


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ColumnType.INTEGER, " -42 ", -42),
        (ColumnType.INTEGER, "4.2", None),
        (ColumnType.BOOLEAN, "Yes", True),
        (ColumnType.BOOLEAN, "0", False),
        (ColumnType.BOOLEAN, "maybe", None),
        (ColumnType.NUMERIC, "1.25E2", "125"),
        (ColumnType.NUMERIC, "NaN", None),
        (ColumnType.STRING, "x", None),
        (ColumnType.INTEGER, 42.0, None),  # only strings are converted
    ],
)
def test_strings_holding_a_scalar(kind: ColumnType, value: object, expected: object) -> None:
    assert coerce(kind, value) == expected


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2024-01-31T10:00:00Z", None, "2024-01-31 10:00:00"),
        ("2024-01-31t10:00:00+05:30", None, "2024-01-31 04:30:00"),
        ("2024-01-31 10:00", None, "2024-01-31 10:00:00"),
        ("2024-01-31", None, "2024-01-31 00:00:00"),
        ("2024-01-31T10:00:00.123456+01:00", "YYYY-MM-DD HH24:MI:SS.FF TZH:TZM",
         "2024-01-31 10:00:00.123456 +01:00"),
        ("2024-01-31T10:00:00,5Z", 'YYYY-MM-DD"T"HH24:MI:SS.FF', "2024-01-31T10:00:00.500000"),
        ("2024-02-30T10:00:00Z", None, None),  # not a real day: the column's reason stands
    ],
)  # fmt: skip
def test_iso_8601_timestamps_are_rewritten(value: str, fmt: str | None, expected: object) -> None:
    assert coerce(ColumnType.TIMESTAMP, value, fmt) == expected


@pytest.mark.parametrize(
    ("kind", "value", "fmt", "says"),
    [
        (ColumnType.TIMESTAMP, "2024-01-31T10:00:00.5Z", None, "fraction of a second"),
        (ColumnType.TIMESTAMP, "2024-01-31T10:00:00.1234567Z", "YYYY-MM-DD HH24:MI:SS.FF",
         "finer than microseconds"),
        (ColumnType.TIMESTAMP, "2024-01-31T10:00:00", "YYYY-MM-DD HH24:MI:SS TZH:TZM",
         "no UTC offset"),
        (ColumnType.DATE, "2024-01-31T10:00:00Z", None, "time of day"),
        (ColumnType.TIMESTAMP, "2024-01-31T10:00:30Z", "YYYY-MM-DD HH24:MI", "seconds"),
    ],
)  # fmt: skip
def test_what_a_format_cannot_hold_is_refused_never_truncated(
    kind: ColumnType, value: str, fmt: str | None, says: str
) -> None:
    outcome = coerce(kind, value, fmt)
    assert isinstance(outcome, Refusal) and says in outcome.reason


def test_a_midnight_timestamp_fits_a_date_column() -> None:
    assert coerce(ColumnType.DATE, "2024-01-31T00:00:00Z") == "2024-01-31"
    assert coerce(ColumnType.DATE, "2024-01-31", "DD/MM/YYYY") == "31/01/2024"
