"""CSV rows to the JSON bytes to send, a chunk at a time and a column at a time.

``RecordValidator.csv_encoder`` converts one row field by field in Python (a dict, one
converter call per field, orjson): the definition, but ~15 µs per row of ten fields. This
module does the same work on a whole chunk in a handful of C-speed calls per column: the
chunk is transposed (``zip(*rows)``), each column is checked at once (one regex over the
column joined, one msgspec decode of a JSON column as an array, a dict lookup per boolean),
and each row's JSON text is ONE ``%`` of a template that holds the keys, the separators and
the quotes around the values that need no escaping.

Only what the row encoder surely writes the same way is written here: a value the column
check is not sure of is converted by the row encoder's own per-value converter, and a row
with a value that converter refuses (or of the wrong width, or holding a lone surrogate)
is handed whole to the row encoder, which gives the reason. tests/test_csvfast.py holds the
two to byte-identical output on generated rows with every edge of the hostile catalogue.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final

import msgspec
import orjson

from bulkload.contract.columncheck import dates_check
from bulkload.contract.schema import MAX_PRECISION, ColumnType
from bulkload.contract.validate import (
    RecordInvalid,
    RecordValidator,
    _csv_converter,
    _days_exist,
    _Int64,
    _Problem,
    _Rule,
)

# A piece is a value's JSON text (without the quotes when the template has them), _NULL
# for an empty field (the key is left out), or None for "ask the row encoder".
_NULL: Final = object()
Pieces = Sequence[Any]
# pieces, and whether the template puts quotes around them
ColumnOutcome = tuple[Pieces, bool]

_INT64_ARRAY = msgspec.json.Decoder(list[_Int64])
_FLOAT_ARRAY = msgspec.json.Decoder(list[float])
_BOOLEAN_ARRAY = msgspec.json.Decoder(list[bool])
_BOOLEAN_JSON = {"true": "true", "false": "false", "1": "true", "0": "false"}
# What JSON string content must escape (and lone surrogates, which UTF-8 cannot hold).
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\\ud800-\udfff]')
_ASCII_NEEDS_ESCAPE = bytes(range(0x20)) + b'"\\'
_JSON_WHITESPACE = (" ", "\t", "\r", "\n")
_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
# A JSON value this long might nest deeper than a bulk decode should judge; it is checked
# alone by the row encoder's converter (two bytes per level of nesting).
_BULK_JSON_CHARS = 1000


def _outcome(encode_row: Callable[[list[str]], bytes], row: list[str]) -> bytes | RecordInvalid:
    try:
        return encode_row(row)
    except RecordInvalid as exc:
        return exc


def _strings(values: Sequence[str]) -> ColumnOutcome:
    """Values that need no escaping go between the template's quotes as they are (one
    search over the column); else each is escaped the way orjson would."""
    joined = "".join(values)
    if joined.isascii():
        # one table lookup per byte: far faster than the regex
        ascii_bytes = joined.encode("ascii")
        if len(ascii_bytes.translate(None, _ASCII_NEEDS_ESCAPE)) == len(ascii_bytes):
            return values, True
    # A printable text holds no control character and no lone surrogate, so without a
    # quote or a backslash it needs no escaping: three C loops, faster than the regex.
    elif '"' not in joined and "\\" not in joined and joined.isprintable():
        return values, True
    if _NEEDS_ESCAPE.search(joined) is None:
        return values, True
    return list(map(encode_basestring, values)), False


def _decoded(decoder: msgspec.json.Decoder[Any], text: str) -> Any:
    """``decoder.decode(text)``, or None when the text does not decode (a lone surrogate
    cannot even be encoded)."""
    try:
        return decoder.decode(text)
    except (msgspec.DecodeError, UnicodeEncodeError, RecursionError):
        return None


def _json_array(values: Sequence[str]) -> str | None:
    """The values as the elements of one JSON array, when no value holds JSON whitespace
    (which a JSON parser would skip but a CSV rule would not). One element per value is
    for the caller to check: a comma inside a value makes more elements."""
    joined = ",".join(values)
    if any(space in joined for space in _JSON_WHITESPACE):
        return None
    return "[" + joined + "]"


class _ColumnEncoder:
    """One column's pieces for a chunk: fast for what surely converts, else per value."""

    def __init__(self, rule: _Rule) -> None:
        self.rule = rule
        self.convert = _csv_converter(rule)
        kind = rule.column.type
        self.bulk: Callable[[Sequence[str]], ColumnOutcome | None]
        if kind is ColumnType.STRING:
            self.bulk = _strings
        elif kind is ColumnType.INTEGER:
            self.bulk = self._integers
        elif kind is ColumnType.BOOLEAN:
            self.bulk = self._booleans
        elif kind is ColumnType.NUMERIC:
            self.limits = rule.limits
            assert self.limits is not None
            before, after = self.limits.before, self.limits.after
            self._magnitude_bound = None if before is None else float(10**before)
            self._too_many_decimals = re.compile(rf"\.[0-9]{{{after + 1}}}") if after else None
            self.bulk = self._numerics
        elif kind is ColumnType.JSON:
            self.bulk = self._json_texts
        else:
            assert rule.date_format is not None
            # A text that matched the format holds digits, signs and the format's literals.
            self._dates_need_no_escape = _NEEDS_ESCAPE.search(rule.date_format.text) is None
            # msgspec's date parser on the whole column, where it reads the format exactly
            self._surely_real = dates_check(rule.date_format)
            self.bulk = self._dates

    def pieces(self, values: Sequence[str]) -> ColumnOutcome:
        """``values`` hold no empty field."""
        outcome = self.bulk(values)
        if outcome is not None:
            return outcome
        return list(map(self._one, values)), False

    def _one(self, text: str) -> str | None:
        """The row encoder's converter on one value; None when it refuses the value."""
        try:
            return orjson.dumps(self.convert(text)).decode()
        except (_Problem, TypeError):
            return None

    @staticmethod
    def _integers(values: Sequence[str]) -> ColumnOutcome | None:
        """As written when every value is a JSON integer within 64 bits (so no sign, no
        leading zero: the text orjson writes for int(text)), except -0."""
        array = _json_array(values)
        if array is None or "-0" in array:
            return None
        decoded = _decoded(_INT64_ARRAY, array)
        return (values, False) if decoded is not None and len(decoded) == len(values) else None

    @staticmethod
    def _booleans(values: Sequence[str]) -> ColumnOutcome | None:
        array = _json_array(values)
        decoded = None if array is None else _decoded(_BOOLEAN_ARRAY, array)
        if decoded is not None and len(decoded) == len(values):
            return values, False  # all true/false as JSON writes them
        pieces = list(map(_BOOLEAN_JSON.get, map(str.lower, values)))
        return None if None in pieces else (pieces, False)

    def _numerics(self, values: Sequence[str]) -> ColumnOutcome | None:
        """Sent as the strings they are when every value is a JSON number without exponent
        (an optional minus, no leading zero, digits on both sides of a point) within the
        column's digits: fewer after the point than ``scale`` allows (one search) and a
        magnitude below 10^(precision - scale). Rounding to a float can only push a value
        up to that bound, never a longer one below it, so the check is never too lenient.
        Every such text is one that the rule accepts as it is."""
        limits = self.limits
        assert limits is not None
        array = _json_array(values)
        if array is None or "e" in array or "E" in array:
            return None
        if limits.before is None or limits.after is None:
            if max(map(len, values)) > MAX_PRECISION:  # 38 characters hold at most 38 digits
                return None
        elif (
            "." in array
            if self._too_many_decimals is None
            else self._too_many_decimals.search(array) is not None
        ):
            return None
        numbers = _decoded(_FLOAT_ARRAY, array)
        if numbers is None or len(numbers) != len(values):
            return None
        if self._magnitude_bound is not None and max(map(abs, numbers)) >= self._magnitude_bound:
            return None
        return values, True

    def _dates(self, values: Sequence[str]) -> ColumnOutcome | None:
        fmt = self.rule.date_format
        assert fmt is not None
        joined = "\n".join(values)
        if joined.count("\n") != len(values) - 1:
            return None
        surely = self._surely_real is not None and self._surely_real(joined, len(values))
        if not surely and (
            fmt.many.fullmatch(joined) is None or not _days_exist(list(values), joined, fmt)
        ):
            return None
        if self._dates_need_no_escape:
            return values, True
        return _strings(values)

    @staticmethod
    def _json_texts(values: Sequence[str]) -> ColumnOutcome | None:
        """Sent exactly as written, stripped: checked as ONE array of all the values, whose
        elements must then be the values themselves (``1,[2`` and ``3]`` make an array of
        two elements too, but not those two). NUL separates in the comparison because valid
        JSON holds no raw NUL, so equal joins mean equal values."""
        if max(map(len, values)) > _BULK_JSON_CHARS:
            return None
        elements = _decoded(_RAW_ARRAY, "[" + ",".join(values) + "]")
        if elements is None:
            return None
        stripped = list(map(str.strip, values))
        if len(elements) != len(values):
            return None
        if b"\0".join(elements) != "\0".join(stripped).encode(errors="surrogatepass"):
            return None
        return stripped, False


class CsvChunkEncoder:
    """``encoder(rows)``: per row, the bytes ``validator.csv_encoder(header)(row)`` returns,
    or the RecordInvalid it raises."""

    def __init__(self, validator: RecordValidator, header: list[str]) -> None:
        self._encode_row = validator.csv_encoder(header)
        self._width = len(header)
        rules = validator._rules_by_name
        # Rows of a header with problems all fail the same way: the row encoder says how.
        self._usable = not validator.csv_header_problems(header) and bool(header)
        self._columns = [
            (index, _ColumnEncoder(rules[name]))
            for index, name in enumerate(header)
            if name in rules
        ]
        self._keys = [
            orjson.dumps(rules[name].name).decode() + ":" for name in header if name in rules
        ]
        self._glue: dict[tuple[bool, ...], list[str]] = {}

    def __call__(self, rows: Sequence[list[str]]) -> list[bytes | RecordInvalid]:
        if not self._usable or not rows:
            return [_outcome(self._encode_row, row) for row in rows]
        width = self._width
        if set(map(len, rows)) == {width}:
            records = self._records(rows)
        else:
            kept = [i for i, row in enumerate(rows) if len(row) == width]
            records = [None] * len(rows)
            if kept:
                found = self._records([rows[i] for i in kept])
                for i, record in zip(kept, found, strict=True):
                    records[i] = record
        if None not in records:
            return records  # type: ignore[return-value]
        encode_row = self._encode_row
        return [
            _outcome(encode_row, row) if record is None else record
            for record, row in zip(records, rows, strict=True)
        ]

    def _glue_for(self, quoted: tuple[bool, ...]) -> list[str]:
        """What goes before each value and after the last: ``{"id":``, ``,"note":"``, ..."""
        glue = self._glue.get(quoted)
        if glue is None:
            glue = []
            for i, (key, quotes) in enumerate(zip(self._keys, quoted, strict=True)):
                before = "{" if i == 0 else ('"' if quoted[i - 1] else "") + ","
                glue.append(before + key + ('"' if quotes else ""))
            glue.append(('"' if quoted[-1] else "") + "}")
            self._glue[quoted] = glue
        return glue

    def _records(self, rows: Sequence[list[str]]) -> list[bytes | None]:
        """Each row's JSON bytes, or None where the row encoder must decide."""
        columns = list(zip(*rows, strict=True))
        every_pieces: list[Pieces] = []
        quoted: list[bool] = []
        gaps = False  # a NULL or a refused value somewhere
        for index, encoder in self._columns:
            values = columns[index]
            if all(values):
                pieces, quotes = encoder.pieces(values)
                gaps = gaps or (pieces is not values and None in pieces)
            else:
                pieces, quotes = self._with_nulls(encoder, values)
                gaps = True
            every_pieces.append(pieces)
            quoted.append(quotes)
        glue = self._glue_for(tuple(quoted))
        if not gaps:
            # The whole chunk as one text, a line per row: one join, one encode, one split.
            # Only a JSON column's value can hold a raw line break (as whitespace); then
            # the split makes more records than rows, and the rows are joined one by one.
            # Every row's parts laid out in one list by strided slice assignment (C loops,
            # no tuple per row as zip(*columns) would make): glue, value, glue, ..., end.
            count = len(rows)
            stride = 2 * len(every_pieces) + 1
            parts: list[Any] = [glue[-1] + "\n"] * (count * stride)
            for index, (before, pieces) in enumerate(zip(glue, every_pieces, strict=False)):
                parts[2 * index :: stride] = [before] * count  # glue has the end too
                parts[2 * index + 1 :: stride] = pieces
            text = "".join(parts)
            with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: row by row
                # the split counts the line breaks (no count over the text, which is slow
                # for a text that is not Latin-1)
                records = text.encode().split(b"\n")
                if len(records) == len(rows) + 1:
                    records.pop()
                    return records  # type: ignore[return-value]
        fields = [
            (key + '"', '"') if quotes else (key, "")
            for key, quotes in zip(self._keys, quoted, strict=True)
        ]
        return [_record(pieces, fields) for pieces in zip(*every_pieces, strict=True)]

    @staticmethod
    def _with_nulls(encoder: _ColumnEncoder, values: Sequence[str]) -> ColumnOutcome:
        present = [i for i, value in enumerate(values) if value]
        pieces: list[Any] = [_NULL] * len(values)
        if present:
            found, quotes = encoder.pieces([values[i] for i in present])
            for i, piece in zip(present, found, strict=True):
                pieces[i] = piece
            return pieces, quotes
        return pieces, False


def _record(pieces: tuple[Any, ...], fields: list[tuple[str, str]]) -> bytes | None:
    """One row's JSON bytes from its pieces, leaving out the NULLs; None when the row
    encoder must decide."""
    if None in pieces:
        return None
    parts = [
        before + piece + after
        for (before, after), piece in zip(fields, pieces, strict=True)
        if piece is not _NULL
    ]
    if not parts:
        return None  # a row of NULLs only: the row encoder's call (it may refuse such a row)
    try:
        return ("{" + ",".join(parts) + "}").encode()
    except UnicodeEncodeError:  # a lone surrogate
        return None
