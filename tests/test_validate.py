"""RecordValidator: every record rule of contract 2, on raw JSON, Python objects and CSV rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

SCHEMA = TableSchema.from_json(
    {
        "tableName": "orders",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "ratio", "type": "numeric"},
            {"name": "whole", "type": "numeric", "precision": 5},
            {"name": "fraction", "type": "numeric", "scale": 3},
            {"name": "cents", "type": "numeric", "precision": 2, "scale": 2},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
            {"name": "at_tz", "type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SSTZH:TZM"},
            {"name": "paid", "type": "boolean"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)
LENIENT = RecordValidator(SCHEMA, ignore_unknown_columns=True)


def raw_of(column: str, value_json: str) -> bytes:
    return b'{"%s":%s}' % (column.encode(), value_json.encode())


def rejection(raw: bytes, validator: RecordValidator = VALIDATOR) -> RecordInvalid:
    with pytest.raises(RecordInvalid) as caught:
        validator.check_raw(raw)
    return caught.value


ACCEPTED = [
    ("id", "0"),
    ("id", "-9223372036854775808"),
    ("id", "9223372036854775807"),
    ("id", "null"),
    ("amount", "1234567890.12"),
    ("amount", "12.50"),
    ("amount", '"-12.50"'),
    ("amount", '"+7"'),
    ("amount", '"0001234567890.1"'),  # leading zeros don't count
    ("amount", "0.5"),
    ("amount", "-0"),
    ("amount", "1.2e3"),  # 1200: 4 digits before, none after
    ("amount", "null"),
    ("amount", '"\\u0031.5"'),  # an escaped "1" is still "1.5"
    ("amount", "12.500"),  # trailing zeros of the fraction don't count (contract 2)
    ("amount", '"10.500000"'),
    ("amount", "1.230e1"),  # 12.3
    ("amount", '".5"'),  # a plain decimal: no digit before the point
    ("amount", '"5."'),  # nor after it
    ("amount", '"-.5"'),
    ("amount", '"0000000000000000000000000000000000000000007.5"'),
    ("amount", "1234567890.12000000000000000000000000000000000000000"),  # long, yet fits
    ("ratio", "1e37"),  # 38 digits
    ("ratio", "12345678901234567890123456789012345678"),  # 38 digits
    ("ratio", '"1.00000000000000000000000000000000000000"'),  # 1 digit, however written
    ("ratio", '"0.0000000000000000000000000000000000001"'),  # 37 digits after the point
    ("ratio", '"00000000000000000000000000000000000000000001"'),
    ("ratio", '".5"'),
    ("whole", "1.0"),  # no digit after the point once trailing zeros go
    ("whole", '"99999.000"'),
    ("whole", "99999"),
    ("whole", '"-99999"'),
    ("fraction", "12345678901234567890123456789012345.123"),  # precision 38 when only scale
    ("cents", "0.99"),
    ("cents", '"0.00"'),
    ("cents", "0"),
    ("day", '"2024-02-29"'),
    ("day", "null"),
    ("seen_at", '"2024-12-31T23:59:59"'),
    ("at_tz", '"2024-12-31 23:59:59-05:30"'),
    ("paid", "true"),
    ("paid", "false"),
    ("note", '""'),
    ("note", '"a\\u0000b: c"'),  # an escaped NUL is a legal JSON string
    ("note", '"caf\u00e9 \\"quoted\\""'),
    ("meta", "null"),
    ("meta", "1e999"),  # any JSON value, even one no double can hold
    ("meta", '{"a": [1, 2.5, {"b": null}], "a": 2}'),  # nested duplicates are JSON's business
    ("meta", '"text"'),
    ("meta", "123456789012345678901234567890"),
]


@pytest.mark.parametrize(("column", "value"), ACCEPTED)
def test_accepted_values_are_sent_unchanged(column: str, value: str) -> None:
    raw = raw_of(column, value)
    assert VALIDATOR.check_raw(raw) == raw


REJECTED = [
    ("id", "1.0", "expected an integer in the signed 64-bit range, got 1.0"),
    ("id", "1e3", "got 1e3"),
    ("id", '"1"', 'got "1"'),
    ("id", "true", "got true"),
    ("id", "9223372036854775808", "signed 64-bit range"),
    ("id", "-9223372036854775809", "signed 64-bit range"),
    ("id", "123456789012345678901234567890", "signed 64-bit range"),
    ("amount", "12.505", "12.505 has 3 digits after the point, numeric(12,2) allows 2"),
    ("amount", "0.001", "0.001 has 3 digits after the point"),  # zeros after the point count
    ("amount", "12345678901", "has 11 digits before the point, numeric(12,2) allows 10"),
    ("amount", '"1e3"', "plain decimal"),
    ("amount", '" 1"', "plain decimal"),
    ("amount", '"."', "plain decimal"),
    ("amount", '"1.2.3"', "plain decimal"),
    ("amount", '"\u0661\u0662"', "plain decimal"),  # Arabic-Indic digits: ASCII only
    ("amount", '"\uff11"', "plain decimal"),  # a fullwidth 1
    ("amount", '"1.5\\n"', "plain decimal"),  # nothing after the number, not even a newline
    ("amount", '"NaN"', "plain decimal"),
    ("amount", '""', "plain decimal"),
    ("amount", "true", "got true"),
    ("amount", "[1]", "got an array"),
    ("amount", "1.2e11", "has 12 digits before the point"),
    ("ratio", "123456789012345678901234567890123456789", "has 39 digits, at most 38"),
    ("ratio", "1e38", "1e38 has 39 digits, at most 38 are allowed"),
    ("ratio", "1e-400", "1e-400 has 400 digits"),
    ("ratio", "1e999", "1e999 has 1000 digits"),
    ("ratio", "1e99999999999999999999", "has 100000000000000000000 digits"),  # past Decimal
    (
        "ratio",
        '"0.000000000000000000000000000000000000001"',
        "has 39 digits",
    ),  # zeros right after the point count
    ("amount", "1e400", "1e400 has 401 digits before the point"),
    ("whole", "1.5", "numeric(5,0) allows 0"),
    ("whole", "123456", "numeric(5,0) allows 5"),
    ("fraction", "1.1234", "numeric(38,3) allows 3"),
    ("cents", "1.5", "numeric(2,2) allows 0"),
    ("day", '"2023-02-29"', '"2023-02-29" is not a real calendar date'),
    ("day", '"2024-04-31"', "not a real calendar date"),
    ("day", '"2024-1-01"', "expected a date in format YYYY-MM-DD"),
    ("day", "20240101", "expected a date"),
    ("seen_at", '"2024-01-01 10:00:00"', 'expected a timestamp in format YYYY-MM-DD"T"HH24:MI:SS'),
    ("seen_at", '"2024-01-01T24:00:00"', "expected a timestamp"),
    ("at_tz", '"2024-01-01 10:00:00+15:00"', "expected a timestamp"),
    ("at_tz", '"2024-01-01 10:00:00"', "expected a timestamp"),
    ("paid", "1", "expected true or false, got 1"),
    ("paid", '"true"', 'got "true"'),
    ("note", "5", "expected a string, got 5"),
    ("note", "{}", "got an object"),
]


@pytest.mark.parametrize(("column", "value", "reason"), REJECTED)
def test_rejected_values_name_the_column_and_the_rule(column: str, value: str, reason: str) -> None:
    problem = rejection(raw_of(column, value))
    assert problem.column == column
    assert str(problem) == problem.reason
    assert problem.reason.startswith(f"column {column!r}: ")
    assert reason in problem.reason
    assert "\n" not in problem.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id":', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"id":1} {"id":2}', "not valid JSON"),
        (b'{"ratio":NaN}', "not valid JSON"),
        (b'{"meta":Infinity}', "not valid JSON"),
        (b'{"meta":[1,NaN]}', "not valid JSON"),
        (b'{"note":"a\x00b"}', "not valid JSON"),  # a raw NUL must be escaped in JSON
        (b'{"note":"\xff"}', "not valid UTF-8"),
        (b'{"meta":"\xc3\x28"}', "not valid UTF-8"),  # unchecked by msgspec inside Raw
        (b'{"meta":"\\ud800"}', "not valid JSON"),  # lone surrogate
        (b'{"meta":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested more than 500 levels deep"),
        (b'{"meta":' + b"[" * 501 + b"]" * 501 + b"}", "MAX_JSON_DEPTH"),
        (b"[1,2]", "not a JSON object (got an array)"),
        (b'"text"', "not a JSON object (got a string)"),
        (b"null", "not a JSON object (got null)"),
        (b'{"id":1,"id":2}', "duplicate key 'id'"),
        (b'{"note":"a:b","note":"c"}', "duplicate key 'note'"),
        (b'{"note":"\\u003a","note":"\\u003a"}', "duplicate key 'note'"),
        (b'{"seen_at":"2024-01-01T00:00:00","seen_at":"2024-01-01T00:00:00"}', "duplicate key"),
        (b'{"meta":{"a:":1},"meta":1}', "duplicate key 'meta'"),
        (b'{"id" :1,"id": 2}', "duplicate key 'id'"),
        (b'{"ID":1}', "unknown column 'ID'"),  # keys are exact-case
        (b'{"x":1,"id":1,"y":2}', "unknown columns 'x', 'y'"),
    ],
)
def test_record_level_problems(raw: bytes, reason: str) -> None:
    assert reason in rejection(raw).reason


def test_the_first_problem_is_reported_with_a_count_of_the_rest() -> None:
    problem = rejection(b'{"id":1.5,"paid":1,"note":2}')
    assert problem.column == "id"
    assert problem.reason.endswith("(and 2 more problems)")


def test_whitespace_crlf_and_bom_are_stripped_from_a_line() -> None:
    assert VALIDATOR.check_raw(b'\xef\xbb\xbf  {"id": 1}  \r\n') == b'{"id": 1}'


def test_a_valid_record_is_returned_as_the_same_bytes_object() -> None:
    raw = b'{"id":1,"note":"x: y","seen_at":"2024-01-01T10:00:00","meta":{"k":1}}'
    assert VALIDATOR.check_raw(raw) is raw


def test_unknown_columns_are_dropped_when_ignored_keeping_values_as_written() -> None:
    raw = b'{"id": 1, "extra": [1, 2], "amount": 12.50, "meta": {"a" : 1}, "more": null}'
    sent = LENIENT.check_raw(raw)
    assert orjson.loads(sent) == {"id": 1, "amount": 12.5, "meta": {"a": 1}}
    assert b"12.50" in sent


def test_ignoring_unknown_columns_still_checks_the_known_ones() -> None:
    problem = rejection(b'{"extra":1,"id":"x"}', LENIENT)
    assert problem.column == "id"


def test_decode_returns_python_values_for_the_emulator() -> None:
    raw = (
        b'{"id":7,"amount":"-12.50","ratio":1e3,"day":"2024-02-29","paid":false,'
        b'"note":null,"meta":{"a":[1,2.5,1e999]}}'
    )
    assert VALIDATOR.decode(raw) == {
        "id": 7,
        "amount": Decimal("-12.50"),
        "ratio": Decimal("1E+3"),
        "day": "2024-02-29",
        "paid": False,
        "note": None,
        "meta": {"a": [1, 2.5, Decimal("1e999")]},
    }


def test_decode_keeps_numeric_digits_as_written_and_rejects_like_check_raw() -> None:
    assert VALIDATOR.decode(b'{"amount":12.50}')["amount"].as_tuple().exponent == -2
    with pytest.raises(RecordInvalid, match="column 'id'"):
        VALIDATOR.decode(b'{"id":1.5}')


def test_decode_with_ignored_unknown_columns_leaves_them_out() -> None:
    assert LENIENT.decode(b'{"id":1,"zz":2}') == {"id": 1}


# -- check_object -----------------------------------------------------------------------------


def test_check_object_serializes_parquet_like_python_types() -> None:
    tz = dt.timezone(dt.timedelta(hours=1))
    sent = VALIDATOR.check_object(
        {
            "id": 5,
            "amount": Decimal("12.50"),
            "ratio": Decimal("1E+3"),
            "whole": 12,
            "day": dt.date(2024, 2, 29),
            "seen_at": dt.datetime(2024, 1, 2, 3, 4, 5),
            "at_tz": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz),
            "paid": True,
            "note": "n",
            "meta": {"k": [1, None]},
            "cents": None,
        }
    )
    assert orjson.loads(sent) == {
        "id": 5,
        "amount": "12.50",
        "ratio": "1000",
        "whole": 12,
        "day": "2024-02-29",
        "seen_at": "2024-01-02T03:04:05",
        "at_tz": "2024-01-02 03:04:05+01:00",
        "paid": True,
        "note": "n",
        "meta": {"k": [1, None]},
    }
    assert VALIDATOR.check_raw(sent) == sent  # what check_object makes passes check_raw


@pytest.mark.parametrize(
    ("obj", "column", "reason"),
    [
        ({"id": True}, "id", "signed 64-bit range, got true"),
        ({"id": 1.0}, "id", "got 1.0"),
        ({"id": 2**63}, "id", "signed 64-bit range"),
        ({"id": Decimal(1)}, "id", "signed 64-bit range"),
        ({"amount": float("nan")}, "amount", "not a finite number"),
        ({"amount": Decimal("Infinity")}, "amount", "not a finite number"),
        ({"amount": Decimal("1.234")}, "amount", "has 3 digits after the point"),
        ({"amount": Decimal("1e999999999999999999")}, "amount", "digits before the point"),
        ({"ratio": 10**5000}, "ratio", "an integer of 5001 digits has 5001 digits"),
        ({"ratio": 1e-300}, "ratio", "has 300 digits"),
        ({"amount": "1e3"}, "amount", "plain decimal"),
        ({"day": "2023-02-29"}, "day", "not a real calendar date"),
        ({"day": dt.time(1, 2)}, "day", "expected a date as a string"),
        ({"at_tz": dt.datetime(2024, 1, 1)}, "at_tz", "no UTC offset"),
        ({"paid": 1}, "paid", "expected true or false"),
        ({"note": b"bytes"}, "note", "expected a string"),
        ({"meta": object()}, "meta", "cannot be written as JSON"),
        ({"meta": float("inf")}, "meta", "inf is not JSON"),
        ({"note": "\ud800"}, "note", "cannot be written as JSON"),
        ({"nope": 1}, "nope", "unknown column 'nope'"),
        ({1: 1}, "1", "unknown column '1'"),
    ],
)
def test_check_object_rejections(obj: dict[Any, Any], column: str, reason: str) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.check_object(obj)
    assert caught.value.column == column
    assert reason in caught.value.reason


def test_check_object_writes_json_integers_beyond_64_bits() -> None:
    sent = VALIDATOR.check_object({"meta": {"big": 2**70}, "id": 1})
    assert sent == b'{"meta":{"big": 1180591620717411303424},"id":1}'
    assert VALIDATOR.check_raw(sent) == sent


def test_check_object_refuses_non_objects_and_drops_unknown_when_ignored() -> None:
    with pytest.raises(RecordInvalid, match="not a JSON object"):
        VALIDATOR.check_object([1, 2])
    assert LENIENT.check_object({"id": 1, "zz": 2}) == b'{"id":1}'


# -- CSV --------------------------------------------------------------------------------------


def test_csv_row_becomes_typed_json() -> None:
    header = ["id", "amount", "paid", "meta", "day", "note", "ratio"]
    encode = VALIDATOR.csv_encoder(header)
    row = [
        "-42",
        "0012.50",
        "TRUE",
        '{"big": 123456789012345678901234567890}',
        "2024-02-29",
        "x",
        "",
    ]
    sent = encode(row)
    assert sent.startswith(b'{"id":-42,"amount":"0012.50","paid":true,')
    assert b"123456789012345678901234567890" in sent  # JSON text kept exactly
    assert b"ratio" not in sent  # empty field = null, key omitted
    assert VALIDATOR.check_raw(sent) == sent


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("False", False), ("1", True), ("0", False)]
)
def test_csv_booleans(text: str, value: bool) -> None:
    assert orjson.loads(VALIDATOR.csv_encoder(["paid"])([text])) == {"paid": value}


@pytest.mark.parametrize(
    ("column", "text", "reason"),
    [
        ("id", "1.0", "expected an integer"),
        ("id", " 1", "expected an integer"),
        ("id", "1_000", "expected an integer"),
        ("id", "١٢", "expected an integer"),  # int() would take these digits
        ("id", "9223372036854775808", "signed 64-bit range"),
        ("paid", "yes", "expected true, false, 1 or 0"),
        ("amount", "1e3", "plain decimal"),
        ("amount", "1.234", "has 3 digits after the point"),
        ("amount", "1.5\n", "plain decimal"),
        ("amount", "١٢", "plain decimal"),
        ("day", "2024-01-01\n", "expected a date"),
        ("meta", "not json", "not valid JSON"),
        ("meta", "[1,", "not valid JSON"),
        ("day", "2023-02-29", "not a real calendar date"),
    ],
)
def test_csv_conversion_failures(column: str, text: str, reason: str) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.csv_encoder([column])([text])
    assert caught.value.column == column
    assert reason in caught.value.reason


@pytest.mark.parametrize("row", [['"\ud800"', "", ""], ["", "\ud800", ""], ["", "", "\ud800"]])
def test_csv_lone_surrogates_are_rejected_with_a_writable_reason(row: list[str]) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.csv_encoder(["meta", "note", "day"])(row)
    caught.value.reason.encode()  # no UnicodeEncodeError when written to the rejects file


def test_csv_row_of_the_wrong_width_is_rejected() -> None:
    encode = VALIDATOR.csv_encoder(["id", "note"])
    with pytest.raises(RecordInvalid, match="row has 3 fields, header has 2"):
        encode(["1", "a", "b"])
    with pytest.raises(RecordInvalid, match="row has 1 fields, header has 2"):
        encode(["1"])


def test_csv_unknown_header_columns() -> None:
    header = ["id", "zz", "note", "id"]
    problems = VALIDATOR.csv_header_problems(header)
    assert any("unknown column 'zz'" in p for p in problems)
    assert any("'id' twice" in p for p in problems)
    with pytest.raises(RecordInvalid, match="'id' twice"):
        VALIDATOR.csv_encoder(header)(["1", "2", "3", "4"])
    assert LENIENT.csv_header_problems(["id", "zz"]) == []
    assert LENIENT.csv_encoder(["id", "zz", "note"])(["1", "junk", "n"]) == b'{"id":1,"note":"n"}'
    with pytest.raises(RecordInvalid, match="unknown column 'zz'"):
        VALIDATOR.csv_encoder(["id", "zz"])(["1", "2"])


def test_column_names_that_are_python_keywords_work() -> None:
    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [
                {"name": "class", "type": "integer"},
                {"name": "__init__", "type": "string"},
            ],
        }
    )
    validator = RecordValidator(schema)
    raw = b'{"class":1,"__init__":"x"}'
    assert validator.check_raw(raw) is raw
    assert validator.decode(raw) == {"class": 1, "__init__": "x"}
