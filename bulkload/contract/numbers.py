"""How the contract counts a number's digits (contract 2, "Records and validation").

Digits are counted on the value written out in plain decimal, exactly, never through a
binary float: leading zeros of the integer part and trailing zeros of the fraction do not
count, zeros right after the point do. So ``1.230`` and ``007.5`` fit numeric(5,2),
``0.001`` has 3 digits after the point, ``1e38`` has 39 digits and ``1e-400`` has 400.

The count works on the text alone (no Decimal, whose exponent stops near 10**18), so every
JSON number has an answer. The validator and ``--infer`` both count with ``digits_of``: a
column inferred from a sample always takes the sample.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

# Without precision and scale a value may have at most this many digits in all.
MAX_DIGITS = 38
# A string holding a plain decimal: optional sign, ASCII digits, at most one point, at least
# one digit (`-12.50`, `.5`, `5.`). Python's own number parsers also take other scripts'
# digits, so text is matched here before any of them sees it.
PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
# A JSON number or a plain decimal, in parts. Only for text already known to be one of them.
_NUMBER_PARTS = re.compile(
    r"[+-]?(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?(?:[eE](?P<exponent>[+-]?[0-9]+))?"
)
# int() refuses longer digit strings; an exponent this long puts any count past every
# limit, so it is counted as this (and ``DigitCount.capped`` says so).
_LONGEST_EXPONENT_TEXT = 4000
EXPONENT_CAP: int = 10**_LONGEST_EXPONENT_TEXT


class DigitCount(NamedTuple):
    """Digits of a value in plain decimal: ``before`` the point and ``after`` it."""

    before: int
    after: int

    @property
    def total(self) -> int:
        return self.before + self.after

    @property
    def capped(self) -> bool:
        """True when the exponent was too long to count exactly (the count is a floor)."""
        return self.before >= EXPONENT_CAP or self.after >= EXPONENT_CAP


_ZERO = DigitCount(0, 0)


def digits_of(text: str) -> DigitCount:
    """Count the digits of a JSON number or plain decimal written as ``text``.

    >>> digits_of("1.230"), digits_of("007.5"), digits_of("0.001"), digits_of("1e38")
    (DigitCount(before=1, after=2), DigitCount(before=1, after=1), \
DigitCount(before=0, after=3), DigitCount(before=39, after=0))

    Raises ValueError for text that is neither.
    """
    if "e" in text or "E" in text:
        parts = _NUMBER_PARTS.fullmatch(text)
        if parts is None:
            raise ValueError(f"not a number: {text!r}")
        whole, fraction, exponent_text = parts.group("whole", "fraction", "exponent")
        fraction = fraction or ""
    else:  # the common case, without a regex
        whole, _, fraction = (text[1:] if text[:1] in ("+", "-") else text).partition(".")
        exponent_text = ""
    digits = whole + fraction
    if not (digits.isdigit() and digits.isascii()):  # also refuses "", "1.2.3", "١"
        raise ValueError(f"not a number: {text!r}")
    # value = significant * 10**exponent, with no zeros at either end of ``significant``.
    coefficient = digits.lstrip("0")
    significant = coefficient.rstrip("0")
    if not significant:
        return _ZERO
    exponent = len(coefficient) - len(significant) - len(fraction)
    if exponent_text:
        if len(exponent_text) > _LONGEST_EXPONENT_TEXT:
            exponent += EXPONENT_CAP if exponent_text[0] != "-" else -EXPONENT_CAP
        else:
            exponent += int(exponent_text)
    return DigitCount(max(0, len(significant) + exponent), max(0, -exponent))


def plain_decimal(text: str) -> str:
    """The value of a JSON number or plain decimal written out in plain decimal, exactly:
    ``1.2e3`` -> ``1200``, ``.5`` -> ``0.5``, ``-0.000`` -> ``0``, ``1.230`` -> ``1.23``.

    For values the validator accepts (at most 38 digits, or zero with any exponent, which
    Decimal refuses past 10**18); raises ValueError for one with more digits than that.
    """
    digits = digits_of(text)  # also checks that ``text`` is a number
    if digits.total > MAX_DIGITS:
        raise ValueError(f"{text[:40]!r} has more than {MAX_DIGITS} digits")
    if not digits.total:
        return "0"
    mantissa = re.split("[eE]", text, maxsplit=1)[0]
    negative = mantissa[:1] == "-"
    significant = mantissa.lstrip("+-").replace(".", "").strip("0")
    # The significant digits, padded with zeros to ``before`` + ``after`` places.
    if digits.before >= len(significant):
        whole, fraction = significant + "0" * (digits.before - len(significant)), ""
    elif digits.before:
        whole, fraction = significant[: digits.before], significant[digits.before :]
    else:
        whole, fraction = "0", "0" * (digits.after - len(significant)) + significant
    return ("-" if negative else "") + whole + ("." + fraction if fraction else "")


def int_digits(value: int) -> DigitCount:
    """``digits_of`` for a Python int, without str()'s refusal past 4,300 digits."""
    magnitude = abs(value)
    if not magnitude:
        return DigitCount(0, 0)
    if magnitude.bit_length() < 64:
        return DigitCount(len(str(magnitude)), 0)
    return DigitCount(Decimal(magnitude).adjusted() + 1, 0)  # exact, whatever the size
