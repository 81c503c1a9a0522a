"""Record validation (contract 2), compiled once per table schema.

Hot path (``check_raw`` on a valid record): one typed msgspec decode that checks keys,
JSON syntax, integers, booleans, strings and date shapes while it parses, then a few cheap
post-checks: numeric values are kept as raw JSON text (digits count *as written*, which a
float would lose) and fast-accepted a whole column at a time, by byte operations or
msgspec's date parser where ``columncheck`` has a shortcut, else by a per-column regex;
dates are calendar-checked only when their day is above 28; duplicate keys are ruled out by
counting colons. A valid record is sent as its own bytes, never re-serialized; one whose
names the input spells otherwise (``ORDER_ID``, a ``--map``) is decoded under the input's
names and written by msgspec under the columns' names, a chunk at a time.

Anything the hot path does not accept goes to the slow path, which re-reads the record with
the plain rules (stdlib JSON, Decimal, the date formats) and decides, naming the first
problem. The slow path is the definition; the hot path only ever accepts what it would.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import orjson
from msgspec import UNSET, Meta, Raw

from bulkload.contract.coerce import Converted, Refusal, coerce_value
from bulkload.contract.columncheck import dates_check, numbers_check
from bulkload.contract.formats import DateFormat, compile_format
from bulkload.contract.nesting import (
    MAX_JSON_DEPTH,
    SURELY_SHALLOW_RECORD_BYTES,
    TOO_DEEP,
    on_a_fresh_stack,
    record_too_deep,
    text_depth,
    value_depth,
)
from bulkload.contract.numbers import (
    EXPONENT_CAP,
    MAX_DIGITS,
    PLAIN_DECIMAL,
    DigitCount,
    digits_of,
    int_digits,
    plain_decimal,
)
from bulkload.contract.schema import MAX_PRECISION, Column, ColumnType, TableSchema

if TYPE_CHECKING:
    from bulkload.contract.matching import FieldMapping

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"
_CSV_INTEGER = re.compile(r"[+-]?[0-9]+")
_CSV_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_SHOWN_CHARS = 40
# The judge of JSON syntax everywhere. Floats stay text-exact Decimals, so a number too big
# for a double (1e999) is still JSON: only a numeric column's own rule may refuse it.
_SYNTAX = msgspec.json.Decoder(float_hook=Decimal)


def _check_syntax(text: bytes | str) -> None:
    """msgspec's verdict on JSON syntax. A number too large even for Decimal (10e99999999999999999)
    is still well-formed JSON: that is for the column rules to judge, not a crash."""
    with contextlib.suppress(ArithmeticError):
        _SYNTAX.decode(text)


class RecordInvalid(Exception):
    """One record breaks the contract; ``reason`` is one line and ``str(exc) == reason``.
    ``problems`` lists every problem found, ``reason`` names the first (and how many more)."""

    def __init__(
        self, reason: str, column: str | None = None, problems: Sequence[str] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.problems: tuple[str, ...] = tuple(problems) if problems else (reason,)

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> tuple[type[RecordInvalid], tuple[str, str | None, tuple[str, ...]]]:
        # crosses from a worker process (--workers) whole, not as just its message
        return (RecordInvalid, (self.reason, self.column, self.problems))


class _Problem(Exception):
    """A value breaks its column's rule; the message does not yet name the column."""


class _NumberText:
    """A JSON number exactly as written, so integer-ness and digits are judged on the text."""

    __slots__ = ("is_integer", "text")

    def __init__(self, text: str, is_integer: bool) -> None:
        self.text = text
        self.is_integer = is_integer


class _ObjectPairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in order, so duplicate keys stay visible."""


def _parse_plain(text: str) -> Any:
    """Stdlib JSON with every number kept as text and every object kept as pairs."""
    return json.loads(
        text,
        parse_int=lambda s: _NumberText(s, True),
        parse_float=lambda s: _NumberText(s, False),
        parse_constant=_reject_constant,
        object_pairs_hook=_ObjectPairs,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_NON_JSON_NUMBER = re.compile(rb"NaN|Infinity")
_AT_BYTE = re.compile(r"\(byte (\d+)\)$")


def _syntax_problem(exc: msgspec.DecodeError, data: bytes | str) -> str:
    """A reason for a syntax error; JavaScript's NaN/Infinity get named, since many writers
    (Python's json among them) produce them and "invalid character" would not say why."""
    found = _AT_BYTE.search(str(exc))
    if found is not None:
        raw = data.encode(errors="surrogatepass") if isinstance(data, str) else data
        if _NON_JSON_NUMBER.match(raw, int(found.group(1))) is not None:
            return "not valid JSON: NaN/Infinity are not JSON numbers (use null or a string)"
    if _names_a_lone_surrogate(str(exc), data):
        return (
            "not valid JSON: a string holds a lone surrogate escape (\\uD800-\\uDFFF "
            "without its pair), which names no character"
        )
    return f"not valid JSON: {_clip(str(exc))}"


def _names_a_lone_surrogate(message: str, data: bytes | str) -> bool:
    """Whether msgspec's syntax error is a lone surrogate escape: it says so ("invalid
    utf-16 surrogate pair", clipped to "sur..." in a reason) or, for a high half with no
    low half, calls the record "truncated"; orjson then tells the two apart."""
    if "surrogate" in message:
        return True
    if message != "Input data was truncated" or not _SURROGATE_ESCAPE.search(_as_bytes(data)):
        return False
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError as second:
        return "surrogate" in str(second)
    return False


# a \u escape of a UTF-16 surrogate, either half
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode(errors="surrogatepass") if isinstance(data, str) else data


def _show(value: Any) -> str:
    """A short, JSON-like rendering of a value for a reason."""
    if isinstance(value, _NumberText):
        text = value.text
    elif value is None:
        return "null"
    elif value is True or value is False:
        return "true" if value else "false"
    elif isinstance(value, _ObjectPairs | Mapping):
        return "an object"
    elif isinstance(value, list | tuple):
        return "an array"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:  # a reason must be writable wherever it goes
                text = json.dumps(value)
    else:
        text = repr(value) if not isinstance(value, int | float) else str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return text


def _json_kind(value: Any) -> str:
    if isinstance(value, _ObjectPairs | Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is True or value is False:
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# ---------------------------------------------------------------------------------------------
# The plain rules, one per column type. Each returns the value to serialize (check_object).


@dataclass(frozen=True, slots=True)
class _NumericLimits:
    """Digits allowed before/after the point; None/None means "at most 38 in all"."""

    before: int | None
    after: int | None
    label: str
    # Fast acceptance of plain decimal text within the limits; a miss means "look closer".
    plain_within_limits: re.Pattern[str]

    @classmethod
    def of(cls, column: Column) -> _NumericLimits:
        precision, scale = column.precision, column.scale
        if precision is None and scale is None:
            # At most 38 characters means at most 38 digits.
            fast = re.compile(rf"(?=.{{1,{MAX_DIGITS}}}\Z)" + PLAIN_DECIMAL.pattern)
            return cls(None, None, "numeric", fast)
        precision = MAX_PRECISION if precision is None else precision
        scale = 0 if scale is None else scale
        before = precision - scale
        # Leading zeros of the integer part and trailing zeros of the fraction don't count.
        whole = rf"(?:0*[1-9][0-9]{{0,{before - 1}}}|0*)" if before else "0*"
        fraction = rf"(?:\.[0-9]{{0,{scale}}}0*)?"
        fast = re.compile(r"[+-]?(?=\.?[0-9])" + whole + fraction)
        return cls(before, scale, f"numeric({precision},{scale})", fast)


def _shown_count(count: int) -> str:
    return str(count) if count < EXPONENT_CAP else f"more than 10^{len(str(EXPONENT_CAP)) - 1}"


def _digits_problem(text: str, digits: DigitCount, limits: _NumericLimits) -> str | None:
    """Digits of the value in plain decimal (contract 2): see bulkload.contract.numbers."""
    if limits.before is None or limits.after is None:
        if digits.total > MAX_DIGITS:
            return (
                f"{_clip(text)} has {_shown_count(digits.total)} digits, "
                f"at most {MAX_DIGITS} are allowed"
            )
        return None
    if digits.before > limits.before:
        return (
            f"{_clip(text)} has {_shown_count(digits.before)} digits before the point, "
            f"{limits.label} allows {limits.before}"
        )
    if digits.after > limits.after:
        return (
            f"{_clip(text)} has {_shown_count(digits.after)} digits after the point, "
            f"{limits.label} allows {limits.after}"
        )
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _check_numeric(value: Any, limits: _NumericLimits) -> Any:
    expected = "expected a number or a string holding a plain decimal"
    result: Any
    if isinstance(value, _NumberText):
        if limits.plain_within_limits.fullmatch(value.text) is not None:
            return value
        # Every JSON number is finite; one too big for a double is judged by its digits.
        text, digits, result = value.text, digits_of(value.text), value
    elif isinstance(value, str):
        if limits.plain_within_limits.fullmatch(value) is not None:
            return value
        if PLAIN_DECIMAL.fullmatch(value) is None:
            raise _Problem(
                f"{expected} (optional sign, ASCII digits, optional point), got {_show(value)}"
            )
        text, digits, result = value, digits_of(value), value
    elif isinstance(value, bool):
        raise _Problem(f"{expected}, got {_show(value)}")
    elif isinstance(value, int):
        digits, result = int_digits(value), value
        text = (
            str(value) if digits.before <= _SHOWN_CHARS else f"an integer of {digits.before} digits"
        )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Problem(f"{value} is not a finite number")
        text = repr(value)  # the shortest text that reads back as this float
        if limits.plain_within_limits.fullmatch(text) is not None:
            return value
        digits, result = digits_of(text), value
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise _Problem(f"{value} is not a finite number")
        text = str(value)
        problem = _digits_problem(text, digits_of(text), limits)
        if problem is not None:
            raise _Problem(problem)
        # A JSON string keeps every digit exactly; a zero is "0" however long its exponent.
        return format(value, "f") if value else "0"
    else:
        raise _Problem(f"{expected}, got {_show(value)}")
    problem = _digits_problem(text, digits, limits)
    if problem is not None:
        raise _Problem(problem)
    return result


def _check_integer(value: Any) -> Any:
    if isinstance(value, _NumberText) and value.is_integer:
        # Bound the text before int(): Python refuses to parse absurdly long integers.
        if len(value.text) <= 20 and INT64_MIN <= int(value.text) <= INT64_MAX:
            return value
    elif isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    raise _Problem(f"expected an integer in the signed 64-bit range, got {_show(value)}")


def _check_string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _Problem(f"expected a string, got {_show(value)}")


def _check_boolean(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise _Problem(f"expected true or false, got {_show(value)}")


def _check_date(value: Any, column: Column, fmt: DateFormat) -> Any:
    what = "a date" if column.type is ColumnType.DATE else "a timestamp"
    if isinstance(value, str):
        if fmt.matches(value):
            return value
        if re.fullmatch(fmt.regex, value) is not None:
            raise _Problem(f"{_show(value)} is not a real calendar {what[2:]}")
        raise _Problem(f"expected {what} in format {fmt.text}, got {_show(value)}")
    if isinstance(value, date):
        try:
            return fmt.format(value)
        except ValueError as exc:
            raise _Problem(f"{value!r} {exc}") from None
    raise _Problem(f"expected {what} as a string in format {fmt.text}, got {_show(value)}")


@dataclass(frozen=True, slots=True)
class _Rule:
    """One column's plain rule."""

    column: Column
    limits: _NumericLimits | None
    date_format: DateFormat | None

    @property
    def name(self) -> str:
        return self.column.name

    def check(self, value: Any) -> Any:
        """The value to serialize, or _Problem. ``value`` is never None here."""
        kind = self.column.type
        if kind is ColumnType.STRING:
            return _check_string(value)
        if kind is ColumnType.INTEGER:
            return _check_integer(value)
        if kind is ColumnType.BOOLEAN:
            return _check_boolean(value)
        if kind is ColumnType.NUMERIC:
            assert self.limits is not None
            return _check_numeric(value, self.limits)
        if kind is ColumnType.JSON:
            if isinstance(value, float) and not math.isfinite(value):
                raise _Problem(f"{value} is not JSON")  # orjson would quietly write null
            return value
        assert self.date_format is not None
        return _check_date(value, self.column, self.date_format)


def _rule_for(column: Column) -> _Rule:
    fmt = column.effective_date_format
    return _Rule(
        column=column,
        limits=_NumericLimits.of(column) if column.type is ColumnType.NUMERIC else None,
        date_format=compile_format(fmt) if fmt is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# The hot path's pieces, derived from the rules.

_Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]


def _fast_numeric_pattern(limits: _NumericLimits) -> re.Pattern[bytes]:
    """Fullmatches raw JSON values joined by "\\n" when the plain rule accepts every one
    (null, or a plain number/string within the limits): one regex call per column of a chunk.
    msgspec has already checked the JSON syntax of every value, so "1." never gets here."""
    if limits.before is None or limits.after is None:
        # At most 38 characters means at most 38 digits.
        number = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
        string = rb'"' + PLAIN_DECIMAL.pattern.encode() + rb'"'
        one = (
            rb"(?:null|(?=[^\n]{1,%d}(?:\n|\Z))(?:" % MAX_DIGITS + number + rb"|" + string + rb"))"
        )
    else:
        # Leading zeros of the integer part and trailing zeros of the fraction don't count.
        fraction = rb"(?:\.[0-9]{0,%d}0*)?" % limits.after
        if limits.before:
            number_int = rb"(?:0|[1-9][0-9]{0,%d})" % (limits.before - 1)
            string_int = rb"(?:0*[1-9][0-9]{0,%d}|0*)" % (limits.before - 1)
        else:
            number_int, string_int = b"0", b"0*"
        one = (
            rb"(?:null|-?"
            + number_int
            + fraction
            + rb'|"[+-]?(?=\.?[0-9])'
            + string_int
            + fraction
            + rb'")'
        )
    # Each value atomic, the repetition possessive: a value matches in one way or not at
    # all, so a chunk that fails at its last value fails in linear time. Without it, values
    # whose digits can be split two ways ("…0" between [0-9]{0,2} and 0*) made a failing
    # fullmatch backtrack through every combination: the demo's 2,000-record chunk with
    # "12.345" last never came back.
    one = rb"(?>" + one + rb")"
    return re.compile(one + rb"(?:\n" + one + rb")*+")


def _struct_field_type(rule: _Rule) -> Any:
    kind = rule.column.type
    if kind in (ColumnType.NUMERIC, ColumnType.JSON):
        return Raw  # kept as written; null arrives as Raw(b"null")
    if kind is ColumnType.INTEGER:
        return _Int64 | None
    if kind is ColumnType.BOOLEAN:
        return bool | None
    if kind is ColumnType.STRING:
        return str | None
    # Shapes are checked a whole column at a time (DateFormat.many), not by msgspec per value.
    return str | None


def _record_struct(
    rules: list[_Rule], *, forbid_unknown_fields: bool, complete: bool = False
) -> type[msgspec.Struct]:
    """``complete``: every column's key is required, so a record that decodes has them all."""
    # Attribute names are positional: column names may be Python keywords or dunders.
    return msgspec.defstruct(
        "Record",
        [
            (f"c{i}", _struct_field_type(rule))
            if complete
            else (f"c{i}", _struct_field_type(rule), UNSET)
            for i, rule in enumerate(rules)
        ],
        rename={f"c{i}": rule.name for i, rule in enumerate(rules)},
        forbid_unknown_fields=forbid_unknown_fields,
        omit_defaults=True,
        gc=False,
    )


_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
_FIRST_BYTE = itemgetter(0)
_LAST_BYTE = itemgetter(-1)
# Below this many records, a chunk that fails the bulk check is checked record by record.
_SMALLEST_BULK = 8


def check_by_halves(
    raws: list[bytes],
    out: list[bytes | RecordInvalid],
    in_bulk: Callable[[list[bytes]], Sequence[bytes] | None],
    check_one: Callable[[bytes], bytes],
) -> None:
    """Append each record's verdict to ``out``: a half whose bulk check (``in_bulk``) vouches
    for it at once, else its halves in turn, down to ``_SMALLEST_BULK`` records checked one
    by one. v1's and v2's validators share it (only their bulk checks differ)."""
    if len(raws) <= _SMALLEST_BULK:
        for raw in raws:
            try:
                out.append(check_one(raw))
            except RecordInvalid as exc:
                out.append(exc)
        return
    middle = len(raws) // 2
    for part in (raws[:middle], raws[middle:]):
        converted = in_bulk(part)
        if converted is not None:
            out.extend(converted)
        else:
            check_by_halves(part, out, in_bulk, check_one)


def _days_exist(values: list[str], joined: str, fmt: DateFormat) -> bool:
    """For values that all matched ``fmt.many``: does every day exist in its month?

    Only a day above 28 can be missing, so only those values are looked at closely; with a
    fixed-width format the day digits of the whole column are two slices of ``joined``.
    """
    if not fmt.needs_calendar_check:
        return True
    if fmt.day_offset is None or fmt.width is None:
        return all(fmt.matches(value) for value in values if fmt.day_is_risky(value))
    step = fmt.width + 1
    tens = joined[fmt.day_offset :: step]
    ones = joined[fmt.day_offset + 1 :: step]
    matches = fmt.matches
    at = tens.find("3")
    while at >= 0:
        if not matches(values[at]):
            return False
        at = tens.find("3", at + 1)
    at = ones.find("9")
    while at >= 0:
        if tens[at] == "2" and not matches(values[at]):
            return False
        at = ones.find("9", at + 1)
    return True


class _Spelling:
    """How one input writes the names of the columns it holds (``ORDER_ID`` for ``order_id``,
    or a fixed ``--map``): decoders of records keyed exactly that way into the validator's
    positional fields (``c{i}``, so the bulk checks read them as they read exact-case ones),
    and a struct of the same fields under the columns' names, to write what is sent.

    ``decode`` requires every one of the input's names, ``decode_sparse`` any of them; the
    latter exists only when every name is renamed and none dropped, so that each record it
    decodes with at least one name is one ``FieldMapping.remap_raw`` renames. Fields the
    ``--map`` drops are read as raw values after the columns' (``d{j}``), and not sent.
    """

    __slots__ = (
        "column_getters",
        "decode",
        "decode_sparse",
        "dropped_colons",
        "dropped_getters",
        "indexes",
        "key_colons",
        "nothing",
        "sent_type",
        "text_getters",
    )

    def __init__(
        self,
        rules: list[_Rule],
        keys: dict[int, str],
        checked: list[int],
        dropped: Sequence[str] = (),
    ) -> None:
        self.indexes = sorted(keys)
        types = [(f"c{i}", _struct_field_type(rules[i])) for i in self.indexes]
        file_names = {f"c{i}": keys[i] for i in self.indexes}
        file_names.update({f"d{j}": name for j, name in enumerate(dropped)})
        dropped_types = [(f"d{j}", Raw) for j in range(len(dropped))]

        def decoder(fields: list[Any]) -> Callable[[bytes], Any]:
            return msgspec.json.Decoder(
                msgspec.defstruct(
                    "SpelledRecord",
                    fields,
                    rename=file_names,
                    forbid_unknown_fields=True,
                    gc=False,
                )
            ).decode

        self.decode = decoder(types + dropped_types)
        every_name_renamed = all(rules[i].name != key for i, key in keys.items())
        self.decode_sparse = (
            decoder([(*field, UNSET) for field in types])
            if every_name_renamed and not dropped
            else None
        )
        self.nothing = (UNSET,) * len(self.indexes)
        # Same positions, the columns' names: SentRecord(*astuple(a)) is the record renamed
        # (an UNSET value is left out, as the validator's own structs leave it).
        self.sent_type = msgspec.defstruct(
            "SentRecord", types, rename={f"c{i}": rules[i].name for i in self.indexes}, gc=False
        )
        # Per name, the colons its key puts in the raw text: its own (a --map source may hold
        # some) and the one after it.
        self.key_colons = [keys[i].count(":") + 1 for i in self.indexes]
        self.dropped_colons = sum(name.count(":") + 1 for name in dropped)
        self.dropped_getters = [attrgetter(f"d{j}") for j in range(len(dropped))]
        self.column_getters = [(i, attrgetter(f"c{i}")) for i in checked if i in keys]
        self.text_getters = [
            (i, attrgetter(f"c{i}"))
            for i in self.indexes
            if rules[i].column.type is ColumnType.STRING
        ]


# Distinct key orders of one input kept per validator; past it a chunk takes the plain path.
_MAX_SPELLINGS = 64
_ASTUPLE = msgspec.structs.astuple


class RecordValidator:
    """Checks records against one table schema; compile once, call per record."""

    def __init__(
        self,
        schema: TableSchema,
        *,
        ignore_unknown_columns: bool = False,
        fields: FieldMapping | None = None,
        coerce: bool | None = None,
    ) -> None:
        """``fields``: how input names become columns (None: exact names only, as the API
        sees them). ``coerce``: True converts what ``coerce_value`` can, False only says
        so in the reason, None (the API's view) neither."""
        self.schema = schema
        self.ignore_unknown_columns = ignore_unknown_columns
        self.fields = fields
        self.coerce = coerce
        # What the options did, for the summary (one producer thread updates them).
        self.dropped_fields: Counter[str] = Counter()
        self.records_coerced = 0
        # A --map that renames or drops a column's own name: no record goes as it is.
        self._remap_every_record = fields is not None and fields.renames_columns
        self.check_object: Callable[[Any], bytes] = (
            self._check_object_mapped if self._remap_every_record else self._check_object
        )
        self._rules = [_rule_for(column) for column in schema.columns]
        self._rules_by_name = {rule.name: rule for rule in self._rules}
        strict = _record_struct(self._rules, forbid_unknown_fields=True)
        lenient = _record_struct(self._rules, forbid_unknown_fields=False)
        complete = _record_struct(self._rules, forbid_unknown_fields=True, complete=True)
        self._strict_decoder = msgspec.json.Decoder(strict)
        self._lenient_decoder = msgspec.json.Decoder(lenient)
        self._strict_decode = self._strict_decoder.decode
        self._complete_decode = msgspec.json.Decoder(complete).decode
        self._width = len(self._rules)
        # Per column: a cheap whole-column check (columncheck; None where none exists),
        # then the regex, which decides whenever the cheap check does not say yes.
        self._numeric_checks = [
            (
                i,
                numbers_check(rule.limits.before, rule.limits.after, MAX_DIGITS),
                _fast_numeric_pattern(rule.limits).fullmatch,
            )
            for i, rule in enumerate(self._rules)
            if rule.limits is not None
        ]
        self._date_checks = [
            (
                i,
                rule.date_format,
                rule.date_format.text.count(":"),
                dates_check(rule.date_format),
            )
            for i, rule in enumerate(self._rules)
            if rule.date_format is not None
        ]
        self._text_indexes = [
            i for i, rule in enumerate(self._rules) if rule.column.type is ColumnType.STRING
        ]
        self._json_indexes = [
            i for i, rule in enumerate(self._rules) if rule.column.type is ColumnType.JSON
        ]
        # The columns the bulk check always reads (strings only when colons disagree);
        # integers and booleans are msgspec's alone.
        checked = sorted(
            {i for i, _, _ in self._numeric_checks}
            | {i for i, _, _, _ in self._date_checks}
            | set(self._json_indexes)
        )
        self._checked_indexes = checked
        self._column_getters = [(i, attrgetter(f"c{i}")) for i in checked]
        self._text_getters = [(i, attrgetter(f"c{i}")) for i in self._text_indexes]
        # A renamed record is sent as msgspec writes its values under the columns' names
        # (column order, absent columns left out): the bulk path and the one-record path
        # write the same bytes for it, whichever path its chunk takes.
        self._encode = msgspec.json.Encoder().encode
        # Per tuple of input names (a record's keys in order): its _Spelling, or None when
        # those names are not a plain renaming (dropped, unknown, colliding, or exact).
        self._spellings: dict[tuple[str, ...], _Spelling | None] = {}

    # -- raw JSON text ------------------------------------------------------------------------

    def check_raw(self, raw: bytes) -> bytes:
        """The bytes to send for one record's JSON text: itself (stripped) when valid as is."""
        if raw[:3] == _BOM:
            raw = raw[3:]
        raw = raw.strip(_JSON_WHITESPACE)
        if self._remap_every_record:
            return self._check_raw_mapped(raw)
        if self._vouch((raw,)):
            return raw
        return on_a_fresh_stack(lambda: self._check_raw_slowly(raw))

    def _check_raw_mapped(self, raw: bytes) -> bytes:
        """check_raw of the record with its fields renamed (``self.fields``), once."""
        assert self.fields is not None
        renamed = self.fields.remap_raw(raw)
        if renamed is None:
            return self._check_renamed(raw)
        return self._send_renamed(renamed)

    def _check_renamed(self, raw: bytes) -> bytes:
        """check_raw of a record whose names were mapped already: never renamed twice (a
        --map a=b --map b=a would otherwise swap back)."""
        if self._vouch((raw,)):
            return raw
        return self._check_raw_slowly(raw, mapped=True)

    def _send_renamed(self, renamed: bytes) -> bytes:
        """``_check_renamed`` of a record ``remap_raw`` renamed: when valid, sent as the bulk
        path writes it (``_encode`` of its values), so its bytes never depend on which
        records shared its chunk."""
        records = self._vouched((renamed,))
        if records is not None:
            return self._encode(records[0])
        return self._check_raw_slowly(renamed, mapped=True)

    def check_raw_many(self, raws: list[bytes]) -> Sequence[bytes | RecordInvalid]:
        """``check_raw`` of each record: ``raws`` itself when every one is sent as it is,
        else per record the bytes to send or the RecordInvalid that check_raw raised.

        The whole list is vouched for in a handful of C-speed calls (one msgspec decode per
        record, one regex per column); a list that fails is halved until the records at
        fault are found, so one bad record costs a few bulk checks, not a slow chunk.
        """
        sent = self._sent_in_bulk(raws)
        if sent is not None:
            return sent
        if (
            self.fields is not None
            and not self._remap_every_record
            and self._spelling_of(raws[0]) is None
        ):
            # Records in several spellings, the first in none of its own (an exact-case
            # one, say): rename the whole chunk and vouch for it at once, not record by
            # record. A chunk whose first record has a spelling is halved instead, each
            # half vouched for in its first record's spelling (one bad record among
            # upper-cased ones is the usual case).
            renamed = self._renamed_if_all(raws)
            if renamed is not None:
                records = self._vouched(renamed)
                if records is not None:
                    return list(map(self._encode, records))
        out: list[bytes | RecordInvalid] = []
        self._check_parts(raws, out)
        return out

    def _spelling_of(self, raw: bytes) -> _Spelling | None:
        """The _Spelling of ``raw``'s names (cached by them), None when they are not a plain
        renaming of some columns, or ``raw`` cannot be read (the plain path says why)."""
        assert self.fields is not None
        try:
            names = tuple(_FIELDS_AS_WRITTEN.decode(raw))
        except (*_DECODE_ERRORS, TypeError):
            return None
        if names in self._spellings:
            return self._spellings[names]
        plan = self.fields.plan(names)
        spelling: _Spelling | None = None
        if plan.loadable and not plan.unknown and not plan.renames_nothing:
            index_of = {rule.name: i for i, rule in enumerate(self._rules)}
            keys = {
                index_of[target]: name
                for name, target in zip(plan.names, plan.targets, strict=True)
                if target is not None
            }
            spelling = _Spelling(self._rules, keys, self._checked_indexes, plan.dropped)
        if len(self._spellings) < _MAX_SPELLINGS:
            self._spellings[names] = spelling
        return spelling

    def _renamed_if_all(self, raws: list[bytes]) -> list[bytes] | None:
        """Every record of ``raws`` with its fields renamed, or None as soon as one needs no
        renaming or is refused (the record-by-record path then sorts them out)."""
        assert self.fields is not None
        remap = self.fields.remap_raw
        renamed: list[bytes] = []
        try:
            for raw in raws:
                if raw[:3] == _BOM:
                    return None
                one = remap(raw.strip(_JSON_WHITESPACE))
                if one is None:
                    return None
                renamed.append(one)
        except RecordInvalid:
            return None
        return renamed

    def _sent_in_bulk(self, raws: list[bytes]) -> Sequence[bytes] | None:
        """What check_raw would send for each of ``raws``, when the bulk check vouches for
        them all as they are or, in the input's own spelling, renamed; else None."""
        if not self._remap_every_record and self._vouch(raws):
            return raws
        if self.fields is None or not raws:
            return None
        # An export whose names need the case fallback or a --map (ORDER_ID for order_id):
        # decoded under its own names, checked as exact-case records are, and written under
        # the columns' names, with no per-record renaming.
        spelling = self._spelling_of(raws[0])
        if spelling is None:
            return None
        records = self._vouched(raws, spelling)
        if records is None:
            return None
        sent_type = spelling.sent_type
        if spelling.dropped_getters:
            width = len(spelling.indexes)
            sent = [sent_type(*_ASTUPLE(r)[:width]) for r in records]
        else:
            sent = [sent_type(*_ASTUPLE(r)) for r in records]
        return list(map(self._encode, sent))

    def _check_parts(self, raws: list[bytes], out: list[bytes | RecordInvalid]) -> None:
        # Halves in the input's spelling are vouched for in bulk too: one bad record in an
        # upper-cased chunk costs a few bulk checks, not a chunk renamed record by record.
        check_by_halves(raws, out, self._sent_in_bulk, self.check_raw)

    def _vouch(self, raws: Sequence[bytes]) -> bool:
        """True when the plain rules surely accept every record as it is; False = look closer."""
        return self._vouched(raws) is not None

    def _vouched(
        self, raws: Sequence[bytes], spelling: _Spelling | None = None
    ) -> list[Any] | None:
        """The decoded records when the plain rules surely accept every one as it is (under
        the columns' names, or under ``spelling``'s); None = look closer.

        msgspec checks keys, syntax, integers, booleans and strings while it parses; the rest
        is checked a column at a time over the whole list. Duplicate keys (msgspec keeps
        the last silently) are ruled out by counting colons: the raw text holds one per key
        plus those inside values, and a second copy of a key only adds colons, so equal
        totals over the list mean equal counts in every record.
        """
        try:
            # Every record is exactly "{...}": nothing to strip, no BOM.
            if bytes(map(_FIRST_BYTE, raws)).strip(b"{") or bytes(map(_LAST_BYTE, raws)).strip(
                b"}"
            ):
                return None
        except IndexError:  # an empty record
            return None
        # Refused before any parser recurses: their own limits depend on the stack's depth.
        if max(map(len, raws)) >= SURELY_SHALLOW_RECORD_BYTES and any(map(record_too_deep, raws)):
            return None
        columns: dict[int, list[Any]]
        if spelling is not None:
            text_getters = spelling.text_getters
            try:
                # Every record holds each of the spelling's names.
                records = list(map(spelling.decode, raws))
            except _DECODE_ERRORS:
                if spelling.decode_sparse is None:
                    return None
                try:
                    records = list(map(spelling.decode_sparse, raws))
                except _DECODE_ERRORS:
                    return None
                rows = list(map(_ASTUPLE, records))
                if spelling.nothing in rows:
                    return None  # a record of no column ({ }) is sent as it is written
                expected_colons = 0
                columns = {}
                spelled_columns = zip(*rows, strict=True)
                for i, key_colons, column in zip(
                    spelling.indexes, spelling.key_colons, spelled_columns, strict=True
                ):
                    present = [value for value in column if value is not UNSET]
                    expected_colons += len(present) * key_colons
                    columns[i] = present
            else:
                expected_colons = len(raws) * (sum(spelling.key_colons) + spelling.dropped_colons)
                columns = {i: list(map(getter, records)) for i, getter in spelling.column_getters}
                for getter in spelling.dropped_getters:
                    # Raw values as written: their colons are all in the raw text.
                    expected_colons += b"".join(map(getter, records)).count(b":")
        else:
            text_getters = self._text_getters
            try:
                records = list(map(self._complete_decode, raws))
            except _DECODE_ERRORS:
                try:
                    records = list(map(self._strict_decode, raws))
                except _DECODE_ERRORS:
                    return None
                # Some keys are missing: count the ones present, column by column.
                every_column = list(zip(*map(_ASTUPLE, records), strict=True))
                expected_colons = 0
                columns = {}
                for i, column in enumerate(every_column):
                    present = [value for value in column if value is not UNSET]
                    expected_colons += len(present)
                    columns[i] = present
            else:
                expected_colons = len(raws) * self._width
                columns = {i: list(map(getter, records)) for i, getter in self._column_getters}
        for i, surely_fit, fullmatch in self._numeric_checks:
            values = columns.get(i)
            if not values:
                continue
            joined_values = b"\n".join(values)
            if surely_fit is not None and surely_fit(values, joined_values):
                continue
            if fullmatch(joined_values) is None:
                return None
        for i, fmt, colons, surely_real in self._date_checks:
            texts = [value for value in columns.get(i, ()) if value is not None]
            if not texts:
                continue
            joined = "\n".join(texts)
            if joined.count("\n") != len(texts) - 1:
                return None
            surely = surely_real is not None and surely_real(joined, len(texts))
            if not surely and (
                fmt.many.fullmatch(joined) is None or not _days_exist(texts, joined, fmt)
            ):
                return None
            expected_colons += colons * len(texts)
        for i in self._json_indexes:
            json_text = b"".join(columns.get(i, ()))
            if not json_text.isascii():
                try:
                    json_text.decode()  # msgspec does not check UTF-8 inside Raw values
                except UnicodeDecodeError:
                    return None
            expected_colons += json_text.count(b":")
        blob = b"".join(raws)
        colons = blob.count(b":")
        if colons != expected_colons:
            expected_colons += _text_colons(columns, records, text_getters)
            if colons != expected_colons:
                # More colons than keys and values explain: a key appeared twice.
                return None
        # An escaped colon (\u003a) counts in a decoded value but not in the raw text.
        if b"\\" in blob and b"\\u003" in blob:
            return None
        return records

    def _check_raw_slowly(self, raw: bytes, *, mapped: bool = False) -> bytes:
        if self.fields is not None and not mapped:
            renamed = self.fields.remap_raw(raw)
            if renamed is not None:
                return self._send_renamed(renamed)
        pairs = self._parse_raw(raw)
        cleaned, coerced = self._check_pairs(pairs)
        if coerced:
            self.records_coerced += 1
            values = _FIELDS_AS_WRITTEN.decode(raw)
            return msgspec.json.encode(
                {
                    key: Raw(orjson.dumps(coerced[key])) if key in coerced else value
                    for key, value in values.items()
                    if key in self._rules_by_name
                }
            )
        if not cleaned:
            return raw
        try:
            return msgspec.json.encode(self._lenient_decoder.decode(raw))
        except msgspec.DecodeError as exc:  # the plain rules accepted it
            raise RecordInvalid(_translate(str(exc))) from None

    def _parse_raw(self, raw: bytes) -> _ObjectPairs:
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise RecordInvalid(
                f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}"
            ) from None
        if record_too_deep(raw):
            raise RecordInvalid(TOO_DEEP)
        try:
            # msgspec's verdict on syntax is the hot path's; this keeps both paths agreeing on
            # lone surrogates, which the stdlib parser judges differently.
            _check_syntax(raw)
            parsed = _parse_plain(text)
        except msgspec.DecodeError as exc:
            raise RecordInvalid(_syntax_problem(exc, raw)) from None
        except ValueError as exc:
            raise RecordInvalid(f"not valid JSON: {_clip(str(exc))}") from None
        if not isinstance(parsed, _ObjectPairs):
            raise RecordInvalid(f"not a JSON object (got {_json_kind(parsed)})")
        return parsed

    def _check_pairs(self, pairs: _ObjectPairs) -> tuple[bool, dict[str, Any]]:
        """Raise the problems; return whether unknown keys must be dropped, and the values
        coercion replaced (by key)."""
        seen: set[str] = set()
        duplicates: list[str] = []
        unknown: list[str] = []
        problems: list[RecordInvalid] = []
        coerced: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                if key not in duplicates:
                    duplicates.append(key)
                continue
            seen.add(key)
            rule = self._rules_by_name.get(key)
            if rule is None:
                unknown.append(key)
            elif value is not None:
                try:
                    rule.check(value)
                except _Problem as exc:
                    try:
                        coerced[key] = self._coerce(rule, value, exc)
                    except _Problem as final:
                        problems.append(RecordInvalid(f"column {key!r}: {final}", key))
        if duplicates:
            names = ", ".join(repr(k) for k in duplicates)
            problems.insert(0, RecordInvalid(f"duplicate key {names} in one record", duplicates[0]))
        if unknown and not self.ignore_unknown_columns:
            problems.insert(0, self._unknown_columns_problem(unknown))
        _raise_first(problems)
        if unknown:
            self.dropped_fields.update(unknown)
        return bool(unknown), coerced

    def _coerce(self, rule: _Rule, value: Any, problem: _Problem) -> Any:
        """The value that replaces one its rule refused, or the _Problem to report: the
        original one, saying when --coerce would have converted the value."""
        if self.coerce is None:
            raise problem
        outcome = coerce_value(rule.column, rule.date_format, value)
        if isinstance(outcome, Converted):
            # Converted but still refused (12.345 into numeric(12,2) is 12.345 as a
            # number): --coerce would not help, so the hint must not promise it.
            try:
                rule.check(outcome.value)
            except _Problem:
                raise problem from None
            if not self.coerce:
                raise _Problem(f"{problem} (--coerce would convert it)")
            return outcome.to_send
        if isinstance(outcome, Refusal) and self.coerce:
            raise _Problem(f"{problem}; not coerced: {outcome.reason}")
        raise problem

    def _unknown_columns_problem(self, unknown: list[str]) -> RecordInvalid:
        noun = "column" if len(unknown) == 1 else "columns"
        names = ", ".join(repr(k) for k in unknown)
        return RecordInvalid(
            f"unknown {noun} {names}: not in table {self.schema.name!r} "
            "(fix the input or ignore unknown columns)",
            unknown[0],
        )

    # -- for the emulator ---------------------------------------------------------------------

    def decode(self, raw: bytes) -> dict[str, Any]:
        """Validate one record's JSON text and return its values (numeric as Decimal)."""
        sent = self.check_raw(raw)
        values = msgspec.structs.astuple(self._lenient_decoder.decode(sent))
        out: dict[str, Any] = {}
        for rule, value in zip(self._rules, values, strict=True):
            if value is UNSET:
                continue
            kind = rule.column.type
            if kind is ColumnType.JSON:
                value = _JSON_VALUES.decode(value)
            elif kind is ColumnType.NUMERIC:
                value = _raw_to_decimal(bytes(value))
            out[rule.name] = value
        return out

    # -- already-parsed Python values ---------------------------------------------------------

    # check_object (an attribute, set in __init__): orjson bytes of one parsed record (JSON
    # array item, Parquet row, CSV row dict).

    def _check_object_mapped(self, obj: Any) -> bytes:
        """check_object of the record with its fields renamed (``self.fields``), once."""
        assert self.fields is not None
        renamed = self.fields.remap_object(obj) if isinstance(obj, Mapping) else None
        return self._check_object(obj if renamed is None else renamed, mapped=True)

    def _check_object(self, obj: Any, *, mapped: bool = False) -> bytes:
        if not isinstance(obj, Mapping):
            raise RecordInvalid(f"not a JSON object (got {_json_kind(obj)})")
        out: dict[str, Any] = {}
        unknown: list[str] = []
        problems: list[RecordInvalid] = []
        coerced = False
        for key, value in obj.items():
            rule = self._rules_by_name.get(key) if isinstance(key, str) else None
            if rule is None:
                unknown.append(str(key))
            elif value is not None:
                try:
                    out[key] = rule.check(value)
                except _Problem as exc:
                    try:
                        out[key] = self._coerce(rule, value, exc)
                        coerced = True
                    except _Problem as final:
                        problems.append(RecordInvalid(f"column {key!r}: {final}", key))
        if unknown and self.fields is not None and not mapped:
            return self._check_object_mapped(obj)
        if unknown and not self.ignore_unknown_columns:
            problems.insert(0, self._unknown_columns_problem(unknown))
        _raise_first(problems)
        if unknown:
            self.dropped_fields.update(unknown)
        self.records_coerced += coerced
        return _dump(out)

    # -- CSV ----------------------------------------------------------------------------------

    def csv_header_columns(self, header: list[str]) -> list[str | None]:
        """The column each header field loads into (None: dropped or unknown). Raises
        NoFieldMatches when the header has fields and none of them is a column."""
        if self.fields is None:
            return [name if name in self._rules_by_name else None for name in header]
        plan = self.fields.plan(header)
        if header and not plan.matched:
            raise self.fields.nothing_matches(header, "the CSV header")
        return list(plan.targets)

    def csv_header_problems(self, header: list[str]) -> list[str]:
        problems: list[str] = []
        seen: set[str] = set()
        for name in header:
            if name in seen:
                problems.append(
                    f"CSV header names column {name!r} twice: name each column once in the header"
                )
            seen.add(name)
        columns = self.csv_header_columns(header)
        if self.fields is not None:
            collision = self.fields.plan(header).collision_problem()
            if collision is not None and len(seen) == len(header):
                problems.append(collision)
        unknown = [
            name
            for name, column in zip(header, columns, strict=True)
            if column is None and (self.fields is None or name not in self.fields.renames)
        ]
        if unknown and not self.ignore_unknown_columns:
            problems.append(self._unknown_columns_problem(unknown).reason)
        return problems

    def csv_encoder(self, header: list[str]) -> Callable[[list[str]], bytes]:
        """A function turning one CSV row (text fields) into the JSON bytes to send."""
        header_problems = self.csv_header_problems(header)
        width = len(header)
        columns = self.csv_header_columns(header)
        rules = [self._rules_by_name[column] for column in columns if column is not None]
        converters = [(rule.name, _csv_converter(rule), rule) for rule in rules]
        keep = [column is not None for column in columns]
        all_kept = all(keep)
        ignored = [
            name
            for name, column in zip(header, columns, strict=True)
            if column is None and (self.fields is None or name not in self.fields.renames)
        ]
        coerce = self._coerce

        def encode(row: list[str]) -> bytes:
            if len(row) != width:
                raise RecordInvalid(f"row has {len(row)} fields, header has {width}")
            if header_problems:
                raise RecordInvalid(header_problems[0])
            fields = row if all_kept else [text for text, k in zip(row, keep, strict=True) if k]
            out: dict[str, Any] = {}
            problems: list[RecordInvalid] = []
            coerced = False
            for (name, convert, rule), text in zip(converters, fields, strict=True):
                if text:
                    try:
                        out[name] = convert(text)
                    except _Problem as exc:
                        try:
                            out[name] = coerce(rule, text, exc)
                            coerced = True
                        except _Problem as final:
                            problems.append(RecordInvalid(f"column {name!r}: {final}", name))
            _raise_first(problems)
            if ignored:
                self.dropped_fields.update(ignored)
            self.records_coerced += coerced
            return _dump(out)

        return encode


def _csv_converter(rule: _Rule) -> Callable[[str], Any]:
    kind = rule.column.type
    if kind is ColumnType.STRING:
        return _identity
    if kind is ColumnType.INTEGER:
        return _csv_integer
    if kind is ColumnType.BOOLEAN:
        return _csv_boolean
    if kind is ColumnType.JSON:
        return _csv_json
    if kind is ColumnType.NUMERIC:
        limits = rule.limits
        assert limits is not None
        return lambda text: _check_numeric(text, limits)
    fmt = rule.date_format
    assert fmt is not None
    column = rule.column
    return lambda text: _check_date(text, column, fmt)


def _identity(text: str) -> Any:
    return text


def _csv_integer(text: str) -> Any:
    # Not int(text) alone: it also takes spaces, underscores and other scripts' digits.
    if _CSV_INTEGER.fullmatch(text) and len(text) <= 20 and INT64_MIN <= int(text) <= INT64_MAX:
        return int(text)
    raise _Problem(f"expected an integer in the signed 64-bit range, got {_show(text)}")


def _csv_boolean(text: str) -> Any:
    value = _CSV_BOOLEANS.get(text.lower())
    if value is None:
        raise _Problem(f"expected true, false, 1 or 0, got {_show(text)}")
    return value


def _csv_json(text: str) -> Any:
    if len(text) > 2 * MAX_JSON_DEPTH and text_depth(text.encode(errors="surrogatepass")) > (
        MAX_JSON_DEPTH
    ):
        raise _Problem(TOO_DEEP)
    try:
        try:
            _check_syntax(text)
        except RecursionError:  # the caller's stack is deep: the value is within the limit
            on_a_fresh_stack(lambda: _check_syntax(text))
    except msgspec.DecodeError as exc:
        raise _Problem(_syntax_problem(exc, text)) from None
    except UnicodeEncodeError as exc:
        raise _Problem(f"not valid JSON: {_clip(str(exc))}") from None
    return orjson.Fragment(text.strip())  # exactly as written: big integers keep their digits


def _float_or_decimal(text: str) -> float | Decimal:
    number = float(text)
    return number if math.isfinite(number) else Decimal(text)


_JSON_VALUES = msgspec.json.Decoder(float_hook=_float_or_decimal)


def _raw_to_decimal(raw: bytes) -> Decimal | None:
    if raw == b"null":
        return None
    value = msgspec.json.decode(raw) if raw[:1] == b'"' else raw.decode()
    try:
        try:
            return Decimal(value)  # digits as written: 12.50 stays Decimal("12.50")
        except InvalidOperation:  # 0e99999999999999999999, a valid zero past its exponent
            return Decimal(plain_decimal(value))
    except (InvalidOperation, ValueError):  # check_raw has accepted it: a bug, not the input
        raise RecordInvalid(f"numeric value {_clip(value)} cannot be read") from None


def _dump(out: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(out)
    except TypeError:
        return orjson.dumps({name: _dump_value(name, value) for name, value in out.items()})


def _dump_value(name: str, value: Any) -> Any:
    """One value orjson can write, or the stdlib's text of it (orjson stops at 64-bit ints)."""
    try:
        orjson.dumps(value)
        return value
    except TypeError as exc:
        problem = str(exc)
    if value_depth(value) > MAX_JSON_DEPTH:  # orjson stops at 254 levels, the stdlib varies
        raise RecordInvalid(f"column {name!r}: {TOO_DEEP}", name)
    try:
        return on_a_fresh_stack(lambda: _stdlib_fragment(value))
    except (TypeError, ValueError, msgspec.DecodeError):
        raise RecordInvalid(
            f"column {name!r}: cannot be written as JSON: {problem}", name
        ) from None


def _stdlib_fragment(value: Any) -> orjson.Fragment:
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    _check_syntax(text)  # e.g. a lone surrogate is no JSON, whoever writes it
    return orjson.Fragment(text)


def _raise_first(problems: list[RecordInvalid]) -> None:
    """Raise one RecordInvalid for all ``problems``: its reason names the first, its
    ``problems`` lists them all."""
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        more = len(problems) - 1
        raise RecordInvalid(
            f"{first.reason} (and {more} more problem{'s' * (more > 1)})",
            first.column,
            [problem.reason for problem in problems],
        )
    raise first


def _text_colons(
    columns: dict[int, list[Any]],
    records: list[Any],
    text_getters: Sequence[tuple[int, Callable[[Any], Any]]],
) -> int:
    """Colons inside the string values; a column not read yet is read from ``records``."""
    total = 0
    for i, getter in text_getters:
        values = columns[i] if i in columns else map(getter, records)
        total += "".join([value for value in values if value is not None]).count(":")
    return total


def _outcome(check: Callable[[bytes], bytes], raw: bytes) -> bytes | RecordInvalid:
    try:
        return check(raw)
    except RecordInvalid as exc:
        return exc


# A record's top-level fields with their values as written, to replace coerced ones.
_FIELDS_AS_WRITTEN = msgspec.json.Decoder(dict[str, Raw])


_MSGSPEC_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def _translate(message: str) -> str:
    """Last resort: a msgspec message with its path turned into a column name."""
    found = _MSGSPEC_PATH.search(message)
    if found is None:
        return f"not valid: {message}"
    column = found.group("path").split(".")[0].split("[")[0]
    return f"column {column!r}: {message[: found.start()]}"
