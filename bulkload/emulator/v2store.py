"""SQLite storage of v2 objects: one SQL table per object table, UPSERT by primary key, and
``<table>_failed_rows`` for the rows a request refused (contract v2 section 1).

UPSERT replaces every stored row with the same primary key (delete, then insert, in the
request's transaction); APPEND only inserts, so a repeated APPEND stores its rows twice,
as the contract says the service does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from bulkload.contract.numbers import plain_decimal
from bulkload.contract.v2schema import Operation, V2Object, V2Type
from bulkload.emulator.store import quote_identifier

FAILED_ROWS_SUFFIX = "_failed_rows"

_SQL_TYPES = {
    V2Type.STRING: "TEXT",
    V2Type.INTEGER: "INTEGER",
    V2Type.BOOLEAN: "INTEGER",
    V2Type.FLOAT: "REAL",
    V2Type.NUMERIC: "TEXT",
    V2Type.JSON: "TEXT",
    V2Type.DATE: "TEXT",
    V2Type.TIMESTAMP: "TEXT",
}
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode

SqlValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class FailedRowRecord:
    request_id: str
    row_index: int
    row_text: str
    code: str
    category: str
    column: str | None
    message: str


def _sql_value(kind: V2Type, raw: bytes) -> SqlValue:
    """One accepted JSON value (validated already) as what SQLite keeps; exact for numeric."""
    if raw == b"null":
        return None
    if kind in (V2Type.STRING, V2Type.DATE, V2Type.TIMESTAMP):
        text: str = msgspec.json.decode(raw)
        return text
    if kind is V2Type.INTEGER:
        return int(raw)
    if kind is V2Type.BOOLEAN:
        return 1 if raw == b"true" else 0
    if kind is V2Type.FLOAT:
        return float(raw)
    if kind is V2Type.NUMERIC:
        text = raw.decode()
        # exact, in plain decimal, as v1 stores it (str(Decimal) writes E-notation and
        # fails on a zero with a huge exponent)
        return plain_decimal(text[1:-1] if text[:1] == '"' else text)
    return raw.decode()  # json: as written


def _python_value(kind: V2Type, value: SqlValue) -> Any:
    if value is None:
        return None
    if kind is V2Type.BOOLEAN:
        return bool(value)
    if kind is V2Type.NUMERIC:
        return Decimal(str(value))
    if kind is V2Type.JSON:
        return msgspec.json.decode(str(value))
    return value


class V2Store:
    """The v2 object tables, in the emulator's SQLite database (its own connection)."""

    def __init__(self, path: Path, objects: Sequence[V2Object]) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA synchronous=OFF")
        self._objects = {o.table_name: o for o in objects}
        for obj in objects:
            self._create(obj)

    def _create(self, obj: V2Object) -> None:
        table = quote_identifier(obj.table_name)
        columns = ", ".join(f"{quote_identifier(c.name)} {_SQL_TYPES[c.type]}" for c in obj.columns)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        if obj.primary_keys:
            keys = ", ".join(quote_identifier(k) for k in obj.primary_keys)
            index = quote_identifier(f"{obj.table_name}$pk")
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({keys})")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {quote_identifier(obj.table_name + FAILED_ROWS_SUFFIX)} "
            "(request_id TEXT, row_index INTEGER, row TEXT, code TEXT, category TEXT, "
            "column_name TEXT, message TEXT)"
        )

    def store(
        self,
        obj: V2Object,
        operation: Operation,
        rows: Sequence[bytes],
        failed: Sequence[FailedRowRecord],
    ) -> None:
        """Accepted rows and the failed ones, in one transaction."""
        kinds = [(c.name, c.type) for c in obj.columns]
        params = []
        for raw in rows:
            members = _decode_members(raw)
            params.append(tuple(_sql_value(kind, bytes(members[name])) for name, kind in kinds))
        table = quote_identifier(obj.table_name)
        placeholders = ", ".join("?" for _ in kinds)
        self._db.execute("BEGIN")
        try:
            if operation is Operation.UPSERT and obj.primary_keys:
                positions = [obj.column_names.index(k) for k in obj.primary_keys]
                where = " AND ".join(f"{quote_identifier(k)} IS ?" for k in obj.primary_keys)
                self._db.executemany(
                    f"DELETE FROM {table} WHERE {where}",
                    [tuple(p[i] for i in positions) for p in params],
                )
            self._db.executemany(f"INSERT INTO {table} VALUES ({placeholders})", params)
            if failed:
                self._db.executemany(
                    f"INSERT INTO {quote_identifier(obj.table_name + FAILED_ROWS_SUFFIX)} "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            f.request_id,
                            f.row_index,
                            f.row_text,
                            f.code,
                            f.category,
                            f.column,
                            f.message,
                        )
                        for f in failed
                    ],
                )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def row_count(self, table_name: str) -> int:
        row = self._db.execute(f"SELECT count(*) FROM {quote_identifier(table_name)}").fetchone()
        return int(row[0])

    def rows(self, table_name: str) -> list[dict[str, Any]]:
        """Rows in insertion order, decoded back (booleans, Decimals, parsed JSON)."""
        obj = self._objects.get(table_name)
        if obj is None:
            if table_name.endswith(FAILED_ROWS_SUFFIX):
                return self.failed_rows(table_name[: -len(FAILED_ROWS_SUFFIX)])
            raise KeyError(table_name)
        cursor = self._db.execute(f"SELECT * FROM {quote_identifier(table_name)} ORDER BY rowid")
        return [
            {c.name: _python_value(c.type, v) for c, v in zip(obj.columns, row, strict=True)}
            for row in cursor
        ]

    def failed_rows(self, table_name: str) -> list[dict[str, Any]]:
        cursor = self._db.execute(
            "SELECT request_id, row_index, row, code, category, column_name, message FROM "
            f"{quote_identifier(table_name + FAILED_ROWS_SUFFIX)} ORDER BY rowid"
        )
        names = ("request_id", "row_index", "row", "code", "category", "column", "message")
        return [dict(zip(names, row, strict=True)) for row in cursor]
