"""Reasons that tell the user what is wrong: NaN/Infinity, a CSV column named twice, and the
lazily registered CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bulkload.cli import cli
from bulkload.config import LoadConfig
from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.errors import InputError
from bulkload.pipeline.run import load

SCHEMA = TableSchema.from_json(
    {
        "tableName": "t",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "ratio", "type": "numeric"},
            {"name": "meta", "type": "json"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)
NAN_REASON = "not valid JSON: NaN/Infinity are not JSON numbers"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ratio":NaN}',
        b'{"ratio":Infinity}',
        b'{"ratio":-Infinity}',
        b'{"meta":[1,NaN]}',
        b'{"id":1,"meta":{"x":-Infinity}}',
    ],
)
def test_nan_and_infinity_are_named_in_the_reason(raw: bytes) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.check_raw(raw)
    assert caught.value.reason.startswith(NAN_REASON)
    [outcome] = VALIDATOR.check_raw_many([raw])
    assert isinstance(outcome, RecordInvalid) and outcome.reason == caught.value.reason


@pytest.mark.parametrize("raw", [b'{"ratio":Nope}', b'{"ratio":"NaN"}', b'{"meta":"Infinity",}'])
def test_other_problems_do_not_blame_nan(raw: bytes) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.check_raw(raw)
    assert NAN_REASON not in caught.value.reason


SURROGATE_REASON = "not valid JSON: a string holds a lone surrogate escape"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"meta":"a\\ud800b"}',
        b'{"meta":{"k":"\\uDFFF"}}',
        b'{"id":1,"meta":["\\ud83d"]}',  # a high half whose low half never comes
        b'{"ID":1,"META":"\\ud800"}',  # keys in another case: the renaming path
    ],
)
def test_a_lone_surrogate_escape_is_named_not_called_truncated(raw: bytes) -> None:
    # msgspec calls it "Input data was truncated", which sends a user to look for a cut file
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.check_raw(raw)
    reason = caught.value.reason
    assert "surrogate" in reason and "truncated" not in reason, reason
    [outcome] = VALIDATOR.check_raw_many([raw])
    assert isinstance(outcome, RecordInvalid) and outcome.reason == caught.value.reason


@pytest.mark.parametrize(
    "raw", [b'{"meta":"\\ud83d\\ude00', b'{"meta":"ab', b'{"meta":"\\ud83d\\ude00"}x']
)
def test_truncated_or_otherwise_broken_records_around_surrogate_pairs_are_not_blamed_on_them(
    raw: bytes,
) -> None:
    with pytest.raises(RecordInvalid) as caught:
        VALIDATOR.check_raw(raw)
    assert SURROGATE_REASON not in caught.value.reason
    assert VALIDATOR.check_raw(b'{"meta":"\\ud83d\\ude00"}')  # a whole pair is a character


def test_strings_holding_nan_are_plain_strings_in_a_json_column() -> None:
    assert VALIDATOR.check_raw(b'{"meta":"NaN"}') == b'{"meta":"NaN"}'


def test_nan_in_a_csv_json_field_is_named() -> None:
    with pytest.raises(RecordInvalid, match="NaN/Infinity are not JSON numbers"):
        VALIDATOR.csv_encoder(["id", "meta"])(["1", "[1, NaN]"])


def test_a_csv_column_named_twice_says_so_without_blaming_unknown_columns() -> None:
    [problem] = VALIDATOR.csv_header_problems(["id", "ratio", "id"])
    assert "'id' twice" in problem
    assert "name each column once" in problem
    assert "unknown" not in problem


class _SchemaOnlyApi:
    """Knows the table; any ingest is a test failure (a refused header sends nothing)."""

    async def get_table(self, name: str) -> TableSchema:
        return SCHEMA

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        raise AssertionError("nothing may be sent for a refused header")


async def _load_csv(tmp_path: Path, header: str) -> InputError:
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n1,2,3\n")
    config = LoadConfig(
        checkpoint_path=tmp_path / "cp", rejects_path=tmp_path / "rejects.jsonl", progress=False
    )
    with pytest.raises(InputError) as caught:
        await load("t", [path], config=config, client=_SchemaOnlyApi(), cwd=tmp_path)
    return caught.value


async def test_load_of_a_csv_naming_a_column_twice_gives_no_ignore_unknown_hint(
    tmp_path: Path,
) -> None:
    error = await _load_csv(tmp_path, "id,ratio,id")
    assert "'id' twice" in str(error)
    assert "--ignore-unknown-columns" not in str(error)


async def test_load_of_a_csv_with_an_unknown_column_keeps_the_hint(tmp_path: Path) -> None:
    error = await _load_csv(tmp_path, "id,ratio,zz")
    assert "unknown column 'zz'" in str(error)
    assert "--ignore-unknown-columns" in str(error)


def test_help_lists_every_command_and_each_one_loads_on_demand() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1]
    for name in ("demo", "emulator", "load", "tables"):
        assert f"  {name} " in listed
    load_help = CliRunner().invoke(cli, ["load", "--help"])
    assert load_help.exit_code == 0 and "--max-bad-records" in load_help.output


def test_the_coerce_hint_is_given_only_where_coerce_would_load_the_value() -> None:
    # "12.345" converts to a number but still has 3 digits after the point: --coerce would
    # refuse it too, so the reason must not suggest it; "yes" it would load.
    from bulkload.contract.schema import TableSchema
    from bulkload.contract.validate import RecordInvalid, RecordValidator

    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [
                {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
                {"name": "paid", "type": "boolean"},
            ],
        }
    )
    advising = RecordValidator(schema, coerce=False)
    coercing = RecordValidator(schema, coerce=True)
    reasons = {}
    for raw in (b'{"amount":"12.345"}', b'{"paid":"yes"}'):
        try:
            advising.check_raw(raw)
        except RecordInvalid as exc:
            reasons[raw] = exc.reason
    assert "--coerce" not in reasons[b'{"amount":"12.345"}']
    assert "--coerce would convert it" in reasons[b'{"paid":"yes"}']
    assert coercing.check_raw(b'{"paid":"yes"}') == b'{"paid":true}'
    try:
        coercing.check_raw(b'{"amount":"12.345"}')
    except RecordInvalid:
        pass
    else:
        raise AssertionError("--coerce loaded a value with 3 digits after the point")
