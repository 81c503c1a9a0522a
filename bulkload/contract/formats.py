"""Date formats (contract 2): tokens -> one anchored regex plus a calendar post-check.

The regex already pins every field to its range (month 01-12, day 01-31, hour 00-23...), so
the only thing left to Python is "does this day exist in this month and year", and that can
only fail when the day is above 28: the common case never leaves the regex.

A format without a year (or month) names a real date when *some* year (or month) makes it
one: ``MM-DD`` accepts ``02-29`` because leap years exist.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

TOKEN_PATTERNS: dict[str, str] = {
    # Longest first, so "TZH:TZM" and "HH24" win over shorter readings of the same letters.
    "TZH:TZM": r"(?P<TZ>[+-](?:0[0-9]|1[0-4]):[0-5][0-9])",
    "HH24": r"(?P<H>[01][0-9]|2[0-3])",
    "YYYY": r"(?P<Y>(?!0000)[0-9]{4})",  # there is no year 0 in the Gregorian calendar
    "MM": r"(?P<M>0[1-9]|1[0-2])",
    "DD": r"(?P<D>0[1-9]|[12][0-9]|3[01])",
    "MI": r"(?P<MI>[0-5][0-9])",
    "SS": r"(?P<S>[0-5][0-9])",
    "FF": r"(?P<F>[0-9]{1,9})",
}
TOKENS = tuple(TOKEN_PATTERNS)
# The same shapes without named groups, so one pattern can repeat them (``DateFormat.many``).
_BARE_TOKEN_PATTERNS = {
    token: re.sub(r"\(\?P<\w+>", "(?:", pattern) for token, pattern in TOKEN_PATTERNS.items()
}
_TOKEN_WIDTH = {"TZH:TZM": 6, "HH24": 2, "YYYY": 4, "MM": 2, "DD": 2, "MI": 2, "SS": 2}
_HINTS = {"HH": "HH24", "TZH": "TZH:TZM", "TZM": "TZH:TZM", "YY": "YYYY", "MON": "MM"}
_TOKEN_LIST = " ".join(TOKENS)


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    is_token: bool


def _scan(fmt: str) -> tuple[list[_Piece], list[str]]:
    """Split a format into tokens and literal text, collecting every problem on the way."""
    pieces: list[_Piece] = []
    problems: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == '"':
            end = fmt.find('"', i + 1)
            if end < 0:
                problems.append(
                    f'unterminated quote at position {i + 1}: close the quoted text with "'
                )
                break
            pieces.append(_Piece(fmt[i + 1 : end], is_token=False))
            i = end + 1
            continue
        token = next((t for t in TOKENS if fmt.startswith(t, i)), None)
        if token is not None:
            if token in seen:
                problems.append(f"token {token} appears more than once")
            seen.add(token)
            pieces.append(_Piece(token, is_token=True))
            i += len(token)
            continue
        if char.isalpha():
            start = i
            while (
                i < len(fmt) and fmt[i].isalpha() and not any(fmt.startswith(t, i) for t in TOKENS)
            ):
                i += 1
            letters = fmt[start:i]
            advice = f"did you mean {_letters_fixed(letters)}?"
            problems.append(
                f"{letters!r} at position {start + 1} is not a token "
                f"(tokens: {_TOKEN_LIST}, uppercase); {advice}"
            )
            continue
        pieces.append(_Piece(char, is_token=False))
        i += 1
    return pieces, problems


def _letters_fixed(letters: str) -> str:
    """What a run of letters that is no token most likely meant: a misspelt token (HH for
    HH24), literal letters to quote ("T"), or literal letters glued to one ("T"HH24)."""
    if letters.upper() in TOKEN_PATTERNS:
        return letters.upper()  # tokens are uppercase
    hint = _HINTS.get(letters.upper())
    if hint is not None:
        return hint
    for split in range(1, len(letters)):
        hint = _HINTS.get(letters[split:].upper())
        if hint is not None:
            return f'"{letters[:split]}"{hint}'
    return f'"{letters}"'


def _fixed_format(fmt: str) -> str:
    """``fmt`` with every run of letters that is no token replaced by ``_letters_fixed``."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == '"':
            end = fmt.find('"', i + 1)
            end = len(fmt) - 1 if end < 0 else end
            out.append(fmt[i : end + 1])
            i = end + 1
            continue
        token = next((t for t in TOKENS if fmt.startswith(t, i)), None)
        if token is not None:
            out.append(token)
            i += len(token)
            continue
        start = i
        while i < len(fmt) and fmt[i].isalpha() and not any(fmt.startswith(t, i) for t in TOKENS):
            i += 1
        if i == start:
            out.append(fmt[i])
            i += 1
        else:
            out.append(_letters_fixed(fmt[start:i]))
    return "".join(out)


def format_problems(fmt: str) -> list[str]:
    """Every problem with a dateFormat string; an empty list means it is usable."""
    if not fmt:
        return ["dateFormat is empty: use tokens such as YYYY-MM-DD"]
    pieces, problems = _scan(fmt)
    if not problems and not any(p.is_token for p in pieces):
        problems.append(f"dateFormat {fmt!r} has no tokens (tokens: {_TOKEN_LIST})")
    if problems and '"' not in fmt:
        fixed = _fixed_format(fmt)
        if fixed != fmt and not _scan(fixed)[1]:
            problems.append(f"the whole format would then read {fixed}")
    for index, piece in enumerate(pieces):
        if piece.is_token and piece.text == "FF" and index + 1 < len(pieces):
            after = pieces[index + 1]
            if (after.is_token and after.text != "TZH:TZM") or (
                not after.is_token and after.text[:1].isdigit()
            ):
                problems.append(
                    "FF (1-9 digits) must be followed by a non-digit separator, TZH:TZM or the "
                    "end, else the fraction's length is ambiguous"
                )
    return problems


@dataclass(frozen=True, slots=True)
class DateFormat:
    """A compiled dateFormat: ``regex`` for shape and ranges, ``matches`` for the full rule."""

    text: str
    regex: str
    tokens: tuple[str, ...]
    # Where DD sits when everything before it has a fixed width; None otherwise.
    day_offset: int | None
    # Only a format with both DD and MM can name a day its month lacks.
    needs_calendar_check: bool
    # Characters of every matching text when all its tokens have a fixed width; else None.
    width: int | None
    # Fullmatches many values joined by "\n" (shape and ranges only, like ``regex``): one
    # regex call for a whole column of a chunk instead of one per value.
    many: re.Pattern[str] = field(repr=False, compare=False)
    _pattern: re.Pattern[str] = field(repr=False, compare=False)
    _pieces: tuple[_Piece, ...] = field(repr=False, compare=False)
    # One str.format call renders a datetime, unless an offset needs working out.
    _template: str | None = field(repr=False, compare=False)

    def matches(self, text: str) -> bool:
        """Shape and a real calendar date/time (Feb 29 only in leap years, ...)."""
        found = self._pattern.match(text)
        if found is None:
            return False
        if not self.needs_calendar_check:
            return True
        day = found.group("D")
        if day <= "28":
            return True
        month = int(found.group("M"))
        year_text = found.group("Y") if "YYYY" in self.tokens else None
        year = int(year_text) if year_text is not None else 2000  # any leap year will do
        return int(day) <= calendar.monthrange(year, month)[1]

    def day_is_risky(self, text: str) -> bool:
        """Cheap pre-test for text that already matched ``regex``: could its day not exist?"""
        if not self.needs_calendar_check:
            return False
        if self.day_offset is None:
            return True
        return text[self.day_offset : self.day_offset + 2] > "28"

    def format(self, value: date) -> str:
        """Render a date/datetime in this format (naive datetimes have no TZH:TZM)."""
        moment = (
            value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
        )
        if self._template is not None:
            return self._template.format(moment)
        parts: list[str] = []
        for piece in self._pieces:
            if not piece.is_token:
                parts.append(piece.text)
            elif piece.text == "YYYY":
                parts.append(f"{moment.year:04d}")
            elif piece.text == "MM":
                parts.append(f"{moment.month:02d}")
            elif piece.text == "DD":
                parts.append(f"{moment.day:02d}")
            elif piece.text == "HH24":
                parts.append(f"{moment.hour:02d}")
            elif piece.text == "MI":
                parts.append(f"{moment.minute:02d}")
            elif piece.text == "SS":
                parts.append(f"{moment.second:02d}")
            elif piece.text == "FF":
                parts.append(f"{moment.microsecond:06d}")
            else:  # TZH:TZM
                offset = moment.utcoffset()
                if offset is None:
                    raise ValueError(
                        f"has no UTC offset, which format {self.text} needs (TZH:TZM); "
                        "give it a timezone"
                    )
                minutes = int(offset.total_seconds()) // 60
                sign = "-" if minutes < 0 else "+"
                hours, minutes = divmod(abs(minutes), 60)
                parts.append(f"{sign}{hours:02d}:{minutes:02d}")
        return "".join(parts)


@lru_cache(maxsize=256)
def compile_format(fmt: str) -> DateFormat:
    """Compile a dateFormat; raises ValueError naming the problems if it has any."""
    problems = format_problems(fmt)
    if problems:
        raise ValueError(f"invalid dateFormat {fmt!r}: " + "; ".join(problems))
    pieces, _ = _scan(fmt)
    regex_parts: list[str] = []
    bare_parts: list[str] = []
    tokens: list[str] = []
    offset: int | None = 0
    day_offset: int | None = None
    for piece in pieces:
        if piece.is_token:
            tokens.append(piece.text)
            regex_parts.append(TOKEN_PATTERNS[piece.text])
            bare_parts.append(_BARE_TOKEN_PATTERNS[piece.text])
            if piece.text == "DD":
                day_offset = offset
            width = _TOKEN_WIDTH.get(piece.text)
            offset = None if offset is None or width is None else offset + width
        else:
            # [0-9] not \d: \d would admit other scripts' digits.
            regex_parts.append(re.escape(piece.text))
            bare_parts.append(re.escape(piece.text))
            offset = None if offset is None else offset + len(piece.text)
    # \Z, not $: $ would also accept a trailing newline.
    regex = r"\A" + "".join(regex_parts) + r"\Z"
    bare = "(?:" + "".join(bare_parts) + ")"
    return DateFormat(
        text=fmt,
        regex=regex,
        tokens=tuple(tokens),
        day_offset=day_offset,
        needs_calendar_check="DD" in tokens and "MM" in tokens,
        width=offset,
        many=re.compile(bare + r"(?:\n" + bare + r")*"),
        _pattern=re.compile(regex),
        _pieces=tuple(pieces),
        _template=None if "TZH:TZM" in tokens else _template(pieces),
    )


_FIELDS = {
    "YYYY": "{0.year:04d}",
    "MM": "{0.month:02d}",
    "DD": "{0.day:02d}",
    "HH24": "{0.hour:02d}",
    "MI": "{0.minute:02d}",
    "SS": "{0.second:02d}",
    "FF": "{0.microsecond:06d}",
}


def _template(pieces: list[_Piece]) -> str:
    return "".join(
        _FIELDS[p.text] if p.is_token else p.text.replace("{", "{{").replace("}", "}}")
        for p in pieces
    )
