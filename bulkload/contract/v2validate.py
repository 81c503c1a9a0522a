"""Row validation for Peak v2 objects, built on the v1 rules of ``contract/validate.py``.

What v2 adds to v1's per-value rules (which are reused as they are: strings, integers,
booleans, numeric precision/scale, JSON, date formats):

- every attribute key must be present in every row: a missing nullable attribute is sent
  as ``null``, a missing non-nullable one is refused here ("missing attribute X, not
  nullable") rather than costing a round trip;
- field names are matched to attributes exactly, else case-insensitively, and sent in
  the schema's spelling (v2 names are upper case; exports are often not);
- nullability (``nullable: false`` or ``nonNull``), ``minLength``/``maxLength`` in code
  points, the ``float`` type, and timestamps in the v2 spelling (``HH`` 00-23, an
  optional ``±hh:mm`` of at most 14 hours);
- a validation the client does not know is the server's to judge: never enforced here.

A row whose keys are already the schema's, all present, is sent as its own bytes; any
other is rebuilt from its values as written (numbers keep every digit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Annotated, Any

import msgspec
import orjson

from bulkload.contract.arrowrows import UnheldRow, first_unheld
from bulkload.contract.formats import DateFormat, compile_format
from bulkload.contract.nesting import SURELY_SHALLOW_RECORD_BYTES, TOO_DEEP, record_too_deep
from bulkload.contract.schema import Column, ColumnType
from bulkload.contract.v2schema import Attribute, V2Object, V2Type, date_formats_of
from bulkload.contract.validate import (
    RecordInvalid,
    _check_boolean,
    _check_integer,
    _check_string,
    _check_syntax,
    _csv_converter,
    _days_exist,
    _dump,
    _fast_numeric_pattern,
    _Int64,
    _json_kind,
    _NumberText,
    _NumericLimits,
    _ObjectPairs,
    _parse_plain,
    _Problem,
    _raise_first,
    _rule_for,
    _show,
    _syntax_problem,
    check_by_halves,
)

_BOM = b"\xef\xbb\xbf"
# Input spellings given a bulk check of their own; beyond, rows are checked one by one.
_MAX_SPELLINGS = 16
_JSON_WHITESPACE = b" \t\r\n"
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_text = msgspec.json.Decoder(str).decode
_decode_any = msgspec.json.Decoder(float_hook=Decimal).decode
_NUMBER_START = frozenset(b"-0123456789")
_CSV_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# TZH:TZM admits +14:59; v2 caps an offset at 14 hours exactly.
_OFFSET_OVER_14H = re.compile(r"[+-]14:(?!00)[0-9]{2}\Z")
_OFFSET_OVER_14H_ANY = re.compile(r"[+-]14:(?!00)[0-9]{2}$", re.MULTILINE)

ValueCheck = Callable[[Any], Any]
_FIRST_BYTE = itemgetter(0)
_LAST_BYTE = itemgetter(-1)
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


def _struct_field_type(attribute: Attribute) -> Any:
    """The msgspec type that decodes a valid value of this attribute (the bulk check):
    null only where allowed, lengths as msgspec constraints (code points), floats finite."""
    kind = attribute.type
    if kind in (V2Type.NUMERIC, V2Type.JSON):
        return msgspec.Raw  # kept as written; null arrives as Raw(b"null")
    if kind is V2Type.STRING:
        low, high = attribute.min_length, attribute.max_length
        base: Any = (
            str
            if low is None and high is None
            else Annotated[str, msgspec.Meta(min_length=low, max_length=high)]
        )
    elif kind is V2Type.INTEGER:
        base = _Int64
    elif kind is V2Type.BOOLEAN:
        base = bool
    elif kind is V2Type.FLOAT:
        base = float  # msgspec refuses strings, booleans and numbers beyond a double
    else:
        base = str  # dates: shapes are checked a whole column at a time
    return base | None if attribute.accepts_null else base


_RAW_NULL = msgspec.Raw(b"null")


class _BulkCheck:
    """Vouches for a whole list of rows at C speed when every one is right (v1's bulk
    approach: one typed msgspec decode per row, one regex per column).

    ``spelling`` maps attribute names to the keys the input uses for them (None: the
    schema's own). A nullable attribute's key may be left out. Rows in the schema's
    spelling with every key are sent as they are; others are re-encoded in the schema's
    spelling with every key (``convert``), values kept as written (numeric, json) copied
    byte for byte.
    """

    def __init__(self, obj: V2Object, spelling: Mapping[str, str] | None = None) -> None:
        attributes = obj.columns
        present = [
            (i, a) for i, a in enumerate(attributes) if spelling is None or a.name in spelling
        ]
        struct = msgspec.defstruct(
            "Row",
            [
                (f"c{i}", _struct_field_type(a), msgspec.UNSET)
                if a.accepts_null
                else (f"c{i}", _struct_field_type(a))
                for i, a in present
            ],
            rename={
                f"c{i}": (a.name if spelling is None else spelling[a.name]) for i, a in present
            },
            forbid_unknown_fields=True,
            kw_only=True,
            gc=False,
        )
        self._decode = msgspec.json.Decoder(struct).decode
        self._as_is = spelling is None  # rows with every key go out as their own bytes
        self._optional = [attrgetter(f"c{i}") for i, a in present if a.accepts_null]
        out_struct = msgspec.defstruct(
            "Out",
            [(f"c{i}", Any) for i in range(len(attributes))],
            rename={f"c{i}": a.name for i, a in enumerate(attributes)},
            gc=False,
        )
        positions = {i for i, _ in present}
        getters = [attrgetter(f"c{i}") if i in positions else None for i in range(len(attributes))]
        encode = msgspec.json.Encoder().encode
        unset = msgspec.UNSET

        def out(row: Any) -> bytes:
            values = [g(row) if g is not None else None for g in getters]
            return encode(out_struct(*[None if v is unset else v for v in values]))

        self._out = out
        self._numeric = []
        self._dates = []
        self._json = []
        self._text = []
        for i, a in present:
            getter = attrgetter(f"c{i}")
            if a.type is V2Type.NUMERIC:
                column = Column(a.name, ColumnType.NUMERIC, a.precision, a.scale)
                pattern = _fast_numeric_pattern(_NumericLimits.of(column)).fullmatch
                self._numeric.append((getter, pattern, a.accepts_null))
            elif a.type in (V2Type.DATE, V2Type.TIMESTAMP):
                fmt = compile_format(date_formats_of(a)[0])  # rows in another one: per row
                self._dates.append((getter, fmt, fmt.text.count(":"), "TZH:TZM" in fmt.tokens))
            elif a.type is V2Type.JSON:
                self._json.append((getter, a.accepts_null))
            elif a.type is V2Type.STRING:
                self._text.append(getter)
        self._width = len(present)
        self._rows: list[Any] = []
        self._complete = False

    def exact(self, raws: Sequence[bytes]) -> bool:
        """Every row valid, in this spelling, with every key (the server's own standard)."""
        return self.vouch(raws) and self._complete

    def convert(self, raws: list[bytes]) -> list[bytes] | None:
        """The bytes to send for every row, when the bulk check vouches for all; else None."""
        if not self.vouch(raws):
            return None
        if self._as_is and self._complete:
            return raws
        return list(map(self._out, self._rows))

    def vouch(self, raws: Sequence[bytes]) -> bool:
        """Whether every row is valid (``convert`` then says what to send)."""
        try:
            if bytes(map(_FIRST_BYTE, raws)).strip(b"{") or bytes(map(_LAST_BYTE, raws)).strip(
                b"}"
            ):
                return False
        except IndexError:
            return False
        # v1's explicit depth limit, before any parser recurses (their limits depend on the
        # stack): the same verdict on every path
        if (
            raws
            and max(map(len, raws)) >= SURELY_SHALLOW_RECORD_BYTES
            and any(map(record_too_deep, raws))
        ):
            return False
        try:
            rows = self._rows = list(map(self._decode, raws))
        except _DECODE_ERRORS:
            return False
        unset = msgspec.UNSET
        missing = sum(list(map(getter, rows)).count(unset) for getter in self._optional)
        self._complete = not missing
        expected_colons = len(raws) * self._width - missing
        for getter, fullmatch, nullable in self._numeric:
            values = [v for v in map(getter, rows) if v is not unset]
            if values and fullmatch(b"\n".join(values)) is None:
                return False
            if not nullable and _RAW_NULL in values:
                return False
        for getter, fmt, colons, with_offset in self._dates:
            texts = [v for v in map(getter, rows) if v is not None and v is not unset]
            if not texts:
                continue
            joined = "\n".join(texts)
            if joined.count("\n") != len(texts) - 1 or fmt.many.fullmatch(joined) is None:
                return False
            if not _days_exist(texts, joined, fmt):
                return False
            if with_offset and _OFFSET_OVER_14H_ANY.search(joined):
                return False
            expected_colons += colons * len(texts)
        for getter, nullable in self._json:
            values = [v for v in map(getter, rows) if v is not unset]
            if not nullable and _RAW_NULL in values:
                return False
            json_text = b"".join(values)
            if not json_text.isascii():
                try:
                    json_text.decode()
                except UnicodeDecodeError:
                    return False
            expected_colons += json_text.count(b":")
        blob = b"".join(raws)
        colons = blob.count(b":")
        if colons != expected_colons:
            for getter in self._text:
                texts = [v for v in map(getter, rows) if v is not None and v is not unset]
                expected_colons += "".join(texts).count(":")
            if colons != expected_colons:
                return False  # more colons than keys and values explain: a key came twice
        return b"\\" not in blob or b"\\u003" not in blob


def _check_float(value: Any) -> Any:
    """``float``: any finite JSON number (contract v2 section 2); never a string."""
    if isinstance(value, _NumberText):
        try:
            finite = math.isfinite(float(value.text))
        except OverflowError:
            finite = False
        if finite:
            return value
        raise _Problem(f"{_show(value)} is not a finite number")
    if isinstance(value, bool):
        raise _Problem(f"expected a number, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if math.isfinite(value) and math.isfinite(float(value)):
            return value if isinstance(value, float) else float(value)
        raise _Problem(f"{value} is not a finite number")
    raise _Problem(f"expected a number, got {_show(value)}")


def _length_check(attribute: Attribute) -> Callable[[str], None] | None:
    low, high = attribute.min_length, attribute.max_length
    if low is None and high is None:
        return None

    def check(text: str) -> None:
        length = len(text)  # code points: Python strings are sequences of them
        if low is not None and length < low:
            raise _Problem(f"{length} characters, minLength is {low}")
        if high is not None and length > high:
            raise _Problem(f"{length} characters, maxLength is {high}")

    return check


def _temporal_check(attribute: Attribute) -> ValueCheck:
    formats: tuple[DateFormat, ...] = tuple(compile_format(f) for f in date_formats_of(attribute))
    what = "date" if attribute.type is V2Type.DATE else "timestamp"
    shown = " or ".join(f.text.replace("HH24", "HH").replace("TZH:TZM", "±hh:mm") for f in formats)
    with_offset = tuple("TZH:TZM" in f.tokens for f in formats)

    # A date or datetime (Parquet's, read by pyarrow) is written in the format, as v1 does;
    # an aware datetime in a format with an offset where there is one, a naive one without.
    plain = next((f for f, offset in zip(formats, with_offset, strict=True) if not offset), None)
    aware = next((f for f, offset in zip(formats, with_offset, strict=True) if offset), None)

    def written(value: date) -> str:
        has_offset = isinstance(value, datetime) and value.utcoffset() is not None
        fmt = (aware if has_offset else plain) or formats[0]
        try:
            text = fmt.format(value)
        except ValueError as exc:
            raise _Problem(f"{value!r} {exc}") from None
        if "TZH:TZM" in fmt.tokens and _OFFSET_OVER_14H.search(text):
            raise _Problem(f"{_show(text)} has an offset of more than 14 hours")
        return text

    def check(value: Any) -> Any:
        if isinstance(value, date):
            return written(value)
        if not isinstance(value, str):
            raise _Problem(f"expected a {what} as a string in format {shown}, got {_show(value)}")
        for fmt, offset in zip(formats, with_offset, strict=True):
            if fmt.matches(value):
                if offset and _OFFSET_OVER_14H.search(value):
                    raise _Problem(f"{_show(value)} has an offset of more than 14 hours")
                return value
        if any(re.fullmatch(fmt.regex, value) for fmt in formats):
            raise _Problem(f"{_show(value)} is not a real calendar {what}")
        raise _Problem(f"expected a {what} in format {shown}, got {_show(value)}")

    return check


def _value_check(attribute: Attribute) -> ValueCheck:
    """The rule for one non-null value: the value to serialize, or _Problem."""
    kind = attribute.type
    if kind is V2Type.STRING:
        lengths = _length_check(attribute)
        if lengths is None:
            return _check_string

        def check_string(value: Any) -> Any:
            text = _check_string(value)
            lengths(text)
            return text

        return check_string
    if kind is V2Type.INTEGER:
        return _check_integer
    if kind is V2Type.BOOLEAN:
        return _check_boolean
    if kind is V2Type.FLOAT:
        return _check_float
    if kind is V2Type.NUMERIC:
        column = Column(attribute.name, ColumnType.NUMERIC, attribute.precision, attribute.scale)
        return _rule_for(column).check
    if kind is V2Type.JSON:
        return _rule_for(Column(attribute.name, ColumnType.JSON)).check
    return _temporal_check(attribute)


def _csv_convert(attribute: Attribute, check: ValueCheck) -> Callable[[str], Any]:
    """One CSV field (non-empty text) -> the value to send, by v1's CSV readings."""
    kind = attribute.type
    if kind is V2Type.FLOAT:

        def convert_float(text: str) -> Any:
            if _CSV_NUMBER.fullmatch(text) is None:
                raise _Problem(f"expected a number, got {_show(text)}")
            return _check_float(float(text))

        return convert_float
    if kind in (V2Type.STRING, V2Type.DATE, V2Type.TIMESTAMP):
        return check  # text is the value; lengths and formats apply to it as is
    v1_type = {
        V2Type.INTEGER: ColumnType.INTEGER,
        V2Type.BOOLEAN: ColumnType.BOOLEAN,
        V2Type.NUMERIC: ColumnType.NUMERIC,
        V2Type.JSON: ColumnType.JSON,
    }[kind]
    column = Column(attribute.name, v1_type, attribute.precision, attribute.scale)
    return _csv_converter(_rule_for(column))


def _raw_value(raw: bytes) -> Any:
    """A raw JSON value as the v1 rules read it: numbers as their text, objects as pairs."""
    first = raw[:1]
    if first == b'"':
        return _decode_text(raw)
    if first and first[0] in _NUMBER_START:
        return _NumberText(raw.decode(), is_integer=not any(c in raw for c in b".eE"))
    if raw == b"true":
        return True
    if raw == b"false":
        return False
    return _parse_plain(raw.decode())


@dataclass(frozen=True, slots=True)
class _AttributeRule:
    attribute: Attribute
    check: ValueCheck
    csv_convert: Callable[[str], Any]
    key_bytes: bytes  # the attribute's name as a JSON string, for rebuilt rows

    @property
    def name(self) -> str:
        return self.attribute.name


def _not_an_object(raw: bytes) -> RecordInvalid:
    """Why msgspec could not read ``raw`` as a JSON object, in v1's words."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        return RecordInvalid(
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}"
        )
    try:
        _check_syntax(raw)
        parsed = _parse_plain(text)
    except RecursionError:
        return RecordInvalid("not valid JSON: nested too deeply")
    except msgspec.DecodeError as exc:
        return RecordInvalid(_syntax_problem(exc, raw))
    except ValueError as exc:
        return RecordInvalid(f"not valid JSON: {exc}")
    if not isinstance(parsed, _ObjectPairs):
        return RecordInvalid(f"not a JSON object (got {_json_kind(parsed)})")
    return RecordInvalid("not a JSON object with string keys")


def _duplicate_keys(raw: bytes) -> list[str]:
    try:
        pairs = _parse_plain(raw.decode())
    except (ValueError, RecursionError):
        return []
    seen: set[str] = set()
    duplicates: list[str] = []
    for key, _ in pairs if isinstance(pairs, _ObjectPairs) else ():
        if key in seen and key not in duplicates:
            duplicates.append(key)
        seen.add(key)
    return duplicates


class V2RecordValidator:
    """Checks and normalizes rows for one v2 object; compile once, call per row.

    Offers what the load pipeline asks of v1's RecordValidator: ``check_raw``,
    ``check_raw_many``, ``check_object``, ``csv_header_problems`` and ``csv_encoder``.
    """

    def __init__(self, obj: V2Object, *, ignore_unknown_columns: bool = False) -> None:
        self.object = obj
        self.ignore_unknown_columns = ignore_unknown_columns
        self._rules = [
            _AttributeRule(
                attribute=a,
                check=(check := _value_check(a)),
                csv_convert=_csv_convert(a, check),
                key_bytes=orjson.dumps(a.name),
            )
            for a in obj.columns
        ]
        self._exact = {rule.name: rule for rule in self._rules}
        self._bulk = _BulkCheck(obj)
        # bulk checks per input spelling (the keys of a chunk's first row, in order)
        self._spellings: dict[tuple[str, ...], _BulkCheck | None] = {}
        self._folded = {rule.name.casefold(): rule for rule in self._rules}

    def _rule_for_key(self, key: str) -> _AttributeRule | None:
        rule = self._exact.get(key)
        return rule if rule is not None else self._folded.get(key.casefold())

    def _unknown_problem(self, unknown: list[str]) -> RecordInvalid:
        noun = "field" if len(unknown) == 1 else "fields"
        names = ", ".join(repr(k) for k in unknown)
        return RecordInvalid(
            f"unknown {noun} {names}: not an attribute of object {self.object.object_name!r} "
            "(fix the input or ignore unknown columns)",
            unknown[0],
        )

    def _match(
        self, keys: Sequence[str], problems: list[RecordInvalid]
    ) -> tuple[list[tuple[_AttributeRule, int]], bool]:
        """(rule, position of its key) for each matched key, and whether any was renamed or
        dropped; problems for unknown keys and for two keys naming one attribute."""
        matched: list[tuple[_AttributeRule, int]] = []
        taken: dict[str, str] = {}
        unknown: list[str] = []
        changed = False
        for position, key in enumerate(keys):
            rule = self._rule_for_key(key)
            if rule is None:
                unknown.append(key)
                changed = True
                continue
            if rule.name != key:
                changed = True
            previous = taken.get(rule.name)
            if previous is not None:
                problems.append(
                    RecordInvalid(
                        f"fields {previous!r} and {key!r} both name attribute {rule.name!r}",
                        rule.name,
                    )
                )
                continue
            taken[rule.name] = key
            matched.append((rule, position))
        if unknown and not self.ignore_unknown_columns:
            problems.insert(0, self._unknown_problem(unknown))
        for rule in self._rules:
            if rule.name not in taken:
                changed = True
                if not rule.attribute.accepts_null:
                    problems.append(
                        RecordInvalid(f"missing attribute {rule.name!r}, not nullable", rule.name)
                    )
        return matched, changed

    @staticmethod
    def _null_problem(rule: _AttributeRule) -> RecordInvalid:
        return RecordInvalid(
            f"column {rule.name!r}: null, but the attribute is not nullable", rule.name
        )

    # -- raw JSON text ------------------------------------------------------------------------

    def check_raw(self, raw: bytes) -> bytes:
        """The bytes to send for one row's JSON text; RecordInvalid names the first problem."""
        if raw[:3] == _BOM:
            raw = raw[3:]
        raw = raw.strip(_JSON_WHITESPACE)
        if record_too_deep(raw):
            raise RecordInvalid(TOO_DEEP)
        try:
            members = _decode_members(raw)
        except (msgspec.DecodeError, RecursionError):
            raise _not_an_object(raw) from None
        values = [bytes(v) for v in members.values()]
        keys = list(members)
        # One colon per key plus those inside keys and values; more means a key came twice
        # (msgspec keeps the last silently). Escaped colons make the count inexact: look closer.
        expected = len(keys) + sum(k.count(":") for k in keys) + sum(v.count(b":") for v in values)
        if raw.count(b":") != expected or b"\\u003" in raw:
            duplicates = _duplicate_keys(raw)
            if duplicates:
                names = ", ".join(repr(k) for k in duplicates)
                raise RecordInvalid(f"duplicate key {names} in one record", duplicates[0])
        problems: list[RecordInvalid] = []
        matched, changed = self._match(keys, problems)
        for rule, position in matched:
            value = values[position]
            if value == b"null":
                if not rule.attribute.accepts_null:
                    problems.append(self._null_problem(rule))
                continue
            try:
                parsed = _raw_value(value)
                if rule.attribute.type is V2Type.JSON:
                    value.decode()  # msgspec does not check UTF-8 inside raw values
                rule.check(parsed)
            except _Problem as exc:
                problems.append(RecordInvalid(f"column {rule.name!r}: {exc}", rule.name))
            except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
                problems.append(RecordInvalid(f"column {rule.name!r}: not valid: {exc}", rule.name))
        _raise_first(problems)
        if not changed:
            return raw
        by_name = {rule.name: values[position] for rule, position in matched}
        return (
            b"{"
            + b",".join(
                rule.key_bytes + b":" + by_name.get(rule.name, b"null") for rule in self._rules
            )
            + b"}"
        )

    def check_raw_many(self, raws: list[bytes]) -> Sequence[bytes | RecordInvalid]:
        """``check_raw`` of each row: ``raws`` itself when every one is sent as it is (the
        bulk check vouches for them); else halves are vouched for, down to single rows."""
        converted = self._bulk.convert(raws)
        if converted is not None:
            return converted
        bulk = self._bulk_for_spelling_of(raws[0]) if raws else None
        if bulk is not None:
            converted = bulk.convert(raws)
            if converted is not None:
                return converted
        out: list[bytes | RecordInvalid] = []
        self._check_parts(raws, out, bulk or self._bulk)
        return out

    def all_exact(self, raws: Sequence[bytes]) -> bool:
        """Whether every row is valid as it is: the schema's spelling, every key present
        (what the server demands; the emulator's fast path)."""
        return self._bulk.exact(raws)

    def _bulk_for_spelling_of(self, raw: bytes) -> _BulkCheck | None:
        """A bulk check for rows spelled like ``raw`` (say, lower case) with the same keys,
        when every key names an attribute and every attribute left out is nullable."""
        try:
            keys = tuple(_decode_members(raw))
        except (msgspec.DecodeError, RecursionError):
            return None
        if keys in self._spellings:
            return self._spellings[keys]
        bulk: _BulkCheck | None = None
        problems: list[RecordInvalid] = []
        matched, _ = self._match(keys, problems)
        if not problems and len(self._spellings) < _MAX_SPELLINGS:
            spelling = {rule.name: keys[position] for rule, position in matched}
            bulk = _BulkCheck(self.object, spelling)
        self._spellings[keys] = bulk
        return bulk

    def _check_parts(
        self, raws: list[bytes], out: list[bytes | RecordInvalid], bulk: _BulkCheck
    ) -> None:
        check_by_halves(raws, out, bulk.convert, self.check_raw)

    # -- already-parsed Python values ---------------------------------------------------------

    def check_object(self, obj: Any) -> bytes:
        """orjson bytes of one parsed row (JSON array item, Parquet row, CSV row dict).

        A Parquet row may hold a value Python cannot (``arrowrows.UnheldValue``, Arrow's
        text of it): its attribute is refused with why, never sent as that text (it is a
        str, which a string attribute would take)."""
        if not isinstance(obj, Mapping):
            raise RecordInvalid(f"not a JSON object (got {_json_kind(obj)})")
        keys = [str(k) for k in obj]
        values = list(obj.values())
        problems: list[RecordInvalid] = []
        matched, _ = self._match(keys, problems)
        present = {rule.name: values[position] for rule, position in matched}
        unheld_row = type(obj) is UnheldRow  # only rows_of makes them: no cost elsewhere
        out: dict[str, Any] = {}
        for rule in self._rules:
            value = present.get(rule.name)
            if value is None:
                if rule.name in present and not rule.attribute.accepts_null:
                    problems.append(self._null_problem(rule))
                out[rule.name] = None
                continue
            if unheld_row and (unheld := first_unheld(value)) is not None:
                problems.append(
                    RecordInvalid(f"column {rule.name!r}: {str(unheld)!r} {unheld.why}", rule.name)
                )
                continue
            try:
                out[rule.name] = rule.check(value)
            except _Problem as exc:
                problems.append(RecordInvalid(f"column {rule.name!r}: {exc}", rule.name))
        _raise_first(problems)
        return _dump(out)

    # -- CSV ----------------------------------------------------------------------------------

    def csv_header_problems(self, header: list[str]) -> list[str]:
        """Problems of the header as a whole (every row would fail the same way)."""
        problems: list[RecordInvalid] = []
        self._match(header, problems)
        return [p.reason for p in problems]

    def csv_encoder(self, header: list[str]) -> Callable[[list[str]], bytes]:
        """A function turning one CSV row (text fields) into the JSON bytes to send."""
        width = len(header)
        header_problems: list[RecordInvalid] = []
        matched, _ = self._match(header, header_problems)
        by_name = {rule.name: position for rule, position in matched}
        plan = [(rule, by_name.get(rule.name)) for rule in self._rules]

        def encode(row: list[str]) -> bytes:
            if len(row) != width:
                raise RecordInvalid(f"row has {len(row)} fields, header has {width}")
            if header_problems:
                _raise_first(list(header_problems))
            out: dict[str, Any] = {}
            problems: list[RecordInvalid] = []
            for rule, position in plan:
                text = row[position] if position is not None else ""
                if not text:
                    if not rule.attribute.accepts_null:
                        problems.append(self._null_problem(rule))
                    out[rule.name] = None
                    continue
                try:
                    out[rule.name] = rule.csv_convert(text)
                except _Problem as exc:
                    problems.append(RecordInvalid(f"column {rule.name!r}: {exc}", rule.name))
            _raise_first(problems)
            return _dump(out)

        return encode
