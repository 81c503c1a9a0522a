"""Table definitions: column types, names, precision/scale, and the definition checks.

A definition is checked against every rule at once, so a user fixing a schema file sees
all of its problems in one run, not one per attempt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bulkload.errors import SchemaDefinitionError

# Table and column names, matched whole with fullmatch: "$" alone would also take "v\n".
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
NAME_RULE = f"^{NAME_PATTERN.pattern}$"  # as the contract writes it
MAX_PRECISION = 38
MAX_SCALE = 37

MAX_RECORDS_PER_REQUEST = 500
MAX_BODY_BYTES = 1_000_000
MAX_CONCURRENT_REQUESTS = 30

DEFAULT_DATE_FORMAT = "YYYY-MM-DD"
DEFAULT_TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS"


class ColumnType(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    JSON = "JSON"
    INTEGER = "integer"
    NUMERIC = "numeric"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @classmethod
    def parse(cls, text: str) -> ColumnType | None:
        """Type names are matched case-insensitively (contract 2)."""
        return _TYPES_BY_LOWER.get(text.lower()) if isinstance(text, str) else None


_TYPES_BY_LOWER = {t.value.lower(): t for t in ColumnType}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    precision: int | None = None
    scale: int | None = None
    date_format: str | None = None

    @property
    def effective_date_format(self) -> str | None:
        if self.type is ColumnType.DATE:
            return self.date_format or DEFAULT_DATE_FORMAT
        if self.type is ColumnType.TIMESTAMP:
            return self.date_format or DEFAULT_TIMESTAMP_FORMAT
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type.value}
        if self.precision is not None:
            out["precision"] = self.precision
        if self.scale is not None:
            out["scale"] = self.scale
        if self.date_format is not None:
            out["dateFormat"] = self.date_format
        return out


@dataclass(frozen=True, slots=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    created_at: str | None = None

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tableName": self.name,
            "columns": [c.to_json() for c in self.columns],
        }
        if self.created_at is not None:
            out["createdAt"] = self.created_at
        return out

    @classmethod
    def from_json(cls, obj: Any, *, name: str | None = None) -> TableSchema:
        """Parse and check a definition: ``{"tableName", "columns"}`` or a bare columns list.

        ``name`` supplies (or overrides) the table name. Raises SchemaDefinitionError
        listing every problem found.
        """
        problems = definition_problems(obj, name=name)
        if problems:
            raise SchemaDefinitionError("invalid table definition", problems)
        columns_obj = obj if isinstance(obj, list) else obj["columns"]
        table_name = name if name is not None else obj["tableName"]
        created_at = obj.get("createdAt") if isinstance(obj, Mapping) else None
        columns = tuple(_column_from_json(c) for c in columns_obj)
        return cls(name=table_name, columns=columns, created_at=created_at)


def _column_from_json(obj: Mapping[str, Any]) -> Column:
    column_type = ColumnType.parse(obj["type"])
    assert column_type is not None  # definition_problems has checked it
    return Column(
        name=obj["name"],
        type=column_type,
        precision=obj.get("precision"),
        scale=obj.get("scale"),
        date_format=obj.get("dateFormat"),
    )


# What other databases and languages call the contract's types.
_TYPE_ALIASES = {
    "int": ColumnType.INTEGER, "int4": ColumnType.INTEGER, "int8": ColumnType.INTEGER,
    "int32": ColumnType.INTEGER, "int64": ColumnType.INTEGER, "bigint": ColumnType.INTEGER,
    "smallint": ColumnType.INTEGER, "long": ColumnType.INTEGER,
    "bool": ColumnType.BOOLEAN,
    "str": ColumnType.STRING, "text": ColumnType.STRING, "varchar": ColumnType.STRING,
    "char": ColumnType.STRING,
    "decimal": ColumnType.NUMERIC, "number": ColumnType.NUMERIC, "float": ColumnType.NUMERIC,
    "double": ColumnType.NUMERIC, "real": ColumnType.NUMERIC,
    "datetime": ColumnType.TIMESTAMP, "timestamptz": ColumnType.TIMESTAMP,
    "object": ColumnType.JSON, "jsonb": ColumnType.JSON,
}  # fmt: skip


def _type_meant(text: Any) -> ColumnType | None:
    """The contract's type a wrong type name most likely meant (int -> integer)."""
    if not isinstance(text, str):
        return None
    import difflib

    folded = text.strip().lower()
    if folded in _TYPE_ALIASES:
        return _TYPE_ALIASES[folded]
    close = difflib.get_close_matches(folded, list(_TYPES_BY_LOWER), n=1, cutoff=0.6)
    return _TYPES_BY_LOWER[close[0]] if close else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def definition_problems(obj: Any, *, name: str | None = None) -> list[str]:
    """Every way ``obj`` breaks the contract's definition rules; empty when it is valid."""
    from bulkload.contract.formats import format_problems  # formats imports schema

    problems: list[str] = []
    if isinstance(obj, list):
        columns_obj: Any = obj
        table_name = name
    elif isinstance(obj, Mapping):
        columns_obj = obj.get("columns")
        table_name = name if name is not None else obj.get("tableName")
    else:
        return ["a table definition must be a JSON object or a list of columns"]

    if table_name is None:
        problems.append("the table name is missing")
    elif not isinstance(table_name, str) or not NAME_PATTERN.fullmatch(table_name):
        problems.append(
            f"table name {table_name!r} must match {NAME_RULE} "
            "(letters, digits, underscore; not starting with a digit; at most 128)"
        )
    if not isinstance(columns_obj, list) or not columns_obj:
        problems.append("'columns' must be a non-empty list")
        return problems

    seen: dict[str, str] = {}
    for index, col in enumerate(columns_obj):
        where = f"column {index + 1}"
        if not isinstance(col, Mapping):
            problems.append(f"{where}: must be an object with 'name' and 'type'")
            continue
        col_name = col.get("name")
        if not isinstance(col_name, str) or not NAME_PATTERN.fullmatch(col_name):
            problems.append(f"{where}: name {col_name!r} must match {NAME_RULE}")
        else:
            where = f"column {col_name!r}"
            previous = seen.get(col_name.lower())
            if previous is not None:
                problems.append(
                    f"{where}: duplicates column {previous!r} (names are case-insensitive)"
                )
            seen[col_name.lower()] = col_name
        unknown_keys = set(col) - {"name", "type", "precision", "scale", "dateFormat"}
        if unknown_keys:
            problems.append(f"{where}: unknown keys {sorted(unknown_keys)}")
        column_type = ColumnType.parse(col.get("type"))  # type: ignore[arg-type]
        if column_type is None:
            allowed = ", ".join(t.value for t in ColumnType)
            meant = _type_meant(col.get("type"))
            advice = f"; did you mean {meant.value!r}?" if meant is not None else ""
            problems.append(f"{where}: type {col.get('type')!r} is not one of {allowed}{advice}")
        precision, scale = col.get("precision"), col.get("scale")
        if precision is not None or scale is not None:
            if column_type is not None and column_type is not ColumnType.NUMERIC:
                problems.append(f"{where}: precision/scale apply only to numeric columns")
            if precision is not None and (
                not _is_int(precision) or not 1 <= precision <= MAX_PRECISION
            ):
                problems.append(
                    f"{where}: precision {precision!r} must be an integer 1-{MAX_PRECISION}"
                )
            if scale is not None and (not _is_int(scale) or not 0 <= scale <= MAX_SCALE):
                problems.append(f"{where}: scale {scale!r} must be an integer 0-{MAX_SCALE}")
            elif scale is not None and _is_int(precision) and scale > precision:
                problems.append(f"{where}: scale {scale} must not exceed precision {precision}")
        date_format = col.get("dateFormat")
        if date_format is not None:
            if column_type is not None and column_type not in (
                ColumnType.DATE,
                ColumnType.TIMESTAMP,
            ):
                problems.append(f"{where}: dateFormat applies only to date and timestamp columns")
            if not isinstance(date_format, str):
                problems.append(f"{where}: dateFormat must be a string")
            else:
                problems.extend(f"{where}: {p}" for p in format_problems(date_format))
    return problems
