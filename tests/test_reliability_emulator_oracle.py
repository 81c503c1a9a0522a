"""The emulator held to the contract's oracle: for generated records, what it accepts is what
the oracle accepts, and what it stores is exactly the value the record carried.

Runs the emulator's own per-record path (``_Table.to_row``: ``check_raw`` then the store's
fast ``row_reader``, falling back to ``decode``) into a real SQLite store, then reads the
rows back. The expected values come from the stdlib JSON parser, with numbers as Decimal.
"""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from test_validate_oracle import oracle_accepts, records

from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.emulator.app import _Table
from bulkload.emulator.store import Store, row_encoder, row_reader


def contract_value(column: Column, value: Any) -> Any:
    """The value a record carries for a column, as the contract says it is stored."""
    if value is None:
        return None
    if column.type is ColumnType.NUMERIC:
        return Decimal(value) if isinstance(value, str) else value
    return value


def expected_row(columns: list[Column], raw: str) -> dict[str, Any]:
    record = json.loads(raw, parse_float=Decimal, parse_int=int)
    return {c.name: contract_value(c, record.get(c.name)) for c in columns}


def comparable(column: Column, value: Any) -> Any:
    # JSON columns: the stdlib parsed floats as Decimal above; compare as the float JSON means
    if column.type is ColumnType.JSON:
        return json.loads(json.dumps(value, default=float))
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_emulator_accepts_and_stores_what_the_contract_says(
    case: tuple[list[Column], str],
) -> None:
    columns, raw = case
    schema = TableSchema("t", tuple(columns))
    validator = RecordValidator(schema)
    table = _Table(schema, validator, row_reader(schema), row_encoder(schema))
    try:
        row = table.to_row(raw.encode())
    except RecordInvalid:
        assert not oracle_accepts(columns, raw), raw
        return
    assert oracle_accepts(columns, raw), raw
    with tempfile.TemporaryDirectory() as directory:
        store = Store(Path(directory) / "e.sqlite")
        try:
            store.create_table(schema)
            store.insert_rows(schema, [row])
            (stored,) = store.rows("t")
        finally:
            store.close()
    expected = expected_row(columns, raw)
    for column in columns:
        got, want = stored[column.name], expected[column.name]
        assert comparable(column, got) == comparable(column, want), (column, raw, got, want)
        if column.type is ColumnType.BOOLEAN and want is not None:
            assert got is want
