"""Reasons grouped by kind: what was wrong, without the value that was wrong.

5,000 out-of-range amounts are one kind ("column 'amount': more digits before the point
than numeric(12,2) allows"), not 5,000 lines. The summary and ``rejected_by_reason`` show
the most frequent ``TOP_KINDS`` kinds and then how many more kinds there were; the rejects
file keeps every record's full reasons, values included.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable

TOP_KINDS = 20
MAX_KIND_CHARS = 160

_COLUMN = r"(?P<column>column '[^']*': )?"
_NOT_A_VALUE = (
    r".+? (?P<what>is not a real calendar \w+|is not a finite number|is not JSON)(?P<rest>.*)$"
)


class _Patterns:
    """Compiled on the first reject, not at import: most loads reject nothing."""

    def __init__(self) -> None:
        # "..., got <value>" ends most reasons; what comes after the value and says what to
        # do (a --coerce hint, why coercion refused) is kept.
        self.got_value = re.compile(
            r"(?:, got|: got| got ) .*?(?P<keep> \(--coerce would convert it\)|; not coerced: .*)?$"
        )
        self.rules: tuple[tuple[re.Pattern[str], str], ...] = (
            (
                re.compile(
                    _COLUMN + r".+? has \d+ digits (?P<where>before|after) the point, "
                    r"(?P<label>.+?) allows \d+(?P<rest>.*)$"
                ),
                r"\g<column>more digits \g<where> the point than \g<label> allows\g<rest>",
            ),
            (
                re.compile(_COLUMN + r".+? has \d+ significant digits, (?P<rest>.*)$"),
                r"\g<column>too many significant digits, \g<rest>",
            ),
            (re.compile(_COLUMN + _NOT_A_VALUE), r"\g<column>value \g<what>\g<rest>"),
            (re.compile(r"record is [0-9,]+ bytes; (?P<rest>.*)$"), r"record too large: \g<rest>"),
            (
                re.compile(r"row has \d+ fields, header has \d+$"),
                "row has a different number of fields than the header",
            ),
            (re.compile(r"not valid UTF-8: .*$"), "not valid UTF-8"),
        )
        self.positions = re.compile(
            r"\s*\((?:byte|char|line|column|position) \d+\)|\s*(?:at|in) (?:byte|position|line) \d+"
            r"(?: column \d+)?|\s*\(char \d+\)|: line \d+ column \d+"
        )
        self.more_problems = re.compile(r" \(and \d+ more problems?\)$")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


def reason_kind(reason: str) -> str:
    """``reason`` without the value it names: the key reasons are counted by."""
    patterns = _patterns()
    kind = patterns.more_problems.sub("", reason)
    for pattern, replacement in patterns.rules:
        found = pattern.match(kind)
        if found is not None:
            kind = found.expand(replacement)
            break
    kind = patterns.got_value.sub(lambda found: found.group("keep") or "", kind)
    kind = patterns.positions.sub("", kind)
    return kind[:MAX_KIND_CHARS]


def record_kinds(reason: str, problems: Iterable[str] | None = None) -> list[str]:
    """The kinds one rejected record counts under: one per distinct problem."""
    kinds = [reason_kind(problem) for problem in problems] if problems else [reason_kind(reason)]
    return list(dict.fromkeys(kinds))


def top_kinds(counts: Counter[str], top: int = TOP_KINDS) -> dict[str, int]:
    """The ``top`` most frequent kinds, then one "N more kinds" entry holding the rest's count."""
    ranked = counts.most_common()
    shown = dict(ranked[:top])
    rest = ranked[top:]
    if rest:
        noun = "kind" if len(rest) == 1 else "kinds"
        shown[f"{len(rest):,} more {noun}"] = sum(count for _, count in rest)
    return shown
