"""Reasons grouped by kind, without values (pipeline/reasons.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from bulkload.pipeline.reasons import reason_kind, record_kinds, top_kinds


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("column 'amount': 123456789012.5 has 12 digits before the point, numeric(12,2) "
         "allows 10", "column 'amount': more digits before the point than numeric(12,2) allows"),
        ("column 'id': expected an integer in the signed 64-bit range, got \"42\" (--coerce "
         "would convert it)",
         "column 'id': expected an integer in the signed 64-bit range (--coerce would convert it)"),
        ("column 'd': \"2024-02-30\" is not a real calendar date",
         "column 'd': value is not a real calendar date"),
        ("not valid JSON: invalid character (byte 12)", "not valid JSON: invalid character"),
        ("not valid UTF-8: byte 0xff at position 17", "not valid UTF-8"),
        ("column 'x': expected true or false, got 3 (and 2 more problems)",
         "column 'x': expected true or false"),
    ],
)  # fmt: skip
def test_kinds_drop_the_value(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_a_record_counts_once_under_each_distinct_problem_kind() -> None:
    problems = [
        "column 'a': expected true or false, got 1",
        "column 'a': expected true or false, got 2",
    ]
    assert record_kinds("whatever", problems) == ["column 'a': expected true or false"]


def test_top_kinds_then_how_many_more() -> None:
    counts = Counter({f"kind {i}": 100 - i for i in range(23)})
    shown = top_kinds(counts)
    assert list(shown)[:20] == [f"kind {i}" for i in range(20)]
    assert shown["3 more kinds"] == 80 + 79 + 78
    assert top_kinds(Counter({"a": 1})) == {"a": 1}
