"""v2 row rules on the client: names matched and respelled, every key present, v2 types."""

from __future__ import annotations

import orjson
import pytest
from v2kit import CUSTOMER, EVENT

from bulkload.contract.v2schema import parse_schema
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordInvalid

OBJ = parse_schema(
    {
        "objects": [
            {
                "objectName": "THING",
                "columns": [
                    {
                        "name": "ID",
                        "dataType": "string",
                        "nullable": False,
                        "validations": [
                            {"type": "minLength", "value": 2},
                            {"type": "maxLength", "value": 4},
                        ],
                    },
                    {"name": "AT", "dataType": "timestamp"},
                    {
                        "name": "AT_TZ",
                        "dataType": "timestamp",
                        "validations": [
                            {"type": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS ±hh:mm"}
                        ],
                    },
                    {"name": "RATE", "dataType": "float"},
                    {"name": "AMOUNT", "dataType": "numeric", "precision": 5, "scale": 2},
                    {"name": "NOTE", "dataType": "string", "validations": [{"type": "mystery"}]},
                ],
            }
        ]
    },
    solution="S",
).objects[0]


def check(row: dict[str, object] | bytes, obj=OBJ) -> dict[str, object]:  # type: ignore[no-untyped-def]
    raw = row if isinstance(row, bytes) else orjson.dumps(row)
    return orjson.loads(V2RecordValidator(obj).check_raw(raw))


def refused(row: dict[str, object] | bytes, obj=OBJ) -> str:  # type: ignore[no-untyped-def]
    raw = row if isinstance(row, bytes) else orjson.dumps(row)
    with pytest.raises(RecordInvalid) as caught:
        V2RecordValidator(obj).check_raw(raw)
    return caught.value.reason


def test_a_row_in_the_schemas_spelling_with_every_key_is_sent_as_its_own_bytes() -> None:
    raw = b'{"CUSTOMER_ID":"C1","CREDIT_LIMIT":12.50,"UPDATED_AT":"2026-01-02 03:04:05"}'
    assert V2RecordValidator(CUSTOMER).check_raw(raw) is raw


def test_names_match_case_insensitively_and_go_out_in_the_schemas_spelling() -> None:
    sent = check({"id": "abc", "Rate": 1.5})
    assert sent == {
        "ID": "abc",
        "AT": None,
        "AT_TZ": None,
        "RATE": 1.5,
        "AMOUNT": None,
        "NOTE": None,
    }
    assert list(sent) == list(OBJ.column_names)  # every key, in the schema's order


def test_numbers_keep_their_digits_when_a_row_is_rebuilt() -> None:
    raw = b'{"id":"ab","amount":123.40,"rate":0.1000000000000000055511151231257827}'
    sent = V2RecordValidator(OBJ).check_raw(raw)
    assert b'"AMOUNT":123.40' in sent
    assert b'"RATE":0.1000000000000000055511151231257827' in sent


def test_a_missing_non_nullable_attribute_is_refused_by_name() -> None:
    assert refused({"RATE": 1}) == "missing attribute 'ID', not nullable"
    assert refused({"ID": None}) == "column 'ID': null, but the attribute is not nullable"


def test_lengths_count_code_points() -> None:
    assert check({"ID": "ééé"})["ID"] == "ééé"  # 3 code points, 6 bytes
    assert "maxLength is 4" in refused({"ID": "abcde"})
    assert "minLength is 2" in refused({"ID": "a"})


@pytest.mark.parametrize(
    "value", ["2026-01-02 23:59:59", "2026-01-02 00:00:00 +14:00", "2024-02-29 12:00:00 -05:30"]
)
def test_timestamps_without_a_format_take_an_offset_or_not(value: str) -> None:
    assert check({"ID": "ab", "AT": value})["AT"] == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2026-01-02 24:00:00", "format"),
        ("2023-02-29 12:00:00", "not a real calendar"),
        ("2026-01-02 10:00:00 +14:30", "more than 14 hours"),
        ("2026-01-02T10:00:00", "format"),
    ],
)
def test_bad_timestamps_are_refused(value: str, why: str) -> None:
    assert why in refused({"ID": "ab", "AT": value})


def test_a_timestamp_format_with_an_offset_requires_one() -> None:
    assert check({"ID": "ab", "AT_TZ": "2026-01-02 10:00:00 +01:00"})["AT_TZ"]
    assert "format" in refused({"ID": "ab", "AT_TZ": "2026-01-02 10:00:00"})


def test_float_takes_finite_numbers_only() -> None:
    assert check({"ID": "ab", "RATE": 3})["RATE"] == 3
    assert "expected a number" in refused({"ID": "ab", "RATE": "1.5"})
    assert "not a finite number" in refused(b'{"ID":"ab","RATE":1e999}')
    assert "expected a number" in refused({"ID": "ab", "RATE": True})


def test_unknown_validations_are_left_to_the_server() -> None:
    assert check({"ID": "ab", "NOTE": "anything"})["NOTE"] == "anything"


def test_unknown_fields_follow_the_v1_rules() -> None:
    assert "unknown field 'EXTRA'" in refused({"ID": "ab", "EXTRA": 1})
    lenient = V2RecordValidator(OBJ, ignore_unknown_columns=True)
    assert "EXTRA" not in orjson.loads(lenient.check_raw(b'{"ID":"ab","EXTRA":1}'))


def test_two_spellings_of_one_attribute_and_duplicate_keys_are_refused() -> None:
    assert "both name attribute 'ID'" in refused(b'{"ID":"ab","id":"cd"}')
    assert "duplicate key 'ID'" in refused(b'{"ID":"ab","ID":"cd"}')


def test_objects_and_csv_rows_go_the_same_way() -> None:
    validator = V2RecordValidator(EVENT)
    sent = orjson.loads(validator.check_object({"event_id": 7, "payload": {"a": [1]}}))
    assert sent == {"EVENT_ID": 7, "SCORE": None, "DAY": None, "PAYLOAD": {"a": [1]}, "FLAG": None}
    encode = validator.csv_encoder(["event_id", "score", "day", "flag"])
    assert orjson.loads(encode(["7", "2.5", "2026-01-02", "true"])) == {
        "EVENT_ID": 7,
        "SCORE": 2.5,
        "DAY": "2026-01-02",
        "PAYLOAD": None,
        "FLAG": True,
    }
    with pytest.raises(RecordInvalid, match="not nullable"):
        encode(["", "1", "", ""])
    assert validator.csv_header_problems(["score"]) == [
        "missing attribute 'EVENT_ID', not nullable"
    ]
