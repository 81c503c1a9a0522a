"""The compiled validator against a plain oracle written from the contract's words.

The oracle knows nothing of msgspec, regexes or fast paths: stdlib JSON, string arithmetic for
digits (the value written out in plain decimal, character by character), datetime and a
token-by-token reading of the date format. Hypothesis generates schemas and records full of
valid-looking and near-miss values (trailing and leading zeros, `.5`, other scripts' digits,
trailing newlines, values nested around the depth limit, repeated keys); the two must
always agree on accept or reject.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bulkload.contract.formats import format_problems
from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

DIGITS = "0123456789"
MAX_DEPTH = 500  # bulkload's own limit on a value's nesting (the contract sets none)
TOKENS = ["TZH:TZM", "HH24", "YYYY", "MM", "DD", "MI", "SS", "FF"]

# -- the oracle ---------------------------------------------------------------------------------


class Number:
    """A JSON number as written."""

    def __init__(self, text: str) -> None:
        self.text = text


class Pairs(list[tuple[str, Any]]):
    pass


def oracle_accepts(columns: list[Column], raw: str) -> bool:
    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        record = json.loads(
            raw,
            parse_int=Number,
            parse_float=Number,
            parse_constant=no_constants,
            object_pairs_hook=Pairs,
        )
    except RecursionError:  # the stdlib gives up far deeper than MAX_DEPTH
        return False
    except ValueError:
        return False
    if not isinstance(record, Pairs):  # "it is not a JSON object"
        return False
    if any(depth(value) > MAX_DEPTH for _, value in record):
        return False
    keys = [key for key, _ in record]
    if len(set(keys)) != len(keys):  # one value per column
        return False
    by_name = {column.name: column for column in columns}
    for key, value in record:
        column = by_name.get(key)  # "has a key that is not a column of the table"
        if column is None:
            return False
        if value is not None and not value_accepted(column, value):  # null stores NULL
            return False
    return True


def depth(value: Any) -> int:
    """Arrays and objects nested in a value: [] is 1, a scalar 0 (a loop: values nest deeper
    than Python recursion goes)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, Pairs):
            pending.extend((v, level + 1) for _, v in item)
        elif isinstance(item, list):
            pending.extend((v, level + 1) for v in item)
        else:
            continue
        deepest = max(deepest, level + 1)
    return deepest


def value_accepted(column: Column, value: Any) -> bool:
    kind = column.type
    if kind is ColumnType.STRING:
        return isinstance(value, str)
    if kind is ColumnType.BOOLEAN:
        return value is True or value is False
    if kind is ColumnType.INTEGER:
        if not isinstance(value, Number) or any(c in value.text for c in ".eE"):
            return False
        return -(2**63) <= int(value.text) <= 2**63 - 1
    if kind is ColumnType.NUMERIC:
        return numeric_accepted(column, value)
    if kind is ColumnType.JSON:
        return True
    fmt = column.effective_date_format
    assert fmt is not None
    return isinstance(value, str) and date_accepted(fmt, value)


def numeric_accepted(column: Column, value: Any) -> bool:
    if isinstance(value, Number):  # any JSON number: JSON has no NaN or infinity
        text = value.text
    elif isinstance(value, str):
        # "a string holding a plain decimal (an optional sign, ASCII digits, at most one
        # point, at least one digit)"
        body = value[1:] if value[:1] in ("+", "-") else value
        if not body or any(c not in DIGITS + "." for c in body) or body.count(".") > 1:
            return False
        if not any(c in DIGITS for c in body):
            return False
        text = body
    else:
        return False
    whole, fraction = plain_decimal(text)
    # "leading zeros of the integer part and trailing zeros of the fraction do not count"
    before, after = len(whole.lstrip("0")), len(fraction.rstrip("0"))
    precision, scale = column.precision, column.scale
    if precision is None and scale is None:
        return before + after <= 38
    precision = 38 if precision is None else precision
    scale = 0 if scale is None else scale
    return before <= precision - scale and after <= scale


def plain_decimal(text: str) -> tuple[str, str]:
    """The digits before and after the point of ``text`` written out in plain decimal, by
    moving the point along the digit string (no Decimal, no float)."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("+-").partition(".")
    digits = whole + fraction
    if not digits.strip("0"):
        return "0", ""  # zero, however far its exponent moves the point
    point = len(whole) + int(exponent or "0")
    if point < 0:
        digits, point = "0" * -point + digits, 0
    elif point > len(digits):
        digits += "0" * (point - len(digits))
    return digits[:point], digits[point:]


def split_format(fmt: str) -> list[tuple[str, bool]]:
    pieces: list[tuple[str, bool]] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == '"':
            end = fmt.index('"', i + 1)
            pieces.extend((c, False) for c in fmt[i + 1 : end])
            i = end + 1
            continue
        token = next((t for t in TOKENS if fmt.startswith(t, i)), None)
        if token:
            pieces.append((token, True))
            i += len(token)
        else:
            pieces.append((fmt[i], False))
            i += 1
    return pieces


def date_accepted(fmt: str, text: str) -> bool:
    fields: dict[str, str] = {}
    at = 0

    def take_digits(count: int) -> str | None:
        nonlocal at
        chunk = text[at : at + count]
        if len(chunk) != count or not all(c in DIGITS for c in chunk):
            return None
        at += count
        return chunk

    for piece, is_token in split_format(fmt):
        if not is_token:
            if text[at : at + 1] != piece:
                return False
            at += 1
        elif piece == "FF":
            start = at
            while at < len(text) and text[at] in DIGITS:
                at += 1
            if not 1 <= at - start <= 9:
                return False
        elif piece == "TZH:TZM":
            if text[at : at + 1] not in ("+", "-"):
                return False
            at += 1
            hours = take_digits(2)
            if hours is None or text[at : at + 1] != ":":
                return False
            at += 1
            minutes = take_digits(2)
            if minutes is None or int(hours) > 14 or int(minutes) > 59:
                return False
        else:
            chunk = take_digits(4 if piece == "YYYY" else 2)
            if chunk is None:
                return False
            fields[piece] = chunk
    if at != len(text):
        return False
    try:
        # A missing year is any year (2000 is a leap one); a missing month any month (January
        # has 31 days): the date is real when some reading of the missing parts makes it so.
        datetime(
            int(fields.get("YYYY", "2000")),
            int(fields.get("MM", "01")),
            int(fields.get("DD", "01")),
            int(fields.get("HH24", "00")),
            int(fields.get("MI", "00")),
            int(fields.get("SS", "00")),
        )
    except ValueError:
        return False
    return True


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def date_formats(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6, unique=True))
    separators = st.sampled_from(["-", "/", " ", ":", ".", "", '"T"', ",", '"Z"'])
    fmt = "".join(token + draw(separators) for token in tokens)
    assume(not format_problems(fmt))
    return fmt


@st.composite
def columns(draw: st.DrawFn) -> list[Column]:
    out = []
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(list(ColumnType)))
        precision = scale = date_format = None
        if kind is ColumnType.NUMERIC:
            precision = draw(st.none() | st.integers(1, 38))
            # the contract: scale 0-37 and at most the precision (numeric(38, 38) is invalid)
            scale = draw(st.none() | st.integers(0, min(37, precision or 37)))
        elif kind in (ColumnType.DATE, ColumnType.TIMESTAMP):
            date_format = draw(st.none() | date_formats())
        out.append(Column(f"c{index}", kind, precision, scale, date_format))
    return out


def digits(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=min_size, max_size=max_size)


# Digits of other scripts, which Python's int() and Decimal() would take: the contract
# says ASCII digits only.
FOREIGN_DIGITS = ["\u0661", "\u0966", "\uff11", "\U0001d7cf", "\u00b2"]


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """Numbers as written, mostly plain, sometimes not quite JSON: leading zeros, trailing
    zeros, `.5` and `5.`, exponents around 38 digits, other scripts' digits, a newline."""
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(st.sampled_from(["", "0", "1", "12", "007", "99999", "10"]) | digits(0, 42))
    fraction = draw(st.none() | digits(0, 40))
    if fraction is not None and draw(st.booleans()):
        fraction += "0" * draw(st.integers(1, 45))  # trailing zeros do not count
    exponent = draw(
        st.none()
        | st.sampled_from(["e3", "E-2", "e+40", "e999", "e-999", "e", "e37", "e38", "e-38"])
        | st.sampled_from(["e-400", "e400", "E+0", "e-1", "e2"])
    )
    text = sign + whole + ("" if fraction is None else "." + fraction) + (exponent or "")
    oddity = draw(st.integers(0, 19))
    if oddity == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(FOREIGN_DIGITS)) + text[at:]
    elif oddity == 1:
        text += draw(st.sampled_from(["\n", "\r\n", " "]))
    return text


def json_string(text: str) -> str:
    return json.dumps(text)


@st.composite
def date_texts(draw: st.DrawFn, fmt: str) -> str:
    """Text shaped by the format, with each field drawn from its range and just beyond it."""
    ranges = {
        "YYYY": ["0000", "0001", "1900", "2000", "2023", "2024", "9999", "999", "20240"],
        "MM": ["00", "01", "02", "04", "09", "11", "12", "13", "1"],
        "DD": ["00", "01", "28", "29", "30", "31", "32", "1"],
        "HH24": ["00", "09", "23", "24", "7"],
        "MI": ["00", "59", "60"],
        "SS": ["00", "59", "60"],
        "TZH:TZM": ["+01:00", "-05:30", "+14:00", "+14:59", "+15:00", "+01:60", "01:00", "+1:00"],
    }
    parts = []
    for piece, is_token in split_format(fmt):
        if not is_token:
            parts.append(draw(st.sampled_from([piece] * 8 + ["x", ""])))
        elif piece == "FF":
            parts.append(draw(digits(0, 10)))
        else:
            parts.append(draw(st.sampled_from(ranges[piece])))
    return "".join(parts)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """A value nested around the depth limit (and where parsers give up, ~1000 levels),
    with brackets inside strings that must not count."""
    levels = draw(
        st.sampled_from([1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2])
        | st.sampled_from([600, 980, 985, 990, 1000, 1100])
    )
    pattern = draw(
        st.lists(st.sampled_from(["[", '{"k":', '["]",', '{"[":1,"v":']), min_size=1, max_size=3)
    )
    openers = (pattern * levels)[:levels]
    closers = ["]" if opener[0] == "[" else "}" for opener in reversed(openers)]
    inner = draw(st.sampled_from(["1", '"x"', '"[["', "null"]))
    return "".join(openers) + inner + "".join(closers)


@st.composite
def wide_json(draw: st.DrawFn) -> str:
    """A value with many members: long arrays and objects, colons and escapes in strings."""
    count = draw(st.integers(50, 600))
    item = draw(st.sampled_from(['":"', "1", '"\\u003a"', "[]", '{"a:b":"c:d"}']))
    if draw(st.booleans()):
        return "[" + ",".join([item] * count) + "]"
    return "{" + ",".join(f'"k{i}":{item}' for i in range(count)) + "}"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
ODDITIES = st.sampled_from(
    ["null", "true", "false", "NaN", "Infinity", '""', "[]", "{}", '"x"', "1.0", "1e3", "0"]
)


@st.composite
def value_texts(draw: st.DrawFn, column: Column) -> str:
    kind = column.type
    if draw(st.integers(0, 9)) == 0:
        return draw(ODDITIES)
    if kind is ColumnType.INTEGER:
        number = draw(st.integers(-(2**64), 2**64))
        return draw(st.sampled_from([str(number), f"{number}.0", json_string(str(number))]))
    if kind is ColumnType.NUMERIC:
        text = draw(number_texts())
        return json_string(text) if draw(st.booleans()) else text
    if kind is ColumnType.BOOLEAN:
        return draw(st.sampled_from(["true", "false", "1", "0", '"true"']))
    if kind is ColumnType.STRING:
        return json.dumps(draw(st.text(max_size=8)), ensure_ascii=draw(st.booleans()))
    if kind is ColumnType.JSON:
        shape = draw(st.integers(0, 9))
        if shape == 0:
            return draw(deep_json())
        if shape == 1:
            return draw(wide_json())
        return json.dumps(draw(JSON_VALUES))
    fmt = column.effective_date_format
    assert fmt is not None
    text = draw(date_texts(fmt))
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.sampled_from(["\n", "\r\n", "\u0660"]))  # matched whole
    return json_string(text)


@st.composite
def records(draw: st.DrawFn) -> tuple[list[Column], str]:
    cols = draw(columns())
    chosen = draw(st.lists(st.sampled_from(cols), max_size=len(cols) + 1))
    members = [f'"{column.name}":{draw(value_texts(column))}' for column in chosen]
    if draw(st.integers(0, 9)) == 0:
        members.append('"unknown":1')
    space = draw(st.sampled_from(["", " "]))
    return cols, "{" + ("," + space).join(members) + "}"


def validator_accepts(columns: list[Column], raw: str) -> bool:
    validator = RecordValidator(TableSchema("t", tuple(columns)))
    try:
        validator.check_raw(raw.encode())
    except RecordInvalid:
        return False
    return True


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(records())
def test_validator_agrees_with_the_oracle(case: tuple[list[Column], str]) -> None:
    cols, raw = case
    assert validator_accepts(cols, raw) is oracle_accepts(cols, raw), raw


@SETTINGS
@given(st.data(), date_formats())
def test_dates_agree_with_the_oracle(data: st.DataObject, fmt: str) -> None:
    column = Column("d", ColumnType.TIMESTAMP, date_format=fmt)
    text = data.draw(date_texts(fmt))
    raw = f'{{"d":{json_string(text)}}}'
    assert validator_accepts([column], raw) is date_accepted(fmt, text), (fmt, text)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 38).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, p))),
    number_texts(),
    st.booleans(),
)
def test_numeric_limits_agree_with_the_oracle(
    precision_scale: tuple[int, int], text: str, quoted: bool
) -> None:
    precision, scale = precision_scale
    column = Column("n", ColumnType.NUMERIC, precision=precision, scale=scale)
    raw = f'{{"n":{json_string(text) if quoted else text}}}'
    assert validator_accepts([column], raw) is oracle_accepts([column], raw), raw


@settings(max_examples=150, deadline=None)
@given(records())
def test_whatever_is_accepted_decodes_and_survives_check_object(
    case: tuple[list[Column], str],
) -> None:
    cols, raw = case
    assume(oracle_accepts(cols, raw))
    validator = RecordValidator(TableSchema("t", tuple(cols)))
    values = validator.decode(raw.encode())
    assert set(values) <= {column.name for column in cols}
    # The emulator's view, re-sent as a Python object, is still a valid record.
    resent = validator.check_object(values)
    assert validator.check_raw(resent) == resent
