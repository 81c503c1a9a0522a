"""The validator, on every path, held to an independent reading of the contract at its edges.

The oracle is ``test_validate_oracle``'s (stdlib JSON, digits counted by moving the point
along the digit string, a token-by-token date reader). Here the values are generated *at*
the boundaries the contract's "Records and validation" section draws: digits just inside
and just past precision and scale, with leading and trailing zeros, `.5` and `5.`,
exponents, other scripts' digits, trailing newlines; values nested around MAX_JSON_DEPTH and
around where parsers give up (~1000 levels); a key given twice; names with a newline.

Every path must give the oracle's verdict: ``check_raw``; ``check_raw_many`` with the
record among valid neighbours, called from a shallow and from a deep Python stack (a
parser's own depth limit depends on it); the CSV conversion and ``check_object`` for text
values; and the emulator, which must also store the exact value.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_validate_oracle import (
    DIGITS,
    FOREIGN_DIGITS,
    MAX_DEPTH,
    deep_json,
    depth,
    oracle_accepts,
    plain_decimal,
    validator_accepts,
)

from bulkload.contract.nesting import MAX_JSON_DEPTH
from bulkload.contract.schema import Column, ColumnType, TableSchema, definition_problems
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.emulator.app import _Table
from bulkload.emulator.store import Store, row_encoder, row_reader

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Fewer kinds of value to draw from: fewer examples cover them.
FEW = settings(SETTINGS, max_examples=60)


def test_the_oracle_and_the_validator_share_the_depth_limit() -> None:
    assert MAX_DEPTH == MAX_JSON_DEPTH


# -- every path's verdict -----------------------------------------------------------------------


def _call_at_stack_depth(frames: int, call: Any) -> Any:
    """``call()`` from ``frames`` Python frames deeper than here."""
    if frames <= 0:
        return call()
    return _call_at_stack_depth(frames - 1, call)


def verdicts(columns: list[Column], raw: str, neighbour: str) -> dict[str, bool]:
    """Accepted or not, by path, for one record's JSON text."""
    schema = TableSchema("t", tuple(columns))
    validator = RecordValidator(schema)
    data = raw.encode(errors="surrogatepass")
    out: dict[str, bool] = {}
    try:
        validator.check_raw(data)
        out["check_raw"] = True
    except RecordInvalid:
        out["check_raw"] = False
    chunk = [neighbour.encode()] * 40
    for frames in (0, 600):  # 600: where a parser alone would run out of stack
        for at in (0, 17, 39):
            records = list(chunk)
            records[at] = data
            result = _call_at_stack_depth(frames, lambda r=records: validator.check_raw_many(r))
            out[f"check_raw_many at record {at}, {frames} frames deeper"] = not isinstance(
                result[at], RecordInvalid
            )
    table = _Table(schema, validator, row_reader(schema), row_encoder(schema))
    _, refused = table.to_rows([neighbour.encode(), data, neighbour.encode()])
    out["emulator"] = 1 not in {index for index, _ in refused}
    return out


def assert_every_path_agrees(columns: list[Column], raw: str, neighbour: str) -> None:
    expected = oracle_accepts(columns, raw)
    found = verdicts(columns, raw, neighbour)
    wrong = {path: verdict for path, verdict in found.items() if verdict is not expected}
    assert not wrong, (raw[:200], "oracle says", expected, "but", wrong)


def text_verdicts(column: Column, text: str) -> dict[str, bool]:
    """Accepted or not, for a text value arriving as a CSV field and as a Python str."""
    validator = RecordValidator(TableSchema("t", (column,)))
    out: dict[str, bool] = {}
    for path, check in (
        ("csv", lambda: validator.csv_encoder([column.name])([text])),
        ("check_object", lambda: validator.check_object({column.name: text})),
    ):
        try:
            check()
            out[path] = True
        except RecordInvalid:
            out[path] = False
    return out


# -- numeric at its boundaries ------------------------------------------------------------------


def _significant(draw: st.DrawFn, count: int, *, nonzero_first: bool, nonzero_last: bool) -> str:
    """``count`` digits; the first (last) not 0 where a zero there would not count."""
    if count == 0:
        return ""
    chars = draw(st.lists(st.sampled_from(DIGITS), min_size=count, max_size=count))
    if nonzero_first:
        chars[0] = draw(st.sampled_from(DIGITS[1:]))
    if nonzero_last:
        chars[-1] = draw(st.sampled_from(DIGITS[1:]))
    return "".join(chars)


@st.composite
def numeric_cases(draw: st.DrawFn) -> tuple[Column, str, bool]:
    """(column, value's JSON text, whether it is a JSON string) with digit counts at the
    column's limits."""
    if draw(st.integers(0, 4)) == 0:
        column = Column("n", ColumnType.NUMERIC)
        total = draw(st.sampled_from([1, 37, 38, 39, 40]))
        before = draw(st.integers(0, total))
        after = total - before
    else:
        precision = draw(st.integers(1, 38))
        scale = draw(st.integers(0, precision))
        column = Column("n", ColumnType.NUMERIC, precision=precision, scale=scale)
        room = precision - scale
        before = max(0, draw(st.sampled_from([0, 1, room - 1, room, room + 1])))
        after = max(0, draw(st.sampled_from([0, 1, scale - 1, scale, scale + 1])))
    whole = _significant(draw, before, nonzero_first=True, nonzero_last=False)
    fraction = _significant(draw, after, nonzero_first=False, nonzero_last=True)
    leading = "0" * draw(st.sampled_from([0, 0, 1, 2, 45]))
    trailing = "0" * draw(st.sampled_from([0, 0, 1, 3, 45]))
    sign = draw(st.sampled_from(["", "-", "+"]))
    quoted = draw(st.booleans())
    if quoted:
        # A plain decimal: `.5` and `5.` are allowed, leading zeros too.
        whole_text = leading + whole if draw(st.booleans()) or whole else ""
        point = "." if fraction or trailing or draw(st.booleans()) else ""
        text = sign + whole_text + point + fraction + trailing
        if not any(c in DIGITS for c in text):
            text += "0"
    else:
        # A JSON number: no leading zeros, no `.5`, maybe an exponent moving the point.
        sign = "-" if sign == "-" else ""
        whole_text = whole or "0"
        text = sign + whole_text + ("." + fraction + trailing if fraction or trailing else "")
        shift = draw(st.sampled_from([0, 0, 1, -1, 3, -38, 400]))
        if shift:
            digits_only = whole_text + fraction + trailing
            point = len(whole_text) + shift
            text = sign + "0." + digits_only + f"e{point}"
    oddity = draw(st.integers(0, 9))
    if oddity == 0 and quoted:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(FOREIGN_DIGITS)) + text[at:]
    elif oddity == 1 and quoted:
        text += draw(st.sampled_from(["\n", "\r\n", " "]))
    return column, text, quoted


@SETTINGS
@given(numeric_cases())
@example((Column("n", ColumnType.NUMERIC, 5, 2), "1.230", False))
@example((Column("n", ColumnType.NUMERIC, 5, 2), "007.5", True))
@example((Column("n", ColumnType.NUMERIC, 12, 2), "10.500", True))
@example((Column("n", ColumnType.NUMERIC, 3, 3), "0.001", False))
@example((Column("n", ColumnType.NUMERIC, 3, 2), "0.001", False))
@example((Column("n", ColumnType.NUMERIC, 3, 1), ".5", True))
@example((Column("n", ColumnType.NUMERIC, 3, 1), "5.", True))
@example((Column("n", ColumnType.NUMERIC), "1e38", False))
@example((Column("n", ColumnType.NUMERIC), "1e37", False))
@example((Column("n", ColumnType.NUMERIC), "1e-400", False))
@example((Column("n", ColumnType.NUMERIC), "\u0661", True))
@example((Column("n", ColumnType.NUMERIC), "1\n", True))
@example((Column("n", ColumnType.NUMERIC, 3, 3), "0e99999999999999999999", False))
@example((Column("n", ColumnType.NUMERIC), "0.000E-99999999999999999999", False))
def test_numeric_boundaries_agree_on_every_path(case: tuple[Column, str, bool]) -> None:
    column, text, quoted = case
    value = json.dumps(text) if quoted else text
    assert_every_path_agrees([column], f'{{"n":{value}}}', '{"n":null}')
    if quoted and text:  # "" in CSV is null
        expected = oracle_accepts([column], f'{{"n":{json.dumps(text)}}}')
        found = text_verdicts(column, text)
        assert found == {"csv": expected, "check_object": expected}, (text, column)


def test_the_contracts_own_examples() -> None:
    """The sentences of contract 2, one by one."""

    def accepts(precision: int | None, scale: int | None, value: str) -> bool:
        column = Column("n", ColumnType.NUMERIC, precision, scale)
        raw = f'{{"n":{value}}}'
        verdict = validator_accepts([column], raw)
        assert verdict is oracle_accepts([column], raw), raw
        return verdict

    assert accepts(5, 2, "1.230") and accepts(5, 2, '"007.5"')
    assert accepts(3, 3, "0.001") and not accepts(3, 2, "0.001")
    assert accepts(2, 1, '".5"') and accepts(2, 1, '"5."') and accepts(4, 2, '"-12.50"')
    assert not accepts(None, None, "1e38") and accepts(None, None, "1e37")
    assert plain_decimal("1e400")[0] == "1" + "0" * 400  # 401 digits before the point
    assert plain_decimal("1e-400")[1] == "0" * 399 + "1"  # 400 after it


def test_the_emulator_stores_the_exact_value_in_plain_decimal(tmp_path: Any) -> None:
    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [
                {"name": "a", "type": "numeric", "precision": 12, "scale": 2},
                {"name": "b", "type": "numeric"},
            ],
        }
    )
    validator = RecordValidator(schema)
    table = _Table(schema, validator, row_reader(schema), row_encoder(schema))
    sent = [
        ('{"a":10.500,"b":1e37}', ("10.5", "1" + "0" * 37)),
        ('{"a":0e99999999999999999999,"b":"-0.000"}', ("0", "0")),  # past Decimal's exponent
        ('{"a":".5","b":"5."}', ("0.5", "5")),
        (
            '{"a":"007.5","b":0.1000000000000000055511151231257827}',
            ("7.5", "0.1000000000000000055511151231257827"),
        ),
        ('{"a":1.2e3,"b":-0.000001}', ("1200", "-0.000001")),
    ]
    rows, refused = table.to_rows([raw.encode() for raw, _ in sent])
    assert not refused
    store = Store(tmp_path / "e.sqlite")
    try:
        store.create_table(schema)
        store.insert_rows(schema, rows)
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "e.sqlite") as db:
        stored = db.execute('select a, b from "t"').fetchall()
    for (raw, (a, b)), (got_a, got_b) in zip(sent, stored, strict=True):
        # The value exactly (no float on the way), written out in plain decimal.
        assert (got_a, got_b) == (a, b), raw
        with contextlib.suppress(InvalidOperation):  # Decimal refuses 0e99999999999999999999
            record = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
            assert Decimal(got_a) == Decimal(record["a"]) and Decimal(got_b) == Decimal(record["b"])


# -- dates, names, keys -------------------------------------------------------------------------


@FEW
@given(
    st.sampled_from(["YYYY-MM-DD", "YYYY-MM-DD HH24:MI:SS", 'YYYY-MM-DD"T"HH24:MI:SS.FF']),
    st.sampled_from(["2024-02-29", "2023-02-29", "2024-12-31 23:59:59", "2024-12-31T23:59:59.5"]),
    st.sampled_from(["", "", "\n", "\r\n", " ", "\u0660", "Z"]),
    st.sampled_from([None, "\u0662", "\uff10"]),
    st.integers(0, 30),
)
def test_dates_match_whole_on_every_path(
    fmt: str, text: str, tail: str, foreign: str | None, at: int
) -> None:
    if foreign is not None and at < len(text) and text[at] in DIGITS:
        text = text[:at] + foreign + text[at + 1 :]
    value = text + tail
    column = Column("d", ColumnType.TIMESTAMP, date_format=fmt)
    raw = f'{{"d":{json.dumps(value)}}}'
    assert_every_path_agrees([column], raw, '{"d":null}')
    expected = oracle_accepts([column], raw)
    assert text_verdicts(column, value) == {"csv": expected, "check_object": expected}


def name_accepted(name: str) -> bool:
    """The contract's ^[A-Za-z_][A-Za-z0-9_]{0,127}$ matched whole, read character by character."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    return (
        1 <= len(name) <= 128
        and name[0] in letters
        and all(c in letters or c in DIGITS for c in name[1:])
    )


@pytest.mark.parametrize(
    "name",
    [
        "v",
        "_",
        "v\n",
        "v\r\n",
        "\nv",
        "v ",
        "a" * 128,
        "a" * 129,
        "a" * 127 + "\n",
        "é",
        "v1",
        "1v",
        "\u0661",
        "v\u0661",
        "",
        "v$",
    ],
)
def test_names_match_whole(name: str) -> None:
    column_problems = definition_problems(
        {"tableName": "t", "columns": [{"name": name, "type": "string"}]}
    )
    table_problems = definition_problems(
        {"tableName": name, "columns": [{"name": "c", "type": "string"}]}
    )
    assert (not column_problems) is name_accepted(name), column_problems
    assert (not table_problems) is name_accepted(name), table_problems


@st.composite
def duplicate_key_records(draw: st.DrawFn) -> str:
    spellings = ['"n"', '"\\u006e"', '"\\u006E"']
    values = st.sampled_from(["1", '"2"', "null", '"a:b"', '[1,{"n":1}]'])
    members = [f"{draw(st.sampled_from(spellings))}:{draw(values)}" for _ in range(2)]
    members += [f'"j":{draw(values)}' for _ in range(draw(st.integers(0, 2)))]
    order = draw(st.permutations(members))
    space = draw(st.sampled_from(["", " ", "\n"]))
    return "{" + ("," + space).join(order) + "}"


@FEW
@given(duplicate_key_records())
def test_a_key_given_twice_fails_on_every_path(raw: str) -> None:
    columns = [Column("n", ColumnType.JSON), Column("j", ColumnType.JSON)]
    assert not oracle_accepts(columns, raw)
    assert_every_path_agrees(columns, raw, '{"n":1,"j":2}')


# -- nesting around the limit -------------------------------------------------------------------


@FEW
@given(deep_json(), st.sampled_from(["hot", "slow", "string column"]))
def test_nesting_is_judged_alike_on_every_path(value: str, shape: str) -> None:
    columns = [Column("m", ColumnType.JSON), Column("s", ColumnType.STRING)]
    raw = {
        "hot": f'{{"m":{value}}}',
        # An escaped colon sends the record through the slow path's parsers.
        "slow": f'{{"s":"\\u003a","m":{value}}}',
        "string column": f'{{"s":{value}}}',
    }[shape]
    assert_every_path_agrees(columns, raw, '{"m":[1],"s":"x"}')
    # A CSV field holding the value; and the parsed value, where the stdlib can parse it.
    column = columns[0]
    expected = _value_depth_ok(value)
    validator = RecordValidator(TableSchema("t", (column,)))
    try:
        validator.csv_encoder(["m"])([value])
        csv_verdict = True
    except RecordInvalid:
        csv_verdict = False
    assert csv_verdict is expected
    try:
        parsed = json.loads(value)
    except RecursionError:
        return
    try:
        validator.check_object({"m": parsed})
        object_verdict = True
    except RecordInvalid:
        object_verdict = False
    assert object_verdict is expected


def _value_depth_ok(value: str) -> bool:
    opened = closed = deepest = level = 0
    in_string = escaped = False
    for char in value:  # a character walk, independent of the validator's regexes
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            opened += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
            closed += 1
    assert opened == closed
    return deepest <= MAX_DEPTH


def test_depth_limit_is_exact_and_named_in_the_reason() -> None:
    validator = RecordValidator(TableSchema("t", (Column("m", ColumnType.JSON),)))
    at_limit = b'{"m":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}"
    past_it = b'{"m":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}"
    assert validator.check_raw(at_limit) == at_limit
    assert depth(json.loads(at_limit)["m"]) == MAX_JSON_DEPTH
    with pytest.raises(RecordInvalid) as caught:
        validator.check_raw(past_it)
    assert f"more than {MAX_JSON_DEPTH} levels" in caught.value.reason
    assert "MAX_JSON_DEPTH" in caught.value.reason
    bulk = validator.check_raw_many([at_limit, past_it] * 10)
    assert [isinstance(v, RecordInvalid) for v in bulk] == [False, True] * 10
