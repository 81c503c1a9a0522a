"""SQLite storage for the emulator: one real SQL table per Peak table, plus the definitions.

Values keep their exactness (numeric as its value in plain decimal, JSON as its text, booleans as
0/1), so ``sqlite3 emulator.db 'select * from orders'`` shows what landed and tests can
compare it with what they sent. Durability is traded for speed (it is an emulator).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from bulkload.contract.numbers import plain_decimal
from bulkload.contract.schema import Column, ColumnType, TableSchema

# '$' cannot appear in a Peak table name, so this can never clash with a user's table.
DEFINITIONS_TABLE = '"peak$tables"'

_SQL_TYPES = {
    ColumnType.STRING: "TEXT",
    ColumnType.BOOLEAN: "INTEGER",
    ColumnType.JSON: "TEXT",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.NUMERIC: "TEXT",
    ColumnType.DATE: "TEXT",
    ColumnType.TIMESTAMP: "TEXT",
}

SqlValue = str | int | float | None
RowEncoder = Callable[[Mapping[str, Any]], tuple[SqlValue, ...]]
RowReader = Callable[[bytes], Sequence[SqlValue]]


class TableExists(Exception):
    pass


class BadPageToken(Exception):
    pass


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _encode_temporal(value: Any) -> str:
    # The validator may hand back the checked text or a parsed date/time object.
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _encode_numeric(value: Any) -> str:
    """The exact value in plain decimal ("1200", never "1.2E+3"; see contract.numbers)."""
    return plain_decimal(repr(value) if isinstance(value, float) else str(value))


def _encode_boolean(value: Any) -> int:
    return 1 if value else 0


_ENCODERS: dict[ColumnType, Callable[[Any], SqlValue] | None] = {
    ColumnType.STRING: None,
    ColumnType.INTEGER: None,
    ColumnType.BOOLEAN: _encode_boolean,
    ColumnType.JSON: _encode_json,
    ColumnType.NUMERIC: _encode_numeric,
    ColumnType.DATE: _encode_temporal,
    ColumnType.TIMESTAMP: _encode_temporal,
}


def row_encoder(schema: TableSchema) -> RowEncoder:
    """Compile ``{column: value}`` -> SQL parameter tuple in the table's column order."""
    names = schema.column_names
    encoders = tuple(_ENCODERS[column.type] for column in schema.columns)
    if all(encoder is None for encoder in encoders):
        return lambda record: tuple(record.get(name) for name in names)
    plan = tuple(zip(names, encoders, strict=True))

    def encode(record: Mapping[str, Any]) -> tuple[SqlValue, ...]:
        values: list[SqlValue] = []
        for name, encoder in plan:
            value = record.get(name)
            if value is not None and encoder is not None:
                value = encoder(value)
            values.append(value)
        return tuple(values)

    return encode


_READ_TYPES: dict[ColumnType, Any] = {
    ColumnType.STRING: str | None,
    ColumnType.BOOLEAN: bool | None,  # sqlite3 binds a bool as the integer 0/1
    ColumnType.INTEGER: int | None,
    ColumnType.DATE: str | None,
    ColumnType.TIMESTAMP: str | None,
    ColumnType.NUMERIC: msgspec.Raw,  # as written, so no digit is lost on the way
    ColumnType.JSON: msgspec.Raw,
}


def _numeric_text(raw: bytes) -> str | None:
    if raw == b"null":
        return None
    text = raw.decode()
    return plain_decimal(text[1:-1] if text[:1] == '"' else text)


def _json_text(raw: bytes) -> str | None:
    return None if raw == b"null" else raw.decode()


def row_reader(schema: TableSchema) -> RowReader:
    """Compile: the JSON text of one record the validator has accepted -> SQL parameters.

    This only reads; deciding validity is the validator's job. It raises
    msgspec.DecodeError for anything it cannot read, and the caller then falls back
    to the validator's own ``decode`` and ``row_encoder``.
    """
    columns = schema.columns
    # Attribute names are positional: column names may be Python keywords.
    record_type = msgspec.defstruct(
        "StoredRecord",
        [(f"c{i}", _READ_TYPES[c.type], None) for i, c in enumerate(columns)],
        rename={f"c{i}": c.name for i, c in enumerate(columns)},
        forbid_unknown_fields=True,
        gc=False,
    )
    decode = msgspec.json.Decoder(record_type).decode
    astuple = msgspec.structs.astuple
    fix_ups = tuple(
        (i, _numeric_text if c.type is ColumnType.NUMERIC else _json_text)
        for i, c in enumerate(columns)
        if c.type in (ColumnType.NUMERIC, ColumnType.JSON)
    )

    def read(raw: bytes) -> Sequence[SqlValue]:
        if not fix_ups:
            return astuple(decode(raw))
        row = list(astuple(decode(raw)))
        for index, fix_up in fix_ups:
            value = row[index]
            if value is not None:
                row[index] = fix_up(bytes(value))
        return row

    return read


def _decode_value(column: Column, value: SqlValue) -> Any:
    if value is None:
        return None
    if column.type is ColumnType.BOOLEAN:
        return bool(value)
    if column.type is ColumnType.JSON:
        return msgspec.json.decode(str(value))
    if column.type is ColumnType.NUMERIC:
        return Decimal(str(value))
    return value


@dataclass(frozen=True, slots=True)
class TablePage:
    tables: list[TableSchema]
    next_token: str | None


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, _, seq = text.partition(":")
        if version != "v1" or not seq.isdigit():
            raise ValueError(text)
        return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadPageToken(token) from exc


def _utc_now_iso() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """One SQLite database; every call runs on the caller's thread (the event loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {DEFINITIONS_TABLE} ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT NOT NULL UNIQUE COLLATE NOCASE, "
            "definition TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        self._insert_sql: dict[str, str] = {}

    def close(self) -> None:
        self._db.close()

    def create_table(self, schema: TableSchema) -> TableSchema:
        """Store the definition and create its SQL table; TableExists if the name is taken.

        Names are unique case-insensitively, as warehouse identifiers fold case.
        """
        stored = TableSchema(name=schema.name, columns=schema.columns, created_at=_utc_now_iso())
        column_sql = ", ".join(
            f"{quote_identifier(c.name)} {_SQL_TYPES[c.type]}" for c in schema.columns
        )
        try:
            self._db.execute("BEGIN")
            self._db.execute(
                f"INSERT INTO {DEFINITIONS_TABLE} (name, definition, created_at) VALUES (?, ?, ?)",
                (schema.name, _encode_json(stored.to_json()), stored.created_at),
            )
            self._db.execute(f"CREATE TABLE {quote_identifier(schema.name)} ({column_sql})")
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            self._db.execute("ROLLBACK")
            raise TableExists(schema.name) from exc
        except sqlite3.OperationalError as exc:
            self._db.execute("ROLLBACK")
            if "already exists" in str(exc):  # a v2 object table (or its failed rows) has it
                raise TableExists(schema.name) from exc
            raise
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return stored

    def get_table(self, name: str) -> TableSchema | None:
        row = self._db.execute(
            f"SELECT definition FROM {DEFINITIONS_TABLE} WHERE name = ? COLLATE BINARY", (name,)
        ).fetchone()
        return None if row is None else TableSchema.from_json(msgspec.json.decode(row[0]))

    def all_tables(self) -> list[TableSchema]:
        rows = self._db.execute(f"SELECT definition FROM {DEFINITIONS_TABLE} ORDER BY seq")
        return [TableSchema.from_json(msgspec.json.decode(r[0])) for r in rows]

    def list_tables(self, *, limit: int, page_token: str | None) -> TablePage:
        """Newest first; the token names the last table shown, so new tables never shift pages."""
        before = _decode_page_token(page_token) if page_token is not None else None
        rows = self._db.execute(
            f"SELECT seq, definition FROM {DEFINITIONS_TABLE} "
            "WHERE ? IS NULL OR seq < ? ORDER BY seq DESC LIMIT ?",
            (before, before, limit + 1),
        ).fetchall()
        page = rows[:limit]
        tables = [TableSchema.from_json(msgspec.json.decode(r[1])) for r in page]
        next_token = _encode_page_token(page[-1][0]) if len(rows) > limit else None
        return TablePage(tables=tables, next_token=next_token)

    def insert_rows(self, schema: TableSchema, rows: Iterable[Sequence[SqlValue]]) -> None:
        """All rows in one transaction: a request is stored whole or not at all."""
        sql = self._insert_sql.get(schema.name)
        if sql is None:
            placeholders = ", ".join("?" for _ in schema.columns)
            sql = f"INSERT INTO {quote_identifier(schema.name)} VALUES ({placeholders})"
            self._insert_sql[schema.name] = sql
        self._db.execute("BEGIN")
        try:
            self._db.executemany(sql, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def row_count(self, table: str) -> int:
        row = self._db.execute(f"SELECT count(*) FROM {quote_identifier(table)}").fetchone()
        return int(row[0])

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Rows in insertion order, decoded back: booleans, Decimals, parsed JSON."""
        schema = self.get_table(table)
        if schema is None:
            raise KeyError(table)
        cursor = self._db.execute(f"SELECT * FROM {quote_identifier(table)} ORDER BY rowid")
        return [
            {c.name: _decode_value(c, v) for c, v in zip(schema.columns, row, strict=True)}
            for row in cursor
        ]
