"""Parquet into Peak v2 objects: values Python cannot hold, and the dates and times it can.

A v2 load checks Parquet rows one by one (``V2RecordValidator.check_object`` on the rows
``arrowrows.rows_of`` reads). A value Python cannot hold (a timestamp, time or duration
with nanoseconds; a date or timestamp outside years 1-9999) comes as an ``UnheldValue``,
Arrow's text of it: the record alone is refused with v1's reason. Before, a string or
JSON attribute took that text as if it were the value and sent it, and a date or
timestamp attribute refused it for its shape. A date or datetime Python does hold is
written in the attribute's format (before, every one was refused: "expected a timestamp as
a string").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from bulkload.contract.arrowrows import ArrowRows  # noqa: E402
from bulkload.contract.v2schema import Solution, parse_schema  # noqa: E402
from bulkload.contract.v2validate import V2RecordValidator  # noqa: E402
from bulkload.contract.validate import RecordInvalid  # noqa: E402
from bulkload.emulator import EmulatorConfig, run_emulator  # noqa: E402
from tests.loadkit import run_cli  # noqa: E402

KEY = "parquet-v2-key"
SOLUTION = Solution(solution_name="PQ", prefix="PQ_", suffix="_V2")
NANOS = 1_500_000_000_123_456_789  # 2017-07-14 02:40:00.123456789
WHOLE = 1_500_000_000_000_000_000  # 2017-07-14 02:40:00
YEAR_11476 = 300_000_000_000  # seconds since 1970
NANO_REASON = "has nanoseconds, finer than the microseconds a value can hold"
RANGE_REASON = "is outside the years 1-9999 a value can hold"
SCHEMA = parse_schema(
    {
        "solutionName": "PQ",
        "objects": [
            {
                "objectName": "READING",
                "columns": [
                    {"name": "ID", "dataType": "integer", "nullable": False},
                    {"name": "NOTE", "dataType": "string"},
                    {"name": "META", "dataType": "json"},
                    {"name": "DAY", "dataType": "date"},
                    {"name": "AT", "dataType": "timestamp"},
                    {
                        "name": "AT_FMT",
                        "dataType": "timestamp",
                        "validations": [
                            {"type": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS"}
                        ],
                    },
                ],
            }
        ],
    },
    solution=SOLUTION,
)
READING = SOLUTION.place(SCHEMA.objects[0])

# attribute, Arrow array (row 0 held, row 1 not), what row 0 sends, row 1's reason
CASES: dict[str, tuple[str, Any, Any, str]] = {
    "timestamp-ns-into-timestamp": (
        "AT",
        pa.array([WHOLE, NANOS], pa.timestamp("ns")),
        "2017-07-14 02:40:00",
        f"column 'AT': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "timestamp-ns-utc-into-timestamp": (
        "AT",
        pa.array([WHOLE, NANOS], pa.timestamp("ns", tz="UTC")),
        "2017-07-14 02:40:00 +00:00",
        f"column 'AT': '2017-07-14 02:40:00.123456789Z' {NANO_REASON}",
    ),
    "timestamp-year-11476-into-formatted-timestamp": (
        "AT_FMT",
        pa.array([0, YEAR_11476], pa.timestamp("s")),
        "1970-01-01 00:00:00",
        f"column 'AT_FMT': '11476-08-15 05:20:00' {RANGE_REASON}",
    ),
    "date32-year-10183-into-date": (
        "DAY",
        pa.array([0, 3_000_000], pa.date32()),
        "1970-01-01",
        f"column 'DAY': '10183-09-21' {RANGE_REASON}",
    ),
    "date64-year-10183-into-date": (
        "DAY",
        pa.array([0, 3_000_000 * 86_400_000], pa.date64()),
        "1970-01-01",
        f"column 'DAY': '10183-09-21' {RANGE_REASON}",
    ),
    # the text of the value is a string: before, a string attribute sent it as the value
    "timestamp-ns-into-string": (
        "NOTE",
        pa.array([None, NANOS], pa.timestamp("ns")),
        None,
        f"column 'NOTE': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "time-ns-into-string": (
        "NOTE",
        pa.array([None, 1001], pa.time64("ns")),
        None,
        f"column 'NOTE': '00:00:00.000001001' {NANO_REASON}",
    ),
    "duration-ns-into-string": (
        "NOTE",
        pa.array([None, 1001], pa.duration("ns")),
        None,
        f"column 'NOTE': '1001ns' {NANO_REASON}",
    ),
    "timestamp-ns-into-json": (
        "META",
        pa.array([None, NANOS], pa.timestamp("ns")),
        None,
        f"column 'META': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "list-of-ns-durations-into-json": (
        "META",
        pa.array([[], [2000, 1001]], pa.list_(pa.duration("ns"))),
        [],
        f"column 'META': '1001ns' {NANO_REASON}",
    ),
    "struct-holding-year-11476-into-json": (
        "META",
        pa.array([{"a": None}, {"a": YEAR_11476}], pa.struct([("a", pa.timestamp("s"))])),
        {"a": None},
        f"column 'META': '11476-08-15 05:20:00' {RANGE_REASON}",
    ),
}


def _rows(attribute: str, values: Any) -> ArrowRows:
    # lower-case names, as an export would spell them: matched case-insensitively
    batch = pa.record_batch([pa.array([0, 1], pa.int64()), values], names=["id", attribute.lower()])
    return ArrowRows(batch)


def _outcome(validator: V2RecordValidator, row: dict[str, Any]) -> bytes | RecordInvalid:
    try:
        return validator.check_object(row)
    except RecordInvalid as exc:
        return exc


@pytest.mark.parametrize("case", CASES)
def test_a_value_python_cannot_hold_refuses_its_row_alone(case: str) -> None:
    attribute, values, sent, reason = CASES[case]
    validator = V2RecordValidator(READING)
    good, bad = (_outcome(validator, row) for row in _rows(attribute, values))
    assert isinstance(good, bytes)
    assert orjson.loads(good)[attribute] == sent
    assert isinstance(bad, RecordInvalid)
    assert (bad.reason, bad.column, bad.problems) == (reason, attribute, (reason,))


def test_an_unheld_value_is_listed_with_the_rows_other_problems() -> None:
    batch = pa.record_batch(
        [pa.array([None], pa.int64()), pa.array([NANOS], pa.timestamp("ns"))],
        names=["id", "at"],
    )
    (row,) = ArrowRows(batch)
    refused = _outcome(V2RecordValidator(READING), row)
    assert isinstance(refused, RecordInvalid)
    assert refused.problems == (
        "column 'ID': null, but the attribute is not nullable",
        f"column 'AT': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    )


def test_an_unheld_value_in_an_ignored_unknown_field_is_dropped_like_any_value() -> None:
    batch = pa.record_batch(
        [pa.array([7], pa.int64()), pa.array([NANOS], pa.timestamp("ns"))],
        names=["id", "extra"],
    )
    (row,) = ArrowRows(batch)
    sent = V2RecordValidator(READING, ignore_unknown_columns=True).check_object(row)
    assert orjson.loads(sent)["ID"] == 7 and "extra" not in orjson.loads(sent)
    refused = _outcome(V2RecordValidator(READING), row)
    assert isinstance(refused, RecordInvalid) and refused.reason.startswith("unknown field 'extra'")


def test_dates_and_times_python_holds_are_written_in_the_attributes_format() -> None:
    from datetime import date, datetime, timedelta, timezone

    validator = V2RecordValidator(READING)
    plus_two = timezone(timedelta(hours=2))
    sent = orjson.loads(
        validator.check_object(
            {
                "ID": 1,
                "DAY": date(2024, 2, 29),
                "AT": datetime(2024, 2, 29, 23, 59, 58, 5, tzinfo=plus_two),
                "AT_FMT": date(2024, 3, 1),  # a date into a timestamp: its midnight
            }
        )
    )
    assert (sent["DAY"], sent["AT"], sent["AT_FMT"]) == (
        "2024-02-29",
        "2024-02-29 23:59:58 +02:00",
        "2024-03-01 00:00:00",
    )
    naive = orjson.loads(validator.check_object({"ID": 2, "AT": datetime(2024, 1, 2, 3, 4, 5)}))
    assert naive["AT"] == "2024-01-02 03:04:05"
    refused = _outcome(
        validator,
        {"ID": 3, "AT": datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=14, minutes=30)))},
    )
    assert isinstance(refused, RecordInvalid)
    assert (
        refused.reason
        == "column 'AT': \"2024-01-02 00:00:00 +14:30\" has an offset of more than 14 hours"
    )


# ---- through the CLI, against the emulator's v2 API ------------------------------------------

ROWS = 1_200  # two chunks
# row -> the reason it is refused for
REFUSED = {
    2: f"column 'AT': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    3: f"column 'DAY': '10183-09-21' {RANGE_REASON}",
    4: f"column 'NOTE': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    5: f"column 'META': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    # Parquet has no seconds unit: a timestamp[s] is written as milliseconds
    6: f"column 'AT_FMT': '11476-08-15 05:20:00.000' {RANGE_REASON}",
    1_100: f"column 'AT': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
}


def _write_file(path: Path) -> None:
    at = [WHOLE + i * 1_000_000_000 for i in range(ROWS)]
    day = [i % 20_000 for i in range(ROWS)]
    note: list[int | None] = [None] * ROWS
    meta: list[list[int]] = [[WHOLE + i * 1000] for i in range(ROWS)]
    at_fmt = [i * 60 for i in range(ROWS)]
    at[2] = at[1_100] = NANOS
    day[3] = 3_000_000
    note[4] = NANOS
    meta[5] = [WHOLE, NANOS]
    at_fmt[6] = YEAR_11476
    table = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "note": pa.array(note, pa.timestamp("ns")),
            "meta": pa.array(meta, pa.list_(pa.timestamp("ns"))),
            "day": pa.array(day, pa.date32()),
            "at": pa.array(at, pa.timestamp("ns")),
            "at_fmt": pa.array(at_fmt, pa.timestamp("s")),
        }
    )
    pq.write_table(table, path, row_group_size=500)


async def test_each_value_python_cannot_hold_is_a_reject_of_the_v2_load(tmp_path: Path) -> None:
    data = tmp_path / "readings.parquet"
    _write_file(data)
    config = EmulatorConfig(
        api_keys=(KEY,),
        db_path=tmp_path / "emu.sqlite",
        v2_solutions=(SOLUTION,),
        v2_objects=SCHEMA.objects,
    )
    async with run_emulator(config) as emu:
        argv = [
            sys.executable, "-m", "bulkload", "load", "READING", str(data), "--solution", "PQ",
            "--base-url", emu.url, "--api-key", KEY, "--no-progress", "--max-records", "100",
            "--checkpoint", str(tmp_path / "cp"), "--rejects", str(tmp_path / "rejects.jsonl"),
        ]  # fmt: skip
        code, out, err = await run_cli(argv)
        assert code == 3, err  # some records refused, every other one landed
        assert "internal error" not in err and "Traceback" not in err
        assert f"{ROWS - len(REFUSED):,} ingested, {len(REFUSED)} rejected" in out
        lines = (tmp_path / "rejects.jsonl").read_bytes().splitlines()
        rejects = [orjson.loads(line) for line in lines]
        assert {entry["line"] - 1: entry["reason"] for entry in rejects} == REFUSED
        # the rejects file holds each refused record as read (Arrow's text of the value)
        by_row = {entry["line"] - 1: entry for entry in rejects}
        assert by_row[4]["record"]["note"] == "2017-07-14 02:40:00.123456789"
        stored = {int(row["ID"]): row for row in emu.rows(READING.table_name)}
        assert sorted(stored) == [i for i in range(ROWS) if i not in REFUSED]
        assert stored[0]["AT"] == "2017-07-14 02:40:00" and stored[0]["DAY"] == "1970-01-01"
        assert stored[1]["AT_FMT"] == "1970-01-01 00:01:00" and stored[1]["NOTE"] is None
        assert emu.stats()["v2"]["rows_failed"] == 0  # the client refused them before sending
