"""The whole-column checks (contract/columncheck.py) never say yes where the rule says no.

Each check is a shortcut in front of a regex of the validator's bulk path (and, for dates,
its calendar check): whenever a check accepts a column, the regex it skips must accept it
too. The columns are drawn at the edges the checks work on: digits just inside and past
precision and scale, trailing zeros, signs, exponents, nulls and quoted numbers; dates
with every field at and past its range, Feb 29, year 0000, other separators, other widths,
other scripts' digits, quotes and backslashes. A check that accepted nothing would pass
that property, so the usual shapes must be accepted too.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bulkload.contract.columncheck import dates_check, numbers_check
from bulkload.contract.formats import compile_format
from bulkload.contract.numbers import MAX_DIGITS
from bulkload.contract.schema import Column, ColumnType
from bulkload.contract.validate import _days_exist, _fast_numeric_pattern, _NumericLimits

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = [(12, 2), (5, 2), (3, 0), (10, 5), (1, 0), (38, 0), (None, None)]


def _limits(precision: int | None, scale: int | None) -> _NumericLimits:
    column = Column("n", ColumnType.NUMERIC, precision=precision, scale=scale)
    return _NumericLimits.of(column)


digits = st.text("0123456789", min_size=1, max_size=14)
number_text = st.one_of(
    st.builds(
        lambda sign, whole, frac: sign + whole.lstrip("0").rjust(1, "0") + frac,
        st.sampled_from(["", "-"]),
        digits,
        st.one_of(st.just(""), digits.map(lambda d: "." + d)),
    ),
    st.sampled_from(["null", '"1.5"', "1e5", "1E-2", "0.10", "12.500", " 1.5", "-0"]),
)


@SETTINGS
@given(st.sampled_from(LIMITS), st.lists(number_text, min_size=1, max_size=6))
@example((12, 2), ["12345678901"])
@example((12, 2), ["1234567890", "1.234"])
@example((12, 2), ["-12345678901.5"])
@example((5, 2), ["1.2", "123.4", "1234.5"])
@example((3, 0), ["1.0"])
@example((None, None), ["1" * 39])
def test_a_number_column_it_accepts_the_regex_accepts(
    limits: tuple[int | None, int | None], texts: list[str]
) -> None:
    rule = _limits(*limits)
    check = numbers_check(rule.before, rule.after, MAX_DIGITS)
    values = [text.encode() for text in texts]
    joined = b"\n".join(values)
    if check is not None and check(values, joined):
        assert _fast_numeric_pattern(rule).fullmatch(joined) is not None, texts


def test_the_usual_number_columns_are_accepted() -> None:
    money = numbers_check(10, 2, MAX_DIGITS)
    assert money is not None
    values = [b"392852.40", b"-0.5", b"1234567890", b"7", b"0.01"]
    assert money(values, b"\n".join(values))
    unbounded = numbers_check(None, None, MAX_DIGITS)
    assert unbounded is not None
    values = [b"0.177295", b"-3", b"1" * 38]
    assert unbounded(values, b"\n".join(values))
    # the shapes it leaves to the regex
    assert not money([b"null"], b"null")
    assert not money([b"1.230"], b"1.230")  # trailing zero: the regex allows it
    assert not unbounded([b"1" * 39], b"1" * 39)


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
date_text = st.one_of(
    st.builds(
        lambda y, m, d: f"{y:04d}-{m}-{d}",
        st.integers(0, 9999),
        st.sampled_from(["00", "01", "02", "09", "10", "12", "13", "19"]),
        st.sampled_from(["00", "01", "28", "29", "30", "31", "32", "39"]),
    ),
    st.sampled_from(
        ["2021-1-028", "２021-11-28", '2021-11-2"', "2021-11-2\\", "2021/11/28", "2021-11-28 "]
    ),
)
time_text = st.builds(
    lambda hh, mi, ss: f"{hh}:{mi}:{ss}",
    st.sampled_from(["00", "09", "19", "23", "24", "29"]),
    two,
    two,
)


@SETTINGS
@given(
    st.sampled_from(["YYYY-MM-DD", "YYYY-MM-DD HH24:MI:SS", 'YYYY-MM-DD"T"HH24:MI:SS']),
    st.lists(st.tuples(date_text, st.sampled_from([" ", "T", "t", "_"]), time_text), min_size=1),
)
@example("YYYY-MM-DD", [("2021-02-29", " ", "00:00:00")])
@example("YYYY-MM-DD", [("0000-01-01", " ", "00:00:00")])
@example("YYYY-MM-DD HH24:MI:SS", [("2024-02-29", "T", "00:00:00")])
@example("YYYY-MM-DD HH24:MI:SS", [("2023-02-29", " ", "00:00:00")])
@example("YYYY-MM-DD HH24:MI:SS", [("2021-11-28", " ", "24:00:00")])
def test_a_date_column_it_accepts_the_format_accepts(
    text: str, parts: list[tuple[str, str, str]]
) -> None:
    fmt = compile_format(text)
    check = dates_check(fmt)
    assert check is not None
    if text == "YYYY-MM-DD":
        values = [day for day, _, _ in parts]
    else:
        values = [day + separator + clock for day, separator, clock in parts]
    joined = "\n".join(values)
    if check(joined, len(values)):
        assert fmt.many.fullmatch(joined) is not None, values
        assert _days_exist(values, joined, fmt), values


def test_the_usual_date_columns_are_accepted() -> None:
    day = dates_check(compile_format("YYYY-MM-DD"))
    stamp = dates_check(compile_format("YYYY-MM-DD HH24:MI:SS"))
    assert day is not None and stamp is not None
    assert day("2021-11-28\n2024-02-29\n0001-01-01\n9999-12-31", 4)
    assert stamp("2021-11-28 01:30:06\n2024-02-29 23:59:59", 2)
    assert not day("2023-02-29", 1)
    assert not stamp("2021-11-28T01:30:06", 1)  # not this format's separator
    # other formats are the regex's alone
    assert dates_check(compile_format("DD/MM/YYYY")) is None


def test_a_chunk_refused_at_its_last_number_is_decided_not_backtracked_for_ever() -> None:
    # The regex the checks fall back to: quoted amounts (no shortcut), each ending in 0 so
    # that "[0-9]{0,2}0*" can split it two ways, and the last one refused. Before the
    # values were made atomic this fullmatch backtracked through 2^1999 splits: make demo's
    # chunk with "12.345" last never came back. The thread is only a hang guard.
    import threading

    from bulkload.contract.schema import TableSchema
    from bulkload.contract.validate import RecordValidator

    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [{"name": "amount", "type": "numeric", "precision": 12, "scale": 2}],
        }
    )
    validator = RecordValidator(schema)
    raws = [b'{"amount":"%d.%d0"}' % (n, n % 10) for n in range(1999)]
    raws.append(b'{"amount":"12.345"}')
    verdicts: list[object] = []
    worker = threading.Thread(
        target=lambda: verdicts.extend(validator.check_raw_many(raws)), daemon=True
    )
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "check_raw_many did not come back"
    assert all(isinstance(verdict, bytes) for verdict in verdicts[:-1])
    assert not isinstance(verdicts[-1], bytes)
