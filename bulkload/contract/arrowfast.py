"""Arrow record batches (Parquet) to the JSON bytes to send, a column at a time.

The definition of a Parquet row's bytes is ``RecordValidator.check_object`` on the row as
pyarrow gives it (``batch.to_pylist()``): a dict of Python values, checked field by field
in Python, then orjson. That costs ~30 µs per small record. This module does the same work
on a whole batch with pyarrow.compute kernels where the Arrow type already settles the
rule (an int64 is a valid integer, a bool a boolean, a decimal128(p,s) within the column's
precision and scale a valid numeric, a date32 or a time-zone-less timestamp formats with
strftime), with one C-speed pass per column elsewhere (floats: their ``repr`` joined and
matched once; strings holding dates: the format's ``many`` regex), and with the rule's own
per-value check for anything else (nested values for a JSON column, time-zone-aware
timestamps). Each column becomes one binary array of ``,"key":value`` pieces; one join
per batch makes the records, one ``to_pylist`` their bytes.

A value this path is not sure of makes its row go whole to ``check_object`` (the
definition, which gives the reason or the coerced value). So does every row of a batch
whose names need what only the row path knows (duplicate names, a header matching no
column, names colliding on one column, unknown columns without --ignore-unknown-columns).
tests/test_arrowfast.py holds the two to byte-identical output and identical reasons on
generated tables of every Arrow type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from bulkload.contract.arrowrows import ArrowRows, rows_of, unheld_problems
from bulkload.contract.formats import DateFormat
from bulkload.contract.schema import ColumnType
from bulkload.contract.validate import (
    INT64_MAX,
    RecordInvalid,
    RecordValidator,
    _days_exist,
    _fast_numeric_pattern,
    _Problem,
    _Rule,
)

# A column's pieces: ',"key":value' per row (null: the key is left out), and the rows the
# fast path is not sure of (None: none).
Pieces = tuple[pa.Array, pa.Array | None]
ColumnPath = Callable[[pa.Array], tuple[pa.Array, pa.Array | None]]

_BINARY = pa.binary()
_EMPTY = pa.scalar(b"", _BINARY)
# Numbers given to compute kernels as typed scalars made once: pyarrow turns a Python
# number argument into a scalar by type inference, which tries `import dateutil` on
# every call and, where dateutil is not installed (a failed import is not cached),
# searches sys.path again each time: ~90 µs a call, 0.2 µs a row at 2,000-row batches.
_FLOAT_ZERO = pa.scalar(0.0, pa.float64())
_PLAIN_FLOAT_LOW = pa.scalar(1e-5, pa.float64())
_PLAIN_FLOAT_HIGH = pa.scalar(1e15, pa.float64())
_INT_ZERO = pa.scalar(0, pa.int64())
_THOUSAND = pa.scalar(1000, pa.int64())
_QUOTE = pa.scalar(b'"', _BINARY)
_ARROW_ERRORS = (ValueError, OverflowError, TypeError, pa.ArrowException)
# What a JSON string must escape, orjson's way (its output is the definition's).
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_CONTROL_ESCAPES = [(b"\\", b"\\\\"), (b'"', b'\\"')] + [
    (bytes([code]), orjson.dumps(chr(code))[1:-1]) for code in range(0x20)
]
# Where each token sits in Arrow's text of a timestamp[s]: "YYYY-MM-DD HH:MM:SS".
_ISO_SLICES = {
    "YYYY": (0, 4),
    "MM": (5, 7),
    "DD": (8, 10),
    "HH24": (11, 13),
    "MI": (14, 16),
    "SS": (17, 19),
}


def _outcome(check: Callable[[Any], bytes], row: Any) -> bytes | RecordInvalid:
    try:
        return check(row)
    except RecordInvalid as exc:
        return exc


def _row_outcomes(
    validator: RecordValidator, batch: pa.RecordBatch, kept: set[str] | None = None
) -> list[bytes | RecordInvalid]:
    """check_object of each row as ``arrowrows.rows_of`` reads it. A value Python cannot
    hold (an ``UnheldValue``) refuses its row when its field loads into a column (one of
    ``kept``; None: any field); in a field the load drops it is dropped like any value."""
    rows, unheld = rows_of(batch)
    check = validator.check_object
    if not unheld:
        return [_outcome(check, row) for row in rows]
    return [_unheld_outcome(validator, row, kept) for row in rows]


def _unheld_outcome(
    validator: RecordValidator, row: dict[str, Any], kept: set[str] | None
) -> bytes | RecordInvalid:
    unheld = {key: found for key in row if (found := unheld_problems({key: row[key]}))}
    if not unheld:
        return _outcome(validator.check_object, row)
    # a dropped field's value is never looked at: None is dropped the same way
    row = {key: None if key in unheld else value for key, value in row.items()}
    problems = [
        problem for key, found in unheld.items() if kept is None or key in kept for problem in found
    ]
    if not problems:
        return _outcome(validator.check_object, row)
    # The other fields' problems too, as check_object lists every one; the record is
    # refused whatever they hold, so what that check counted (coerced records, dropped
    # fields) is put back.
    coerced, dropped = validator.records_coerced, validator.dropped_fields.copy()
    rest = _outcome(validator.check_object, row)
    validator.records_coerced = coerced
    validator.dropped_fields.clear()
    validator.dropped_fields.update(dropped)
    if isinstance(rest, RecordInvalid):
        problems += rest.problems
    more = len(problems) - 1
    reason = problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
    column = next(key for key in unheld if kept is None or key in kept)
    return RecordInvalid(reason, column, problems)


def _false_where_null(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False) if mask.null_count else mask


def _escaped_strings(column: pa.Array) -> pa.Array:
    """Each string as a JSON string, escaped the way orjson escapes (nulls stay null)."""
    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    data = pc.cast(text, _BINARY)
    if pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        for char, escape in _CONTROL_ESCAPES:
            if pc.any(pc.match_substring(data, char)).as_py():
                data = pc.replace_substring(data, char, escape)
    return pc.binary_join_element_wise(_QUOTE, data, _QUOTE, _EMPTY)


def _as_text(column: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(column, pa.string()), _BINARY)


class _Column:
    """How one Arrow column becomes the JSON text of its values under one column rule."""

    def __init__(self, rule: _Rule, arrow_type: pa.DataType) -> None:
        self.rule = rule
        self.path: ColumnPath = self._choose(rule, arrow_type)

    def _choose(self, rule: _Rule, arrow_type: pa.DataType) -> ColumnPath:
        kind = rule.column.type
        types = pa.types
        if types.is_null(arrow_type):
            return self._per_value
        if types.is_dictionary(arrow_type):
            inner = self._choose(rule, arrow_type.value_type)
            value_type = arrow_type.value_type
            return lambda column: inner(pc.cast(column, value_type))
        is_string = (
            types.is_string(arrow_type)
            or types.is_large_string(arrow_type)
            or getattr(types, "is_string_view", lambda _: False)(arrow_type)
        )
        if kind is ColumnType.STRING and is_string:
            return self._strings
        if kind is ColumnType.BOOLEAN and types.is_boolean(arrow_type):
            return self._texts
        if kind in (ColumnType.INTEGER, ColumnType.NUMERIC) and types.is_integer(arrow_type):
            return self._integers(arrow_type)
        if kind is ColumnType.NUMERIC and types.is_floating(arrow_type):
            return self._floats
        if kind is ColumnType.NUMERIC and types.is_decimal(arrow_type) and arrow_type.scale >= 0:
            return self._decimals(arrow_type)
        if kind is ColumnType.JSON:
            if types.is_boolean(arrow_type) or types.is_integer(arrow_type):
                return self._texts
            if is_string:
                return self._strings
            if types.is_floating(arrow_type):
                return self._floats
            if _nested_json_supported(arrow_type, 0):
                return _nested_json
        if kind in (ColumnType.DATE, ColumnType.TIMESTAMP):
            fmt = rule.date_format
            assert fmt is not None
            if is_string:
                return self._date_texts
            moment = types.is_date32(arrow_type) or (
                types.is_timestamp(arrow_type) and arrow_type.tz is None
            )
            if moment and "TZH:TZM" not in fmt.tokens:
                return self._moments(arrow_type)
        return self._per_value

    # -- the paths ---------------------------------------------------------------------------

    def _per_value(self, column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """The rule's own check of each Python value, each written by orjson as inside the
        record (a value orjson cannot write, or one the rule refuses: its row goes slowly)."""
        try:
            values = column.to_pylist()
        except _ARROW_ERRORS:  # not even a Python value: the row path says what happens
            return pa.nulls(len(column), _BINARY), column.is_valid()
        check = self.rule.check
        pieces: list[bytes | None] = []
        unsure: list[bool] = []
        for value in values:
            if value is None:
                pieces.append(None)
                unsure.append(False)
                continue
            try:
                pieces.append(orjson.dumps({"": check(value)})[4:-1])
                unsure.append(False)
            except (_Problem, TypeError):
                pieces.append(None)
                unsure.append(True)
        return pa.array(pieces, _BINARY), pa.array(unsure, pa.bool_())

    @staticmethod
    def _texts(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """Booleans and integers: Arrow's text of them is orjson's."""
        return _as_text(column), None

    @staticmethod
    def _strings(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        return _escaped_strings(column), None

    def _integers(self, arrow_type: pa.DataType) -> ColumnPath:
        """Any integer is a JSON integer; an integer column's signed 64-bit range, or a
        numeric column's digits before the point, bound the value itself."""
        largest = _largest(arrow_type)
        limits = self.rule.limits
        if self.rule.column.type is ColumnType.INTEGER:
            upper, both_sides = INT64_MAX + 1, False
        elif limits is not None and limits.before is not None:
            upper, both_sides = 10**limits.before, pa.types.is_signed_integer(arrow_type)
        else:
            return self._texts
        if upper > largest:  # then -upper is below the type's smallest value too
            return self._texts
        limit = pa.scalar(upper, arrow_type)

        def integers(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
            out_of_range = pc.greater_equal(column, limit)
            if both_sides:
                out_of_range = pc.or_(out_of_range, pc.less_equal(column, pc.negate(limit)))
            return _as_text(column), _false_where_null(out_of_range)

        return integers

    def _floats(self, column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """Arrow's text of each float where it is orjson's (plain decimal, 1e-5 <= |x| <
        1e15 or zero, ".0" added to a whole number: checked on 140,000 samples, and by
        the differential test), the rule's verdict on it from one RE2 match per column;
        any other column goes through Python (``_floats_in_python``)."""
        wide = column if pa.types.is_float64(column.type) else pc.cast(column, pa.float64())
        magnitude = pc.abs(wide)
        window = pc.or_(
            pc.and_(
                pc.greater_equal(magnitude, _PLAIN_FLOAT_LOW), pc.less(magnitude, _PLAIN_FLOAT_HIGH)
            ),
            pc.equal(magnitude, _FLOAT_ZERO),
        )
        if pc.all(window).as_py() is False:
            return self._floats_in_python(column)
        text = pc.cast(pc.cast(wide, pa.string()), _BINARY)
        if pc.all(pc.match_substring_regex(text, _PLAIN_FLOAT)).as_py() is False:
            return self._floats_in_python(column)
        whole = pc.invert(pc.match_substring(text, b"."))
        if pc.any(whole).as_py():
            text = pc.if_else(
                whole, pc.binary_join_element_wise(text, pa.scalar(b".0", _BINARY), _EMPTY), text
            )
        limits = self.rule.limits
        if limits is not None:
            fits = pc.match_substring_regex(text, _within_limits(limits))
            if pc.all(fits).as_py() is False:
                return self._floats_in_python(column)
        return text, None

    def _floats_in_python(self, column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """orjson's text of each float (one dumps for the column, split at the commas), and
        the rule's verdict: for a numeric column, every repr matched at once by the
        validator's own column pattern; a miss is looked at value by value."""
        values = column.to_pylist()
        present = [value for value in values if value is not None]
        if not all(map(math.isfinite, present)):
            return self._per_value(column)
        limits = self.rule.limits
        if limits is not None:
            texts = "\n".join(map(repr, present)).encode()
            if present and _numeric_pattern(limits).fullmatch(texts) is None:
                return self._per_value(column)
        pieces = orjson.dumps(values)[1:-1].split(b",")
        return pa.array(pieces, _BINARY, mask=column.is_null()), None

    def _decimals(self, arrow_type: pa.DataType) -> ColumnPath:
        """A decimal goes as a JSON string in plain decimal (check_object's choice), zero as
        "0"; when the Arrow precision and scale fit the column's, every value does."""
        limits = self.rule.limits
        assert limits is not None
        whole = arrow_type.precision - arrow_type.scale
        if limits.before is None or limits.after is None:
            fits = arrow_type.precision <= 38
        else:
            fits = whole <= limits.before and arrow_type.scale <= limits.after
        zero = b"0" if arrow_type.scale == 0 else b"0." + b"0" * arrow_type.scale
        plain = limits.plain_within_limits

        def decimals(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
            text = _as_text(column)
            if pc.any(pc.match_substring(text, b"E")).as_py():
                # Arrow writes 0.0000001 as 1E-7 (adjusted exponent below -6): per value
                return self._per_value(column)
            unsure = None
            if not fits:
                # digits counted on the text, exactly as the rule's fast acceptance does
                unsure = pa.array(
                    [
                        t is not None and plain.fullmatch(t.decode()) is None
                        for t in text.to_pylist()
                    ],
                    pa.bool_(),
                )
            text = pc.if_else(
                pc.equal(text, pa.scalar(zero, _BINARY)), pa.scalar(b"0", _BINARY), text
            )
            return pc.binary_join_element_wise(_QUOTE, text, _QUOTE, _EMPTY), unsure

        return decimals

    def _date_texts(self, column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """Strings that must already be in the column's format: the format's ``many`` regex
        over the column joined, then the days above 28 (the validator's own bulk check)."""
        fmt = self.rule.date_format
        assert fmt is not None
        texts = [value for value in pc.cast(column, pa.string()).to_pylist() if value is not None]
        if texts:
            joined = "\n".join(texts)
            if (
                joined.count("\n") != len(texts) - 1
                or fmt.many.fullmatch(joined) is None
                or not _days_exist(texts, joined, fmt)
            ):
                return self._per_value(column)
        return _escaped_strings(column), None

    def _moments(self, arrow_type: pa.DataType) -> ColumnPath:
        """date32 and time-zone-less timestamps: Arrow's ISO text of the whole column
        ("YYYY-MM-DD HH:MM:SS", fixed width for years 1-9999), each token of the format a
        slice of it (strftime costs ~2.6 µs a value here; the cast ~0.2), FF the milli- and
        microseconds (Python's datetime, which the row path formats, holds microseconds)."""
        fmt = self.rule.date_format
        assert fmt is not None
        pieces = _iso_pieces(fmt)
        unit = getattr(arrow_type, "unit", None)
        needs_escape = any(
            not p.is_token and any(c in '"\\' or ord(c) < 0x20 for c in p.text) for p in fmt._pieces
        )

        def moments(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
            if pa.types.is_date32(arrow_type):
                seconds = pc.cast(column, pa.timestamp("s"))
                fraction = None
            else:
                seconds = (
                    column if unit == "s" else pc.floor_temporal(column, unit="second")
                ).cast(pa.timestamp("s"))
                fraction = (
                    None
                    if unit == "s"
                    else pc.add(
                        pc.multiply(pc.millisecond(column), _THOUSAND), pc.microsecond(column)
                    )
                )
            # Python's datetime: years 1-9999, whole microseconds (the row path says the rest)
            unsure = pc.or_(pc.less(seconds, _FIRST_SECOND), pc.greater(seconds, _LAST_SECOND))
            if unit == "ns":
                ns = pc.cast(column, pa.int64())
                remainder = pc.subtract(ns, pc.multiply(pc.divide(ns, _THOUSAND), _THOUSAND))
                unsure = pc.or_(unsure, pc.not_equal(remainder, _INT_ZERO))
            unsure = _false_where_null(unsure)
            if pc.any(unsure).as_py():
                seconds = pc.if_else(unsure, pa.scalar(None, seconds.type), seconds)
            iso = pc.cast(pc.cast(seconds, pa.string()), _BINARY)
            parts: list[Any] = []
            for piece in pieces:
                if piece is None:
                    if fraction is None:
                        parts.append(pa.scalar(b"000000", _BINARY))
                    else:
                        padded = pc.utf8_lpad(pc.cast(fraction, pa.string()), 6, "0")
                        parts.append(pc.cast(padded, _BINARY))
                elif isinstance(piece, bytes):
                    parts.append(pa.scalar(piece, _BINARY))
                elif piece == (0, 19):
                    parts.append(iso)
                else:
                    parts.append(pc.binary_slice(iso, piece[0], piece[1]))
            text = pc.binary_join_element_wise(*parts, _EMPTY) if len(parts) > 1 else parts[0]
            if needs_escape:
                return _escaped_strings(pc.cast(text, pa.string())), unsure
            return pc.binary_join_element_wise(_QUOTE, text, _QUOTE, _EMPTY), unsure

        return moments


_FIRST_SECOND = pa.scalar(datetime(1, 1, 1), pa.timestamp("s"))
_LAST_SECOND = pa.scalar(datetime(9999, 12, 31, 23, 59, 59), pa.timestamp("s"))
_ISO = "YYYY-MM-DD HH:MM:SS"


def _iso_pieces(fmt: DateFormat) -> list[bytes | tuple[int, int] | None]:
    """The format as literals, slices of the ISO text and None for FF; a run of tokens
    and separators as the ISO text has them is one slice ("YYYY-MM-DD" is [0:10])."""
    pieces: list[bytes | tuple[int, int] | None] = []
    for piece in fmt._pieces:
        if piece.text == "FF" and piece.is_token:
            pieces.append(None)
            continue
        if piece.is_token:
            start, stop = _ISO_SLICES[piece.text]
            last = pieces[-1] if pieces else None
            before = pieces[-2] if len(pieces) > 1 else None
            if isinstance(last, tuple) and last[1] == start:
                pieces[-1] = (last[0], stop)
                continue
            if (
                isinstance(last, bytes)
                and isinstance(before, tuple)
                and _ISO[before[1] : start].encode() == last
            ):
                pieces[-2:] = [(before[0], stop)]
                continue
            pieces.append((start, stop))
        else:
            pieces.append(piece.text.encode())
    return pieces


_NULL_TEXT = pa.scalar(b"null", _BINARY)
_MAX_NESTED_DEPTH = 64  # Arrow types this deep are hand-made; the per-value path takes them


def _nested_json_supported(arrow_type: pa.DataType, depth: int) -> bool:
    """Whether ``_nested_json_text`` writes this type exactly as orjson writes pyarrow's
    Python value of it (structs with unique field names, lists, and scalars inside)."""
    types = pa.types
    if depth > _MAX_NESTED_DEPTH:
        return False
    if types.is_struct(arrow_type):
        names = [arrow_type.field(i).name for i in range(arrow_type.num_fields)]
        return (
            bool(names)
            and len(set(names)) == len(names)
            and all(
                _nested_json_supported(arrow_type.field(i).type, depth + 1)
                for i in range(len(names))
            )
        )
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return _nested_json_supported(arrow_type.value_type, depth + 1)
    return depth > 0 and (
        types.is_null(arrow_type)
        or types.is_boolean(arrow_type)
        or types.is_integer(arrow_type)
        or types.is_floating(arrow_type)
        or types.is_string(arrow_type)
        or types.is_large_string(arrow_type)
    )


def _nested_json_text(array: pa.Array) -> pa.Array:
    """orjson's text of each value inside a JSON value (null: JSON null) of a type that
    ``_nested_json_supported`` allows."""
    types = pa.types
    kind = array.type
    if types.is_null(kind):
        return pa.array([b"null"] * len(array), _BINARY)
    if types.is_boolean(kind) or types.is_integer(kind):
        text = _as_text(array)
    elif types.is_floating(kind):
        # inside a container orjson writes NaN and infinities as null, as here
        text = (
            pa.array(orjson.dumps(array.to_pylist())[1:-1].split(b","), _BINARY)
            if len(array)
            else pa.array([], _BINARY)
        )
        return text
    elif types.is_string(kind) or types.is_large_string(kind):
        text = _escaped_strings(array)
    elif types.is_struct(kind):
        parts: list[Any] = []
        for index, child in enumerate(array.flatten()):
            name = orjson.dumps(kind.field(index).name)
            parts.append(pa.scalar((b"{" if index == 0 else b",") + name + b":", _BINARY))
            parts.append(_nested_json_text(child))
        parts.append(pa.scalar(b"}", _BINARY))
        text = pc.binary_join_element_wise(*parts, _EMPTY)
        if array.null_count:
            text = pc.if_else(array.is_valid(), text, pa.scalar(None, _BINARY))
    else:  # list or large list
        offsets = pc.subtract(array.offsets, array.offsets[0])
        inner = _nested_json_text(array.flatten())
        lists_type = pa.large_list(_BINARY) if types.is_large_list(kind) else pa.list_(_BINARY)
        lists = type(array).from_arrays(
            offsets, inner, type=lists_type, mask=array.is_null() if array.null_count else None
        )
        joined = pc.binary_join(lists, pa.scalar(b",", _BINARY))
        text = pc.binary_join_element_wise(
            pa.scalar(b"[", _BINARY), joined, pa.scalar(b"]", _BINARY), _EMPTY
        )
    return pc.fill_null(text, _NULL_TEXT) if text.null_count else text


def _nested_json(column: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """A struct or list for a JSON column: its JSON text built in Arrow (a null struct or
    list leaves the key out, as a None does in check_object)."""
    text = _nested_json_text(column)
    if column.null_count:
        text = pc.if_else(column.is_valid(), text, pa.scalar(None, _BINARY))
    return text, None


def _largest(arrow_type: pa.DataType) -> int:
    width = arrow_type.bit_width
    return int(2**width - 1 if pa.types.is_unsigned_integer(arrow_type) else 2 ** (width - 1) - 1)


_PLAIN_FLOAT = r"^-?[0-9]+(\.[0-9]+)?$"


def _within_limits(limits: Any) -> str:
    """RE2: plain decimal text (as ``_floats`` makes it) whose digits fit the limits;
    without precision, at most 38 characters (so at most 38 digits), like the rule's own
    fast acceptance. Leading zeros of the whole part and trailing zeros of the fraction
    do not count; a text that does not match is looked at in Python."""
    if limits.before is None or limits.after is None:
        return r"^.{1,38}$"
    whole = "0" if not limits.before else f"(0|[1-9][0-9]{{0,{limits.before - 1}}})"
    return rf"^-?{whole}(\.[0-9]{{0,{limits.after}}}0*)?$"


_PATTERNS: dict[Any, Any] = {}


def _numeric_pattern(limits: Any) -> Any:
    pattern = _PATTERNS.get(limits)
    if pattern is None:
        pattern = _PATTERNS[limits] = _fast_numeric_pattern(limits)
    return pattern


class _BatchPlan:
    """What to do with batches of one Arrow schema: the key each field goes under and its
    column path, or None everywhere (``rows_only``) when only the row path knows."""

    def __init__(self, validator: RecordValidator, schema: pa.Schema) -> None:
        self.validator = validator
        self.columns: list[tuple[int, pa.Scalar, _Column]] = []
        self.dropped: list[str] = []
        self.kept: set[str] | None = None  # the fields that load into a column
        keys = _keys(validator, list(schema.names))
        self.rows_only = keys is None
        if keys is None:
            return
        rules = validator._rules_by_name
        for index, key in enumerate(keys):
            if key is None:
                continue
            rule = rules.get(key)
            if rule is None:
                if not validator.ignore_unknown_columns:
                    self.rows_only = True  # every row is refused, with the row path's reason
                    return
                self.dropped.append(key)
                continue
            prefix = pa.scalar(b',"' + key.encode() + b'":', _BINARY)
            self.columns.append((index, prefix, _Column(rule, schema.field(index).type)))
        self.kept = {schema.names[index] for index, _, _ in self.columns}

    def encode(self, batch: pa.RecordBatch) -> list[bytes | RecordInvalid]:
        validator = self.validator
        count = batch.num_rows
        if self.rows_only:
            return _row_outcomes(validator, batch)
        if not count:
            return []
        parts: list[Any] = []
        unsure: pa.Array | None = None
        leading_comma = True
        for index, prefix, column in self.columns:
            values = batch.column(index)
            if values.null_count == count:
                continue
            text, bad = column.path(values)
            if bad is not None:
                unsure = bad if unsure is None else pc.or_(unsure, bad)
            if not parts and not values.null_count:
                # a first field in every row opens the record itself: no comma to take out
                prefix, leading_comma = pa.scalar(b"{" + prefix.as_py()[1:], _BINARY), False
            parts.append(pc.binary_join_element_wise(prefix, text, _EMPTY))
        if leading_comma:
            # A non-null first array: pyarrow 26 drops the rows that are null in every
            # array of a join that skips nulls (a row of no fields is then "{}").
            parts.insert(0, pa.array([b"{"] * count, _BINARY))
        parts.append(pa.scalar(b"}", _BINARY))
        records = pc.binary_join_element_wise(*parts, _EMPTY, null_handling="skip")
        if leading_comma:
            records = pc.replace_substring(records, b"{,", b"{", max_replacements=1)
        out: list[bytes | RecordInvalid] = records.to_pylist()
        slow: list[int] = []
        if unsure is not None and pc.any(unsure).as_py():
            where = pc.indices_nonzero(unsure)
            slow = where.to_pylist()
            try:
                slow_outcomes = _row_outcomes(validator, batch.take(where), self.kept)
            except pa.ArrowNotImplementedError:
                # string and binary views (also inside lists) have no take kernel: each
                # slow row as a slice of its own
                slow_outcomes = [
                    _row_outcomes(validator, batch.slice(at, 1), self.kept)[0] for at in slow
                ]
            for at, outcome in zip(slow, slow_outcomes, strict=True):
                out[at] = outcome
        accepted = count - len(slow)
        if self.dropped and accepted:
            for name in self.dropped:
                validator.dropped_fields[name] += accepted
        return out


def _keys(validator: RecordValidator, names: list[str]) -> list[str | None] | None:
    """The key each field's value goes under in the record check_object judges (None:
    dropped by --map), or None when the batch must take the row path."""
    if len(set(names)) != len(names):
        return None
    rules = validator._rules_by_name
    fields = validator.fields
    remaps = validator._remap_every_record or (
        fields is not None and any(name not in rules for name in names)
    )
    if not remaps or fields is None:
        return list(names)
    plan = fields.plan(names)
    if (names and not plan.matched) or plan.collisions:
        return None
    if plan.renames_nothing:
        return list(names)
    return [
        target if target is not None else (None if name in fields.renames else name)
        for name, target in zip(names, plan.targets, strict=True)
    ]


class ArrowChunkEncoder:
    """``check_object`` of each row of a chunk read from Parquet, a column at a time: per
    row the bytes to send or the RecordInvalid, and the validator's counters (coerced
    records, dropped fields) moved as the row path would move them."""

    def __init__(self, validator: RecordValidator) -> None:
        self.validator = validator
        self._plans: dict[pa.Schema, _BatchPlan] = {}

    def __call__(self, rows: Sequence[Any]) -> list[bytes | RecordInvalid]:
        if not isinstance(rows, ArrowRows):
            return [_outcome(self.validator.check_object, row) for row in rows]
        batch = rows.batch
        plan = self._plans.get(batch.schema)
        if plan is None:
            plan = self._plans[batch.schema] = _BatchPlan(self.validator, batch.schema)
        return plan.encode(batch)


__all__ = ["ArrowChunkEncoder", "ArrowRows"]
