"""Parquet values the table (or Python) cannot hold, and Parquet files that cannot be read.

A value Python cannot hold (a timestamp, time or duration with nanoseconds; a date or
timestamp outside years 1-9999), a decimal with more digits than the column allows, NaN
or an infinity, a nested value for a scalar column: each refuses its record alone, with a
one-line reason naming the column and the value, whichever path (column at a time or row
by row) met it and whether the load has workers. A file that cannot be read at all is one
line naming it. Before, the first value Python could not hold ended the load with an
internal error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from bulkload.client.http import PeakClient  # noqa: E402
from bulkload.config import ApiConfig, LoadConfig, Secret  # noqa: E402
from bulkload.contract.arrowfast import ArrowChunkEncoder  # noqa: E402
from bulkload.contract.arrowrows import ArrowRows, UnheldValue  # noqa: E402
from bulkload.contract.schema import TableSchema  # noqa: E402
from bulkload.contract.validate import RecordInvalid, RecordValidator  # noqa: E402
from bulkload.pipeline.producer import Handover, Producer  # noqa: E402
from bulkload.pipeline.readers import discover_inputs, read_chunks  # noqa: E402
from tests.loadkit import run_cli  # noqa: E402

KEY = "parquet-values-key"
NANOS = 1_500_000_000_123_456_789  # 2017-07-14 02:40:00.123456789
YEAR_11476 = 300_000_000_000  # seconds since 1970
NANO_REASON = "has nanoseconds, finer than the microseconds a value can hold"
RANGE_REASON = "is outside the years 1-9999 a value can hold"

# column definition, Arrow array (row 0 fine, row 1 refused), row 1's reason
CASES: dict[str, tuple[dict[str, Any], Any, str]] = {
    "timestamp-ns": (
        {"type": "timestamp"},
        pa.array([1_500_000_000_123_456_000, NANOS], pa.timestamp("ns")),
        f"column 'v': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "timestamp-ns-utc": (
        {"type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM"},
        pa.array([0, NANOS], pa.timestamp("ns", tz="UTC")),
        f"column 'v': '2017-07-14 02:40:00.123456789Z' {NANO_REASON}",
    ),
    "timestamp-year-11476": (
        {"type": "timestamp"},
        pa.array([0, YEAR_11476], pa.timestamp("s")),
        f"column 'v': '11476-08-15 05:20:00' {RANGE_REASON}",
    ),
    "timestamp-year-minus-249": (
        {"type": "timestamp"},
        pa.array([0, -70_000_000_000], pa.timestamp("s")),
        f"column 'v': '-0249-10-15 19:33:20' {RANGE_REASON}",
    ),
    "timestamp-utc-year-11476": (
        {"type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM"},
        pa.array([0, YEAR_11476], pa.timestamp("s", tz="UTC")),
        f"column 'v': '11476-08-15 05:20:00Z' {RANGE_REASON}",
    ),
    "date32-year-10183": (
        {"type": "date"},
        pa.array([0, 3_000_000], pa.date32()),
        f"column 'v': '10183-09-21' {RANGE_REASON}",
    ),
    "date64-year-10183": (
        {"type": "date"},
        pa.array([0, 3_000_000 * 86_400_000], pa.date64()),
        f"column 'v': '10183-09-21' {RANGE_REASON}",
    ),
    "timestamp-ns-into-string": (
        {"type": "string"},
        pa.array([None, NANOS], pa.timestamp("ns")),
        f"column 'v': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "timestamp-ns-into-json": (
        {"type": "JSON"},
        pa.array([None, NANOS], pa.timestamp("ns")),
        f"column 'v': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    ),
    "time-ns-into-string": (
        {"type": "string"},
        pa.array([None, 1001], pa.time64("ns")),
        f"column 'v': '00:00:00.000001001' {NANO_REASON}",
    ),
    "struct-holding-year-11476-into-json": (
        {"type": "JSON"},
        pa.array([{"a": 0}, {"a": YEAR_11476}], pa.struct([("a", pa.timestamp("s"))])),
        f"column 'v': '11476-08-15 05:20:00' {RANGE_REASON}",
    ),
    "list-of-ns-durations-into-json": (
        {"type": "JSON"},
        pa.array([[], [2000, 1001]], pa.list_(pa.duration("ns"))),
        f"column 'v': '1001ns' {NANO_REASON}",
    ),
    "decimal-too-many-digits": (
        {"type": "numeric", "precision": 5, "scale": 2},
        pa.array([Decimal("1.00"), Decimal("123456.78")], pa.decimal128(10, 2)),
        "column 'v': 123456.78 has 6 digits before the point, numeric(5,2) allows 3",
    ),
    "float-nan": (
        {"type": "numeric"},
        pa.array([1.5, float("nan")], pa.float64()),
        "column 'v': nan is not a finite number",
    ),
    "float-infinity": (
        {"type": "numeric", "precision": 12, "scale": 2},
        pa.array([1.5, float("-inf")], pa.float64()),
        "column 'v': -inf is not a finite number",
    ),
    "float-nan-into-json": (
        {"type": "JSON"},
        pa.array([1.5, float("nan")], pa.float64()),
        "column 'v': nan is not JSON",
    ),
    "struct-into-string": (
        {"type": "string"},
        pa.array([None, {"a": 2}], pa.struct([("a", pa.int64())])),
        "column 'v': expected a string, got an object",
    ),
    # a string view has no take kernel, which the rows sent the slow way went through
    "string-view-not-a-date": (
        {"type": "date"},
        pa.array(["2024-01-01", "x"], pa.string_view()),
        "column 'v': expected a date in format YYYY-MM-DD, got \"x\"",
    ),
    "list-of-string-views-not-a-string": (
        {"type": "string"},
        pa.array([None, ["x"]], pa.list_(pa.string_view())),
        "column 'v': expected a string, got an array",
    ),
    "list-into-integer": (
        {"type": "integer"},
        pa.array([None, [2]], pa.list_(pa.int64())),
        "column 'v': expected an integer in the signed 64-bit range, got an array",
    ),
}


def _schema(name: str, column: dict[str, Any]) -> TableSchema:
    return TableSchema.from_json(
        {
            "tableName": name,
            "columns": [{"name": "id", "type": "integer"}, {"name": "v", **column}],
        }
    )


def _batch(values: Any) -> Any:
    return pa.record_batch([pa.array([0, 1], pa.int64()), values], names=["id", "v"])


@pytest.mark.parametrize("case", CASES)
def test_a_value_the_table_cannot_hold_refuses_its_record_alone(case: str) -> None:
    column, values, reason = CASES[case]
    validator = RecordValidator(_schema("t", column))
    rows = ArrowRows(_batch(values))
    good, bad = ArrowChunkEncoder(validator)(rows)
    assert isinstance(good, bytes)
    assert orjson.loads(good)["id"] == 0
    assert isinstance(bad, RecordInvalid)
    assert bad.reason == reason
    assert bad.column == "v"
    # the rows read as Python values too (what the rejects file writes), without raising
    assert [row["id"] for row in rows] == [0, 1]
    assert "\n" not in str(rows[1]["v"])


def test_a_refused_unheld_value_lists_the_records_other_problems_and_counts_nothing() -> None:
    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [
                {"name": "at", "type": "timestamp"},
                {"name": "n", "type": "integer"},
            ],
        }
    )
    validator = RecordValidator(schema, coerce=True, ignore_unknown_columns=True)
    batch = pa.record_batch(
        [
            pa.array([NANOS, NANOS, 0], pa.timestamp("ns")),
            pa.array(["x", "7", "8"]),  # "7" and "8" are coerced
            pa.array([1, 2, 3]),  # an unknown column, dropped
        ],
        names=["at", "n", "extra"],
    )
    first, second, third = ArrowChunkEncoder(validator)(ArrowRows(batch))
    assert isinstance(first, RecordInvalid) and isinstance(second, RecordInvalid)
    assert first.reason == (
        f"column 'at': '2017-07-14 02:40:00.123456789' {NANO_REASON} (and 1 more problem)"
    )
    assert len(first.problems) == 2 and "column 'n'" in first.problems[1]
    assert second.problems == (f"column 'at': '2017-07-14 02:40:00.123456789' {NANO_REASON}",)
    assert isinstance(third, bytes)
    # only the accepted record was coerced and had its unknown field dropped
    assert validator.records_coerced == 1
    assert validator.dropped_fields == {"extra": 1}


def test_nanoseconds_read_the_same_with_or_without_pandas() -> None:
    """A whole-microsecond ns value is a datetime, any other one an UnheldValue: read by
    bulkload itself, never by pyarrow's to_pylist (a pandas Timestamp when pandas is
    installed, which would drop the nanoseconds silently)."""
    from datetime import datetime

    rows = ArrowRows(
        pa.record_batch([pa.array([1_000, 1_001, None], pa.timestamp("ns"))], names=["t"])
    )
    first, second, third = (row["t"] for row in rows)
    assert type(first) is datetime and first.microsecond == 1
    assert isinstance(second, UnheldValue) and second == "1970-01-01 00:00:00.000001001"
    assert third is None


def test_a_sliced_batch_of_nested_values_reads_each_row_as_its_own() -> None:
    struct = pa.struct([("a", pa.timestamp("s")), ("b", pa.list_(pa.int64()))])
    batch = pa.record_batch(
        [
            pa.array([{"a": 0, "b": [1]}, {"a": YEAR_11476, "b": [2, 3]}, None], struct),
            pa.array([[("k", 0)], [("k", 3_000_000)], []], pa.map_(pa.string(), pa.date32())),
        ],
        names=["s", "m"],
    ).slice(1)
    first, second = list(ArrowRows(batch))
    assert first == {"s": {"a": "11476-08-15 05:20:00", "b": [2, 3]}, "m": [("k", "10183-09-21")]}
    assert second == {"s": None, "m": []}


# ---- through the CLI, with and without workers ---------------------------------------------

LOAD_COLUMNS = [
    {"name": "id", "type": "integer"},
    {"name": "at", "type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FF"},
    {"name": "day", "type": "date"},
    {"name": "amount", "type": "numeric", "precision": 5, "scale": 2},
    {"name": "ratio", "type": "numeric"},
    {"name": "meta", "type": "JSON"},
]
ROWS = 3_000  # two chunks
# row -> the reason it is refused for
REFUSED = {
    3: f"column 'at': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
    4: f"column 'day': '10183-09-21' {RANGE_REASON}",
    5: "column 'amount': 1234.50 has 4 digits before the point, numeric(5,2) allows 3",
    6: "column 'ratio': nan is not a finite number",
    7: "column 'ratio': inf is not a finite number",
    8: f"column 'meta': '11476-08-15 05:20:00.000' {RANGE_REASON}",
    2_500: f"column 'at': '2017-07-14 02:40:00.123456789' {NANO_REASON}",
}


def _write_values_file(path: Path) -> None:
    at = [1_500_000_000_000_000_000 + i * 1000 for i in range(ROWS)]
    day = [i % 20_000 for i in range(ROWS)]
    amount = [Decimal(f"{i % 900}.25") for i in range(ROWS)]
    ratio = [i / 7 for i in range(ROWS)]
    meta = [{"seen": i * 60} for i in range(ROWS)]
    at[3] = at[2_500] = NANOS
    day[4] = 3_000_000
    amount[5] = Decimal("1234.50")
    ratio[6], ratio[7] = float("nan"), float("inf")
    meta[8] = {"seen": YEAR_11476}
    table = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "at": pa.array(at, pa.timestamp("ns")),
            "day": pa.array(day, pa.date32()),
            "amount": pa.array(amount, pa.decimal128(9, 2)),
            "ratio": pa.array(ratio, pa.float64()),
            "meta": pa.array(meta, pa.struct([("seen", pa.timestamp("s"))])),
        }
    )
    pq.write_table(table, path, row_group_size=1_000)


@pytest.fixture
async def values_emulator(tmp_path: Path) -> Any:
    from bulkload.emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(api_keys=(KEY,), db_path=tmp_path / "emu.sqlite")
    async with run_emulator(config) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(KEY))) as client:
            await client.create_table(
                TableSchema.from_json({"tableName": "values", "columns": LOAD_COLUMNS})
            )
        yield emu


def _load(emu: Any, data: Path, run: Path, workers: str) -> list[str]:
    return [
        sys.executable, "-m", "bulkload", "load", "values", str(data), "--base-url", emu.url,
        "--api-key", KEY, "--no-progress", "--workers", workers, "--max-records", "100",
        "--checkpoint", str(run / "cp"), "--rejects", str(run / "rejects.jsonl"),
    ]  # fmt: skip


async def test_each_value_the_table_cannot_hold_is_a_reject_at_any_worker_count(
    values_emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "values.parquet"
    _write_values_file(data)
    rejects: dict[str, list[dict[str, Any]]] = {}
    for workers in ("0", "1"):
        run = tmp_path / f"w{workers}"
        run.mkdir()
        code, _out, err = await run_cli(_load(values_emulator, data, run, workers))
        assert code == 3, err  # some records refused, every other one landed
        assert "internal error" not in err and "Traceback" not in err
        lines = (run / "rejects.jsonl").read_bytes().splitlines()
        rejects[workers] = [orjson.loads(line) for line in lines]
        assert {entry["line"] - 1: entry["reason"] for entry in rejects[workers]} == REFUSED
        # the rejects file holds each refused record as read (Arrow's text of the value)
        by_row = {entry["line"] - 1: entry for entry in rejects[workers]}
        assert by_row[3]["record"]["at"] == "2017-07-14 02:40:00.123456789"
        stored = sorted(int(row["id"]) for row in values_emulator.rows("values"))
        landed = [i for i in range(ROWS) if i not in REFUSED]
        assert stored == sorted(landed * int(workers == "0") + landed * 2 * int(workers == "1"))
    assert rejects["1"] == rejects["0"]


def _produce(path: Path, workers: int) -> list[Any]:
    """Every batch body and reject the producer hands over, in order."""
    schema = TableSchema.from_json({"tableName": "values", "columns": LOAD_COLUMNS})
    config = LoadConfig(workers=workers, max_batch_records=137, max_batch_bytes=150_000)
    seen: list[Any] = []

    def hand_over(handover: Handover) -> None:
        for work in handover.works:
            reasons = [(r.line, r.reason) for r in work.read_rejects]
            seen.append((work.batch.seq, work.batch.body, reasons))

    Producer(
        "values", discover_inputs([str(path)]), schema, config, plan=None, hand_over=hand_over
    ).produce()
    return seen


def test_the_batches_are_the_same_bytes_with_and_without_workers(tmp_path: Path) -> None:
    data = tmp_path / "values.parquet"
    _write_values_file(data)
    alone = _produce(data, 0)
    assert len(alone) > 20
    assert sorted(line for entry in alone for line, _ in entry[2]) == [i + 1 for i in REFUSED]
    assert _produce(data, 1) == alone
    assert _produce(data, 2) == alone


# ---- files that cannot be read -------------------------------------------------------------


def _chunks(path: Path) -> Iterator[Any]:
    (input_file,) = discover_inputs([str(path)])
    return read_chunks(input_file)


@pytest.mark.parametrize("damage", ["truncated", "data-page"])
async def test_a_damaged_file_is_one_line_naming_it(
    values_emulator: Any, tmp_path: Path, damage: str
) -> None:
    good = tmp_path / "good.parquet"
    _write_values_file(good)
    raw = bytearray(good.read_bytes())
    data = tmp_path / "damaged.parquet"
    if damage == "truncated":
        data.write_bytes(raw[: len(raw) // 2])
    else:
        # garbage over the first row group's pages; the footer (metadata) stays whole
        start = 4 + 64
        raw[start : start + 4096] = bytes(range(256)) * 16
        data.write_bytes(bytes(raw))
    run = tmp_path / "run"
    run.mkdir()
    code, _out, err = await run_cli(_load(values_emulator, data, run, "0"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "damaged.parquet cannot be read as parquet" in lines[0]
    assert "internal error" not in err


def test_a_file_of_no_rows_and_a_resume_at_its_end_read_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), empty)
    assert list(_chunks(empty)) == []
    data = tmp_path / "three.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), data)
    (input_file,) = discover_inputs([str(data)])
    assert list(read_chunks(input_file, start=3)) == []


def test_rows_of_large_records_come_fewer_to_a_chunk(tmp_path: Path) -> None:
    """A chunk of 2,000 rows of 3 KB strings would hold 6 MB (times the copies a
    conversion makes); the reader cuts it near 1 MB instead, as a function of the file."""
    from bulkload.pipeline.readers.parquet import CHUNK_TARGET_BYTES

    wide = tmp_path / "wide.parquet"
    note = [f"{i:06d}" + "x" * 3_000 for i in range(3_000)]
    pq.write_table(pa.table({"note": note}), wide, row_group_size=3_000, compression="none")
    sizes = [len(chunk.items) for chunk in _chunks(wide)]
    assert sum(sizes) == 3_000
    assert max(sizes) < 2_000
    assert max(sizes) * 3_000 <= 2 * CHUNK_TARGET_BYTES
    assert [row["note"][:6] for chunk in _chunks(wide) for row in chunk.items][-1] == "002999"


def test_parquet_chunks_are_converted_in_the_loader_process() -> None:
    """A worker would import pyarrow (~90 MB) for a conversion cheaper than the hand-over:
    no worker process is started for Parquet chunks, whatever --workers says."""
    from bulkload.pipeline.chunkcheck import ChunkChecker
    from bulkload.pipeline.readers.chunks import ChunkKind
    from bulkload.pipeline.workers import ChunkPool

    validator = RecordValidator(_schema("t", {"type": "integer"}))
    pool = ChunkPool(ChunkChecker(validator), 2)
    try:
        rows = ArrowRows(_batch(pa.array([1, 2], pa.int64())))
        verdict = pool.submit(ChunkKind.OBJECTS, None, False, rows).verdict(lambda: False)
        assert verdict.outcomes == [b'{"id":0,"v":1}', b'{"id":1,"v":2}']
        assert pool.window == 0  # no executor: nothing was handed to a process
    finally:
        pool.close()


# ---- Arrow's allocator ---------------------------------------------------------------------

_POOL_PROBE = """
import os, sys
if sys.argv[2] == "imported-first":
    import pyarrow
from bulkload.pipeline.readers import discover_inputs, read_chunks
(input_file,) = discover_inputs([sys.argv[1]])
rows = sum(len(chunk.items) for chunk in read_chunks(input_file))
import pyarrow as pa
print(rows, pa.default_memory_pool().backend_name, "ARROW_DEFAULT_MEMORY_POOL" in os.environ)
"""


@pytest.mark.parametrize("setting", ["bulkload-first", "imported-first", "chosen"])
def test_the_system_allocator_only_when_no_one_chose_one(tmp_path: Path, setting: str) -> None:
    """mimalloc kept freed batches' pages (200k small records peaked at 150 MB against
    119): when bulkload brings pyarrow into a process whose pool no one chose, the
    process's default pool is the system allocator, and the environment is left as it
    was; a program that imported pyarrow first, or set ARROW_DEFAULT_MEMORY_POOL, keeps
    its own pool."""
    import os
    import subprocess

    data = tmp_path / "three.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64())}), data)
    env = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    plain = subprocess.run(
        [sys.executable, "-c", "import pyarrow; print(pyarrow.default_memory_pool().backend_name)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()[0]  # fmt: skip
    if setting == "chosen":
        env["ARROW_DEFAULT_MEMORY_POOL"] = "system" if plain != "system" else "mimalloc"
    probe = subprocess.run(
        [sys.executable, "-c", _POOL_PROBE, str(data), setting],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows, backend, variable_set = probe.stdout.split()
    assert rows == "3"
    if setting == "bulkload-first":
        assert (backend, variable_set) == ("system", "False")
    elif setting == "imported-first":
        assert (backend, variable_set) == (plain, "False")
    else:
        assert (backend, variable_set) == (env["ARROW_DEFAULT_MEMORY_POOL"], "True")
