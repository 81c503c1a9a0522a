"""Peak v2 (contract v2): solutions, objects and their attributes, read tolerantly.

The v2 schema answers are read the way contract v2 section 3 says the real service may
write them: a solutions list that is a bare array, an object list called ``objects`` or
``tables``, a column type under ``dataType`` or ``type`` (``datetime`` = timestamp, any
case), validations as ``{"type": ...}`` or ``{"name": ...}``. What is read is checked
against the v2 rules at once, so one run names every problem of a schema.

A validation name this module does not know is kept (and shown) but not enforced: the
server is the judge of it, and a client that refused rows by a rule it cannot read would
refuse good rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bulkload.errors import SchemaDefinitionError

V2_MAX_RECORDS_PER_REQUEST = 2000  # a service setting; 500 on most tenants (the default)
V2_DEFAULT_RECORDS_PER_REQUEST = 500
V2_MAX_REQUESTS_PER_S = 50
V2_DEFAULT_DATE_FORMAT = "YYYY-MM-DD"
V2_TIMESTAMP_FORMAT = "YYYY-MM-DD HH:MI:SS"
V2_TIMESTAMP_OFFSET_FORMAT = "YYYY-MM-DD HH:MI:SS ±hh:mm"
MAX_PRECISION = 38
MAX_SCALE = 37


class V2Type(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    FLOAT = "float"
    NUMERIC = "numeric"
    JSON = "json"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @classmethod
    def parse(cls, text: Any) -> V2Type | None:
        """Any case; ``datetime`` is another name for timestamp (contract v2 sections 1, 3)."""
        if not isinstance(text, str):
            return None
        lowered = text.strip().lower()
        if lowered == "datetime":
            return cls.TIMESTAMP
        return _V2_TYPES.get(lowered)


_V2_TYPES = {t.value: t for t in V2Type}


class Operation(StrEnum):
    UPSERT = "UPSERT"
    APPEND = "APPEND"

    @classmethod
    def parse(cls, text: str) -> Operation | None:
        return _OPERATIONS.get(text.strip().upper())


_OPERATIONS = {o.value: o for o in Operation}

# Known validation names, compared case-insensitively; the key is the canonical spelling.
NON_NULL = "nonNull"
MIN_LENGTH = "minLength"
MAX_LENGTH = "maxLength"
TIMESTAMP_FORMAT = "timestampFormat"
KNOWN_VALIDATIONS = {
    name.lower(): name for name in (NON_NULL, MIN_LENGTH, MAX_LENGTH, TIMESTAMP_FORMAT)
}


@dataclass(frozen=True, slots=True)
class Validation:
    """One validation of an attribute, as the schema wrote it. ``known`` says whether the
    client enforces it; an unknown one is left to the server."""

    name: str
    value: Any = None
    format: str | None = None

    @property
    def canonical(self) -> str | None:
        return KNOWN_VALIDATIONS.get(self.name.lower())

    @property
    def known(self) -> bool:
        return self.canonical is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.name}
        if self.value is not None:
            out["value"] = self.value
        if self.format is not None:
            out["format"] = self.format
        return out

    def describe(self) -> str:
        if self.format is not None:
            return f"{self.name} {self.format}"
        if self.value is not None:
            return f"{self.name} {self.value}"
        return self.name


@dataclass(frozen=True, slots=True)
class Attribute:
    """One column of an object."""

    name: str
    type: V2Type
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    validations: tuple[Validation, ...] = ()

    def _validation(self, canonical: str) -> Validation | None:
        return next((v for v in self.validations if v.canonical == canonical), None)

    @property
    def accepts_null(self) -> bool:
        """``null`` is allowed unless ``nullable: false`` or a nonNull validation."""
        return self.nullable and self._validation(NON_NULL) is None

    @property
    def min_length(self) -> int | None:
        found = self._validation(MIN_LENGTH)
        return found.value if found is not None else None

    @property
    def max_length(self) -> int | None:
        found = self._validation(MAX_LENGTH)
        return found.value if found is not None else None

    @property
    def timestamp_format(self) -> str | None:
        """The format of a timestampFormat validation, if the column has one."""
        found = self._validation(TIMESTAMP_FORMAT)
        return found.format if found is not None else None

    @property
    def unknown_validations(self) -> tuple[Validation, ...]:
        return tuple(v for v in self.validations if not v.known)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dataType": self.type.value}
        out["nullable"] = self.nullable
        if self.precision is not None:
            out["precision"] = self.precision
        if self.scale is not None:
            out["scale"] = self.scale
        if self.validations:
            out["validations"] = [v.to_json() for v in self.validations]
        return out


@dataclass(frozen=True, slots=True)
class V2Object:
    """An object of a solution: the table rows are posted to, its keys and attributes."""

    object_name: str
    table_name: str
    columns: tuple[Attribute, ...]
    primary_keys: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Attribute | None:
        return next((c for c in self.columns if c.name == name), None)

    def default_operation(self) -> Operation:
        """UPSERT when the object has a primary key (replays overwrite), else APPEND."""
        return Operation.UPSERT if self.primary_keys else Operation.APPEND

    def to_json(self) -> dict[str, Any]:
        return {
            "objectName": self.object_name,
            "tableName": self.table_name,
            "primaryKeys": list(self.primary_keys),
            "columns": [c.to_json() for c in self.columns],
        }


@dataclass(frozen=True, slots=True)
class Solution:
    solution_name: str
    prefix: str = ""
    suffix: str = ""
    target_schema_name: str | None = None
    table_count: int | None = None

    def table_name(self, object_name: str) -> str:
        return f"{self.prefix}{object_name}{self.suffix}"

    def place(self, obj: V2Object) -> V2Object:
        """The object as this solution serves it: table prefix + objectName + suffix."""
        return V2Object(
            object_name=obj.object_name,
            table_name=self.table_name(obj.object_name),
            columns=obj.columns,
            primary_keys=obj.primary_keys,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "solutionName": self.solution_name,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "targetSchemaName": self.target_schema_name,
            "tableCount": self.table_count,
        }


@dataclass(frozen=True, slots=True)
class SolutionSchema:
    solution_name: str
    objects: tuple[V2Object, ...]

    def find(self, name: str) -> V2Object | None:
        """By objectName or tableName: exactly, else case-insensitively (when unambiguous)."""
        for obj in self.objects:
            if name in (obj.object_name, obj.table_name):
                return obj
        folded = name.casefold()
        matches = [
            obj
            for obj in self.objects
            if folded in (obj.object_name.casefold(), obj.table_name.casefold())
        ]
        return matches[0] if len(matches) == 1 else None

    def to_json(self) -> dict[str, Any]:
        return {"solutionName": self.solution_name, "objects": [o.to_json() for o in self.objects]}


# ---------------------------------------------------------------------------------------------
# Reading answers (and the emulator's --v2-schema file) tolerantly.


def _first(obj: Mapping[str, Any], *keys: str) -> Any:
    return next((obj[k] for k in keys if obj.get(k) is not None), None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_solutions(obj: Any) -> list[Solution]:
    """``{"solutions": [...]}`` or a bare array; entries without a name are skipped."""
    entries = obj
    if isinstance(obj, Mapping):
        entries = _first(obj, "solutions", "Solutions", "items", "data")
    if not isinstance(entries, list):
        raise SchemaDefinitionError("the solutions answer holds no list of solutions")
    solutions: list[Solution] = []
    for entry in entries:
        if isinstance(entry, str):
            solutions.append(Solution(solution_name=entry))
            continue
        if not isinstance(entry, Mapping):
            continue
        name = _first(entry, "solutionName", "name", "solution_name", "SolutionName")
        if not isinstance(name, str) or not name:
            continue
        count = _first(entry, "tableCount", "table_count", "objectCount")
        target = _first(entry, "targetSchemaName", "target_schema_name", "schemaName")
        solutions.append(
            Solution(
                solution_name=name,
                prefix=_text_or_empty(_first(entry, "prefix", "Prefix")),
                suffix=_text_or_empty(_first(entry, "suffix", "Suffix")),
                target_schema_name=target if isinstance(target, str) else None,
                table_count=count if _is_int(count) else None,
            )
        )
    return solutions


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def object_list(obj: Any) -> Any:
    """The list of objects of a schema answer: ``objects`` or ``tables``, or a bare array."""
    if isinstance(obj, Mapping):
        return _first(obj, "objects", "tables", "Objects", "Tables")
    return obj


def parse_schema(obj: Any, *, solution: Solution | str) -> SolutionSchema:
    """A solution's schema answer; SchemaDefinitionError lists every problem found."""
    known = solution if isinstance(solution, Solution) else Solution(solution_name=solution)
    name = known.solution_name
    if isinstance(obj, Mapping):
        answered = _first(obj, "solutionName", "solution_name", "name")
        if isinstance(answered, str) and answered:
            name = answered
    entries = object_list(obj)
    if not isinstance(entries, list):
        raise SchemaDefinitionError(
            f"the schema of solution {name!r} holds no list of objects ('objects' or 'tables')"
        )
    problems: list[str] = []
    objects: list[V2Object] = []
    for index, entry in enumerate(entries):
        parsed = _parse_object(entry, index, known, problems)
        if parsed is not None:
            objects.append(parsed)
    if problems:
        raise SchemaDefinitionError(f"the schema of solution {name!r} is not usable", problems)
    return SolutionSchema(solution_name=name, objects=tuple(objects))


def _parse_object(
    entry: Any, index: int, solution: Solution, problems: list[str]
) -> V2Object | None:
    if not isinstance(entry, Mapping):
        problems.append(f"object {index + 1}: must be a JSON object")
        return None
    object_name = _first(entry, "objectName", "object_name", "name")
    table_name = _first(entry, "tableName", "table_name", "table")
    if not isinstance(object_name, str) and isinstance(table_name, str):
        object_name = table_name
    if not isinstance(object_name, str) or not object_name:
        problems.append(f"object {index + 1}: has no objectName")
        return None
    if not isinstance(table_name, str) or not table_name:
        table_name = solution.table_name(object_name)
    where = f"object {object_name!r}"
    columns_obj = _first(entry, "columns", "attributes", "Columns", "fields")
    if not isinstance(columns_obj, list) or not columns_obj:
        problems.append(f"{where}: 'columns' must be a non-empty list")
        return None
    columns: list[Attribute] = []
    seen: set[str] = set()
    for col_index, col in enumerate(columns_obj):
        attribute = _parse_attribute(col, f"{where} column {col_index + 1}", problems)
        if attribute is None:
            continue
        if attribute.name.casefold() in seen:
            problems.append(f"{where}: column {attribute.name!r} appears twice")
        seen.add(attribute.name.casefold())
        columns.append(attribute)
    keys_obj = _first(entry, "primaryKeys", "primaryKey", "primary_keys", "keys")
    if isinstance(keys_obj, str):
        keys_obj = [keys_obj]
    keys: list[str] = []
    if keys_obj is not None:
        if not isinstance(keys_obj, list) or not all(isinstance(k, str) for k in keys_obj):
            problems.append(f"{where}: primaryKeys must be a list of column names")
        else:
            names = {c.name for c in columns}
            for key in keys_obj:
                if key not in names:
                    problems.append(f"{where}: primary key {key!r} is not one of its columns")
                keys.append(key)
    return V2Object(
        object_name=object_name,
        table_name=table_name,
        columns=tuple(columns),
        primary_keys=tuple(keys),
    )


def _parse_attribute(col: Any, where: str, problems: list[str]) -> Attribute | None:
    if not isinstance(col, Mapping):
        problems.append(f"{where}: must be an object with a name and a type")
        return None
    name = _first(col, "name", "columnName", "attributeName", "Name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: has no name")
        return None
    where = f"{where.rsplit(' column ', 1)[0]} column {name!r}"
    type_text = _first(col, "dataType", "type", "data_type", "Type", "DataType")
    column_type = V2Type.parse(type_text)
    if column_type is None:
        allowed = ", ".join(t.value for t in V2Type)
        problems.append(f"{where}: type {type_text!r} is not one of {allowed} (or datetime)")
        return None
    nullable_obj = col.get("nullable", True)
    nullable = nullable_obj if isinstance(nullable_obj, bool) else True
    precision, scale = col.get("precision"), col.get("scale")
    if column_type is V2Type.NUMERIC:
        if precision is not None and (
            not _is_int(precision) or not 1 <= precision <= MAX_PRECISION
        ):
            problems.append(
                f"{where}: precision {precision!r} must be an integer 1-{MAX_PRECISION}"
            )
        if scale is not None and (not _is_int(scale) or not 0 <= scale <= MAX_SCALE):
            problems.append(f"{where}: scale {scale!r} must be an integer 0-{MAX_SCALE}")
        elif isinstance(scale, int) and isinstance(precision, int) and scale > precision:
            problems.append(f"{where}: scale {scale} must not exceed precision {precision}")
    else:
        precision = scale = None
    validations: list[Validation] = []
    raw_validations = col.get("validations") or []
    if not isinstance(raw_validations, list):
        problems.append(f"{where}: validations must be a list")
        raw_validations = []
    for raw in raw_validations:
        validation = _parse_validation(raw, where, column_type, problems)
        if validation is not None:
            validations.append(validation)
    # A column-level format (as v1 writes it) counts as a timestampFormat validation.
    column_format = _first(col, "format", "dateFormat", "timestampFormat")
    if isinstance(column_format, str) and not any(
        v.canonical == TIMESTAMP_FORMAT for v in validations
    ):
        validations.append(Validation(TIMESTAMP_FORMAT, format=column_format))
        _check_format(column_format, column_type, where, problems)
    return Attribute(
        name=name,
        type=column_type,
        nullable=nullable,
        precision=precision,
        scale=scale,
        validations=tuple(validations),
    )


def _parse_validation(
    raw: Any, where: str, column_type: V2Type, problems: list[str]
) -> Validation | None:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: a validation must be an object with a 'type' or 'name'")
        return None
    name = _first(raw, "type", "name", "validation", "Type", "Name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: a validation has no 'type' or 'name'")
        return None
    value = _first(raw, "value", "length", "limit")
    fmt = _first(raw, "format", "value") if name.lower() == TIMESTAMP_FORMAT.lower() else None
    validation = Validation(name=name, value=value if fmt is None else None, format=fmt)
    canonical = validation.canonical
    if canonical in (MIN_LENGTH, MAX_LENGTH) and (not _is_int(value) or value < 0):
        problems.append(f"{where}: {name} needs a whole number 0 or more, got {value!r}")
        return None
    if canonical == TIMESTAMP_FORMAT:
        if not isinstance(fmt, str):
            problems.append(f"{where}: {name} needs a 'format'")
            return None
        _check_format(fmt, column_type, where, problems)
    return validation


def _check_format(fmt: str, column_type: V2Type, where: str, problems: list[str]) -> None:
    if column_type not in (V2Type.DATE, V2Type.TIMESTAMP):
        problems.append(f"{where}: a format applies only to date and timestamp columns")
        return
    try:
        v1_date_format(fmt)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")


# ---------------------------------------------------------------------------------------------
# v2 date formats, in v1's token language (contract/formats.py does the matching).

# v2 spells the hour HH (00-23) and an offset ±hh:mm; v1 spells them HH24 and TZH:TZM.
_V2_TOKENS = re.compile(r'"[^"]*"|[±+]hh:mm|TZH:TZM|HH24|HH', re.IGNORECASE)


def v1_date_format(fmt: str) -> str:
    """The v1 dateFormat for a v2 format (``YYYY-MM-DD HH:MI:SS ±hh:mm`` ->
    ``YYYY-MM-DD HH24:MI:SS TZH:TZM``); ValueError naming the problem if it is not usable."""
    from bulkload.contract.formats import format_problems  # formats imports schema only

    def token(found: re.Match[str]) -> str:
        text = found.group(0)
        if text.startswith('"'):
            return text
        return "HH24" if text.upper().startswith("HH") else "TZH:TZM"

    translated = _V2_TOKENS.sub(token, fmt)
    problems = format_problems(translated)
    if problems:
        raise ValueError(f"format {fmt!r} is not usable: " + "; ".join(problems))
    return translated


def date_formats_of(attribute: Attribute) -> tuple[str, ...]:
    """The v1 dateFormats a value of this date/timestamp attribute may match (any of them).

    A timestampFormat validation fixes one; without it a timestamp may carry an offset or
    not (both spellings are documented) and a date is ``YYYY-MM-DD``.
    """
    fmt = attribute.timestamp_format
    if fmt is not None:
        return (v1_date_format(fmt),)
    if attribute.type is V2Type.DATE:
        return (V2_DEFAULT_DATE_FORMAT,)
    return (v1_date_format(V2_TIMESTAMP_FORMAT), v1_date_format(V2_TIMESTAMP_OFFSET_FORMAT))


def wrapper_bytes(
    solution_name: str, operation: Operation, *, dry_run: bool
) -> tuple[bytes, bytes]:
    """The bytes before and after the ``data`` array of an ingest body, so the batcher can
    count a whole body exactly: prefix + ``[r1,r2,...]`` + suffix."""
    import orjson  # contract/ is light at import time; only a v2 load gets here

    head = orjson.dumps(
        {"solutionName": solution_name, "operationType": operation.value, "dryRun": dry_run}
    )
    return head[:-1] + b',"data":', b"}"
