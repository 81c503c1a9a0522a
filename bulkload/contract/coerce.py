"""Coercion (``--coerce``): values a real export writes in the wrong JSON type or the wrong
date layout, converted to what the column takes, never changing what they mean.

- a string holding an integer, a number or a boolean (true/false/1/0/yes/no, any case)
  becomes that JSON type;
- a date or timestamp that does not match the column's format but is valid ISO 8601
  (``T`` or space, a fraction, ``Z`` or an offset) is rewritten in the column's format; an
  offset becomes UTC when the format has none. What the format cannot hold (a fraction, a
  time of day in a date column, an offset-less value for a format with TZH:TZM) is a
  ``Refusal``: the record is rejected saying so, never silently truncated.

Only a value its column's rule already refused is looked at, so valid records never pay.
The validator asks ``coerce_value`` also when coercion is off, to say in the reason that
``--coerce`` would have fixed the value.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bulkload.contract.formats import DateFormat
from bulkload.contract.schema import Column, ColumnType

_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


_PATTERNS = {
    "integer": r"[+-]?[0-9]+",
    # a number as JSON writes it (exponent allowed), or with a leading "+"
    "number": r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?",
    "iso_8601": r"(?P<Y>[0-9]{4})-(?P<M>[0-9]{2})-(?P<D>[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?"
    r"(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
}


@functools.cache
def _pattern(name: str) -> re.Pattern[str]:
    """Compiled on first use: most loads never coerce, and start-up is every load's cost."""
    return re.compile(_PATTERNS[name])


_MAX_DIGITS = 60  # longer "numbers" are not a value a column could hold: no conversion


# Plain classes, not dataclasses: a dataclass costs milliseconds of every start-up.


class Converted:
    """The value to check instead of the one given, and what to send for it (a number
    converted from text is checked as its text and sent as a JSON number)."""

    __slots__ = ("sent", "value")

    def __init__(self, value: Any, sent: Any = None) -> None:
        self.value = value
        self.sent = sent

    @property
    def to_send(self) -> Any:
        return self.value if self.sent is None else self.sent

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Converted) and (self.value, self.sent) == (other.value, other.sent)

    def __repr__(self) -> str:
        return f"Converted({self.value!r}, {self.sent!r})"


class Refusal:
    """The value is meant as this type, but converting it would lose something."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Refusal({self.reason!r})"


def coerce_value(
    column: Column, date_format: DateFormat | None, value: Any
) -> Converted | Refusal | None:
    """What ``--coerce`` makes of ``value`` for ``column``; None: nothing it can do."""
    if not isinstance(value, str):
        return None
    kind = column.type
    if kind is ColumnType.INTEGER:
        text = value.strip()
        if _pattern("integer").fullmatch(text) is not None and len(text) <= 20:
            return Converted(int(text))
        return None
    if kind is ColumnType.NUMERIC:
        return _number(value)
    if kind is ColumnType.BOOLEAN:
        found = _BOOLEAN_TEXT.get(value.strip().lower())
        return None if found is None else Converted(found)
    if kind in (ColumnType.DATE, ColumnType.TIMESTAMP) and date_format is not None:
        return _moment(value.strip(), date_format)
    return None


def _number(value: str) -> Converted | None:
    text = value.strip()
    if len(text) > _MAX_DIGITS or _pattern("number").fullmatch(text) is None:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    plain = format(number, "f")
    if plain.startswith("-") and not number:
        plain = plain[1:]
    return Converted(plain, orjson.Fragment(plain))  # every digit as written


def _moment(text: str, fmt: DateFormat) -> Converted | Refusal | None:
    found = _pattern("iso_8601").fullmatch(text)
    if found is None:
        return None
    fraction = found.group("f") or ""
    try:
        moment = datetime(
            int(found.group("Y")),
            int(found.group("M")),
            int(found.group("D")),
            int(found.group("h") or 0),
            int(found.group("m") or 0),
            int(found.group("s") or 0),
            int(fraction[:6].ljust(6, "0")),
            tzinfo=_zone(found.group("tz")),
        )
    except ValueError:
        return None  # not a real date or time: the column's own reason says it better
    if fraction[6:].strip("0"):
        return Refusal(f"its fraction of a second .{fraction} is finer than microseconds")
    tokens = fmt.tokens
    if moment.tzinfo is not None and "TZH:TZM" not in tokens:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    elif moment.tzinfo is None and "TZH:TZM" in tokens:
        return Refusal(f"it has no UTC offset, which format {fmt.text} needs (add Z or +HH:MM)")
    lost = _lost_parts(moment, tokens)
    if lost:
        return Refusal(
            f"its {lost} cannot be held by format {fmt.text} (never truncated: use a format "
            "that holds it, or fix the value)"
        )
    rewritten = fmt.format(moment)
    return Converted(rewritten) if fmt.matches(rewritten) else None


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("Z", "z"):
        return UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _lost_parts(moment: datetime, tokens: tuple[str, ...]) -> str | None:
    """The first part of ``moment`` a format with ``tokens`` would drop, if it is not zero."""
    if moment.microsecond and "FF" not in tokens:
        return "fraction of a second"
    if moment.second and "SS" not in tokens:
        return "seconds"
    if (moment.minute and "MI" not in tokens) or (moment.hour and "HH24" not in tokens):
        return "time of day"
    if not {"YYYY", "MM", "DD"} <= set(tokens):
        return "date"
    return None
