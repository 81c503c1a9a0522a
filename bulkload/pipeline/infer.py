"""Schema inference: propose table columns from the first records of an input.

Each sampled non-null value is given a *kind*; a column's type is the narrowest type that
accepts every kind seen in it under the contract's validation rules, so a load into the
proposed table does not reject the sampled records. Columns come in first-seen key order.

Two choices go beyond the sample, on purpose:

- ISO 8601 dates and timestamps (``2024-01-31``, ``2024-01-31T10:00:00``, with a fraction,
  ``Z`` or an offset) make date/timestamp columns whose dateFormat is the shape seen, so the
  values load as they are written; a column mixing shapes stays a string.
- A numeric column gets NUMERIC_HEADROOM_DIGITS more digits before the point than the
  sample's largest value needs: a sample's maximum is rarely the table's, and a precision cut
  to the sample would reject the first larger amount of the full load.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import msgspec

from bulkload.config import CsvDialect
from bulkload.contract.formats import DateFormat, compile_format
from bulkload.contract.matching import FieldRenames
from bulkload.contract.numbers import MAX_DIGITS, PLAIN_DECIMAL, DigitCount, digits_of, int_digits
from bulkload.contract.schema import (
    DEFAULT_DATE_FORMAT,
    DEFAULT_TIMESTAMP_FORMAT,
    MAX_PRECISION,
    MAX_SCALE,
    NAME_PATTERN,
    Column,
    ColumnType,
)
from bulkload.errors import InputError
from bulkload.pipeline.readers import ChunkKind, InputFile, discover_inputs, read_chunks
from bulkload.pipeline.readers.csv import DEFAULT_DIALECT

DEFAULT_SAMPLE_RECORDS = 1000
# Digits before the point beyond the sample's largest value: room for values up to a
# million times larger (9,999.99 in the sample -> numeric(12,2)).
NUMERIC_HEADROOM_DIGITS = 6
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# The texts the contract's CSV conversion accepts for each type.
_CSV_INTEGER = re.compile(r"[+-]?[0-9]+")
_CSV_BOOLEANS = frozenset({"true", "false"})  # 1/0 are taken as integers first


class _FloatText:
    """A JSON number with a fraction or exponent, as written: its digits are counted on the
    text (Decimal would refuse 1e99999999999999999999, a float would round)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_JSON_DECODER = msgspec.json.Decoder(float_hook=_FloatText)


class _Kind(Enum):
    INTEGER = "integer"  # fits int64
    NUMBER = "number"  # any other finite number
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TEXT = "text"
    JSON_ONLY = "json_only"  # object, array, or a number no numeric column can hold


_NUMERIC_KINDS = frozenset({_Kind.INTEGER, _Kind.NUMBER})
_STRING_KINDS = frozenset({_Kind.DATE, _Kind.TIMESTAMP, _Kind.TEXT})


class _ColumnEvidence:
    """What the sample showed of one column."""

    __slots__ = ("date_formats", "digits_after", "digits_before", "from_json", "kinds", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.from_json = False  # JSON values were seen (not only CSV text)
        self.kinds: set[_Kind] = set()
        # The dateFormat of each DATE/TIMESTAMP value seen (None: the type's default).
        self.date_formats: set[str | None] = set()
        self.digits_before = 0
        self.digits_after = 0

    def add_number(self, digits: DigitCount) -> None:
        self.digits_before = max(self.digits_before, digits.before)
        self.digits_after = max(self.digits_after, digits.after)

    def column(self) -> Column:
        kinds = self.kinds
        if not kinds:
            return Column(self.name, ColumnType.STRING)  # all null: nothing says otherwise
        if kinds == {_Kind.INTEGER}:
            return Column(self.name, ColumnType.INTEGER)
        if kinds <= _NUMERIC_KINDS:
            return self._numeric()
        if kinds == {_Kind.BOOLEAN}:
            return Column(self.name, ColumnType.BOOLEAN)
        if kinds in ({_Kind.DATE}, {_Kind.TIMESTAMP}) and len(self.date_formats) == 1:
            kind = ColumnType.DATE if kinds == {_Kind.DATE} else ColumnType.TIMESTAMP
            [date_format] = self.date_formats
            return Column(self.name, kind, date_format=date_format)
        if kinds <= _STRING_KINDS or not self.from_json:
            return Column(self.name, ColumnType.STRING)
        # Objects, arrays, or a mix of JSON types: a string column would reject every
        # non-string value, a JSON column takes them all.
        return Column(self.name, ColumnType.JSON)

    def _numeric(self) -> Column:
        scale = min(self.digits_after, MAX_SCALE)
        precision = min(self.digits_before + NUMERIC_HEADROOM_DIGITS + scale, MAX_PRECISION)
        scale = min(scale, precision)
        return Column(self.name, ColumnType.NUMERIC, precision=precision, scale=scale)


# ISO 8601 as exports write it: a date, then optionally "T" or a space, a time, a fraction
# and "Z" or an offset. Each shape names the dateFormat that reads it.
_ISO_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:(?P<sep>[T ])[0-9]{2}:[0-9]{2}:[0-9]{2}(?P<fraction>\.[0-9]{1,9})?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


class _DateKinds:
    """Tells ISO 8601 date and timestamp strings (real calendar days) from text, and
    which dateFormat reads each."""

    def __init__(self) -> None:
        self._formats: dict[str, DateFormat] = {}

    def of(self, text: str, evidence: _ColumnEvidence) -> _Kind:
        # A cheap gate first: most text is not 10 to 35 characters starting with a digit.
        if not 10 <= len(text) <= 35 or not text[0].isdigit():
            return _Kind.TEXT
        shape = _ISO_DATE_TIME.fullmatch(text)
        if shape is None:
            return _Kind.TEXT
        if shape["sep"] is None:
            kind, date_format = _Kind.DATE, DEFAULT_DATE_FORMAT
        else:
            kind = _Kind.TIMESTAMP
            date_format = (
                "YYYY-MM-DD"
                + ('"T"' if shape["sep"] == "T" else " ")
                + "HH24:MI:SS"
                + (".FF" if shape["fraction"] else "")
                + {None: "", "Z": '"Z"'}.get(shape["zone"], "TZH:TZM")
            )
        compiled = self._formats.get(date_format)
        if compiled is None:
            compiled = self._formats[date_format] = compile_format(date_format)
        if not compiled.matches(text):  # 2024-02-30, 25:00:00...
            return _Kind.TEXT
        default = DEFAULT_DATE_FORMAT if kind is _Kind.DATE else DEFAULT_TIMESTAMP_FORMAT
        evidence.date_formats.add(None if date_format == default else date_format)
        return kind


def _json_kind(value: Any, evidence: _ColumnEvidence, dates: _DateKinds) -> _Kind:
    if isinstance(value, bool):
        return _Kind.BOOLEAN
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            evidence.add_number(int_digits(value))
            return _Kind.INTEGER
        return _number_kind(int_digits(value), evidence)
    if isinstance(value, _FloatText):
        return _number_kind(digits_of(value.text), evidence)
    if isinstance(value, str):
        return dates.of(value, evidence)
    return _Kind.JSON_ONLY


def _number_kind(digits: DigitCount, evidence: _ColumnEvidence) -> _Kind:
    """A number that is not an int64: numeric if its digits fit the contract's 38."""
    if digits.total > MAX_DIGITS:
        return _Kind.JSON_ONLY
    evidence.add_number(digits)
    return _Kind.NUMBER


def _csv_kind(text: str, evidence: _ColumnEvidence, dates: _DateKinds) -> _Kind:
    if _CSV_INTEGER.fullmatch(text) and len(text) <= 20 and INT64_MIN <= int(text) <= INT64_MAX:
        evidence.add_number(digits_of(text))
        return _Kind.INTEGER
    if PLAIN_DECIMAL.fullmatch(text):
        digits = digits_of(text)  # 10.500 has 1 digit after the point, however long
        if digits.total <= MAX_DIGITS:
            evidence.add_number(digits)
            return _Kind.NUMBER
    if text.lower() in _CSV_BOOLEANS:
        return _Kind.BOOLEAN
    return dates.of(text, evidence)


def infer_columns(
    path: Path,
    *,
    sample_records: int | None = DEFAULT_SAMPLE_RECORDS,
    input_format: str | None = None,
    csv_dialect: CsvDialect = DEFAULT_DIALECT,
    recursive: bool = False,
    renames: FieldRenames | None = None,
) -> list[Column]:
    """Propose columns from the first ``sample_records`` records of ``path`` (a file, or a
    directory read in name order), or from all of them when ``sample_records`` is None.
    CSV inputs are read as ``csv_dialect`` says; ``renames`` (--map) names the columns
    as the load will (a field renamed to None is left out). Raises InputError for unreadable
    or empty input and for keys that cannot be column names."""
    inputs = discover_inputs([str(path)], input_format, recursive=recursive)
    if inputs[0].format == "parquet":
        return _renamed(_parquet_columns(inputs[0]), renames)
    evidence: dict[str, _ColumnEvidence] = {}
    dates = _DateKinds()
    sampled = 0
    limit = None if sample_records is None else max(1, sample_records)
    name_for = renames.name_for if renames is not None else None
    for record, from_json in _sample(inputs, limit, csv_dialect):
        sampled += 1
        for field_name, value in record.items():
            name = name_for(field_name) if name_for is not None else field_name
            if name is None:
                continue  # dropped (--map FIELD=)
            column = evidence.get(name)
            if column is None:
                column = evidence[name] = _ColumnEvidence(name)
            if value is None:
                continue
            if from_json:
                column.from_json = True
                column.kinds.add(_json_kind(value, column, dates))
            elif value != "":  # an empty CSV field is null
                column.kinds.add(_csv_kind(value, column, dates))
    if not sampled:
        raise InputError(
            f"input {path} has no records to infer columns from; "
            "give a file with JSON objects or a CSV header and rows"
        )
    _check_names(path, list(evidence))
    return [column.column() for column in evidence.values()]


def _renamed(columns: list[Column], renames: FieldRenames | None) -> list[Column]:
    if renames is None:
        return columns
    out = []
    for column in columns:
        name = renames.name_for(column.name)
        if name is not None:
            out.append(dataclasses.replace(column, name=name))
    return out


def _sample(
    inputs: list[InputFile], limit: int | None, csv_dialect: CsvDialect
) -> Iterator[tuple[dict[str, Any], bool]]:
    """The first ``limit`` records (None: all) as dicts (CSV rows by header); JSON values
    that are not objects, or not JSON, are skipped: a load would reject them anyway."""
    taken = 0
    chunk_records = 2000 if limit is None else min(limit, 2000)
    for input_file in inputs:
        for chunk in read_chunks(input_file, chunk_records=chunk_records, csv_dialect=csv_dialect):
            for item in chunk.items:
                if limit is not None and taken >= limit:
                    return
                if chunk.kind is ChunkKind.CSV_ROWS:
                    header = chunk.header or []
                    yield dict(zip(header, item, strict=False)), False
                    taken += 1
                    continue
                try:
                    value = _JSON_DECODER.decode(item)
                except msgspec.DecodeError:
                    continue
                if isinstance(value, dict):
                    yield value, True
                    taken += 1
            if limit is not None and taken >= limit:
                return


def _check_names(path: Path, names: list[str]) -> None:
    invalid = [name for name in names if not NAME_PATTERN.fullmatch(name)]
    if invalid:
        shown = ", ".join(repr(name) for name in invalid[:20])
        more = f" and {len(invalid) - 20} more" if len(invalid) > 20 else ""
        raise InputError(
            f"input {path}: keys that cannot be column names: {shown}{more}; names need "
            "letters, digits and underscores, not starting with a digit, at most 128; "
            "rename them or write the schema by hand"
        )
    seen: dict[str, str] = {}
    clashes = []
    for name in names:
        previous = seen.setdefault(name.lower(), name)
        if previous != name:
            clashes.append(f"{previous!r}/{name!r}")
    if clashes:
        raise InputError(
            f"input {path}: keys differing only in case cannot both be columns: "
            f"{', '.join(clashes)}; rename them or write the schema by hand"
        )


def _parquet_columns(input_file: InputFile) -> list[Column]:
    """Parquet carries its own schema: map the Arrow types."""
    pyarrow: Any = importlib.import_module("pyarrow")
    parquet: Any = importlib.import_module("pyarrow.parquet")
    types: Any = pyarrow.types
    try:
        schema = parquet.read_schema(input_file.path)
    except (OSError, pyarrow.ArrowException) as exc:
        raise InputError(
            f"input {input_file.display_name} cannot be read as parquet ({exc}); check the file"
        ) from None
    columns = []
    for arrow_field in schema:
        kind = arrow_field.type
        name: str = arrow_field.name
        if types.is_boolean(kind):
            columns.append(Column(name, ColumnType.BOOLEAN))
        elif types.is_integer(kind) and not types.is_uint64(kind):
            columns.append(Column(name, ColumnType.INTEGER))
        elif types.is_uint64(kind):
            columns.append(Column(name, ColumnType.NUMERIC, precision=20, scale=0))
        elif types.is_decimal(kind):
            precision = min(kind.precision, MAX_PRECISION)
            scale = min(kind.scale, MAX_SCALE, precision)
            columns.append(Column(name, ColumnType.NUMERIC, precision=precision, scale=scale))
        elif types.is_floating(kind):
            columns.append(Column(name, ColumnType.NUMERIC))
        elif types.is_date(kind):
            columns.append(Column(name, ColumnType.DATE))
        elif types.is_timestamp(kind):
            columns.append(Column(name, ColumnType.TIMESTAMP))
        elif types.is_nested(kind):
            columns.append(Column(name, ColumnType.JSON))
        else:
            columns.append(Column(name, ColumnType.STRING))
    _check_names(Path(input_file.display_name), [c.name for c in columns])
    return columns
