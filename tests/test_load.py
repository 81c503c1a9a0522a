"""The load pipeline end to end, in process, against the emulator and its fault knobs."""

from __future__ import annotations

import bz2
import csv
import gzip
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from loadkit import virtual_time

from bulkload.client.http import IngestResult, PeakClient
from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator
from bulkload.errors import (
    AuthError,
    CheckpointMismatch,
    NotFound,
    RecordsRejected,
    TooManyBadRecords,
)
from bulkload.pipeline.run import load

KEY = "load-test-key"
TABLE = TableSchema.from_json(
    {
        "tableName": "orders",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "day", "type": "date"},
            {"name": "paid", "type": "boolean"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)


def record(i: int, note: str = "café 東京") -> dict[str, Any]:
    return {
        "id": i,
        "amount": f"{i % 1000}.25",
        "day": "2024-02-29",
        "paid": i % 2 == 0,
        "note": note,
        "meta": {"i": i},
    }


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    )
    return path


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with run_emulator(
        EmulatorConfig(api_keys=(KEY,), db_path=tmp_path / "emu.sqlite")
    ) as emu:
        api = ApiConfig(base_url=emu.url, api_key=Secret(KEY))
        async with PeakClient(api) as client:
            await client.create_table(TABLE)
        yield emu


def api_for(emu: Any) -> ApiConfig:
    return ApiConfig(base_url=emu.url, api_key=Secret(KEY))


def config(tmp_path: Path, **overrides: Any) -> LoadConfig:
    values: dict[str, Any] = {
        "progress": False,
        "checkpoint_path": tmp_path / "state" / "cp.jsonl",
        "rejects_path": tmp_path / "state" / "rejects.jsonl",
    }
    values.update(overrides)
    return LoadConfig(**values)


def ids_in(emu: Any) -> Counter[int]:
    return Counter(int(row["id"]) for row in emu.rows("orders"))


async def test_jsonl_load_lands_everything_and_balances(emulator: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(3000)])
    summary = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert summary.records_ingested == 3000
    assert summary.records_read == 3000 and summary.balanced and summary.finished
    assert summary.batches_sent == 6
    assert ids_in(emulator) == Counter(range(3000))


async def test_bad_records_go_to_rejects_with_reason_and_position(
    emulator: Any, tmp_path: Path
) -> None:
    lines = [orjson.dumps(record(i)) for i in range(10)]
    lines[3] = b'{"id": 1.5}'
    lines[5] = b"not json at all"
    lines[7] = b'{"id": 7, "colour": "red"}'
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    summary = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert (summary.records_ingested, summary.records_rejected) == (7, 3)
    rejects = [
        orjson.loads(line)
        for line in (tmp_path / "state" / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert sorted(r["line"] for r in rejects) == [4, 6, 8]
    by_line = {r["line"]: r for r in rejects}
    assert by_line[4]["record"] == {"id": 1.5} and "id" in by_line[4]["reason"]
    assert by_line[6]["record"] == "not json at all"
    assert "colour" in by_line[8]["reason"]
    assert all(r["source"].endswith("in.jsonl") for r in rejects)
    # a rerun of a finished load sends nothing and writes no reject twice
    batches_before = emulator.stats()["batches_ingested"]
    again = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert again.records_ingested == 0 and again.batches_sent == 0 and again.records_skipped >= 7
    assert len((tmp_path / "state" / "rejects.jsonl").read_bytes().splitlines()) == 3
    assert ids_in(emulator) == Counter(i for i in range(10) if i not in (3, 5, 7))
    assert emulator.stats()["batches_ingested"] == batches_before


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "amount", "day", "paid", "note", "meta"])
        for r in rows:
            writer.writerow(
                [
                    r["id"],
                    r["amount"],
                    r["day"],
                    "true" if r["paid"] else "false",
                    r["note"],
                    orjson.dumps(r["meta"]).decode(),
                ]
            )


@pytest.mark.parametrize(
    "kind", ["jsonl", "jsonl.gz", "jsonl.zst", "jsonl.bz2", "csv", "csv.gz", "json", "parquet"]
)
async def test_every_format_and_compression_lands(emulator: Any, tmp_path: Path, kind: str) -> None:
    rows = [record(i, note='line one\nline two, "quoted"') for i in range(1200)]
    path = tmp_path / f"in.{kind}"
    if kind.startswith("jsonl"):
        raw = b"\n".join(orjson.dumps(r) for r in rows) + b"\n"
    elif kind.startswith("csv"):
        plain = tmp_path / "plain.csv"
        _write_csv(plain, rows)
        raw = plain.read_bytes()
    elif kind == "json":
        raw = orjson.dumps(rows, option=orjson.OPT_INDENT_2)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(
            [{**r, "meta": orjson.dumps(r["meta"]).decode()} for r in rows]
        )
        pq.write_table(table, path, row_group_size=300)
        raw = b""
    if kind.endswith(".gz"):
        raw = gzip.compress(raw)
    elif kind.endswith(".zst"):
        raw = zstandard.ZstdCompressor().compress(raw)
    elif kind.endswith(".bz2"):
        raw = bz2.compress(raw)
    if raw:
        path.write_bytes(raw)
    summary = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert summary.records_rejected == 0, summary.rejected_by_reason
    assert ids_in(emulator) == Counter(range(1200))
    stored = {row["id"]: row for row in emulator.rows("orders")}
    assert stored[1]["note"] == 'line one\nline two, "quoted"'


async def test_limits_hold_with_multibyte_and_near_limit_records(
    emulator: Any, tmp_path: Path
) -> None:
    big = "é" * 249_990  # ~500 KB of two-byte characters
    records = [record(0, note=big), record(1, note=big), record(2, note="x" * 999_900)]
    records += [record(i, note="東" * 3000) for i in range(3, 1500)]
    records.append(record(9999, note="y" * 1_000_000))  # alone over 1 MB: rejected locally
    path = write_jsonl(tmp_path / "in.jsonl", records)
    summary = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert summary.records_rejected == 1
    assert "bytes" in next(iter(summary.rejected_by_reason))
    stats = emulator.stats()
    violations = stats.get("limit_violations", {})
    assert not any(violations.values()), violations
    assert stats["largest_body_bytes"] <= 1_000_000
    assert ids_in(emulator) == Counter(range(1500))


@pytest.mark.parametrize(
    "knobs",
    [
        {"throttle_rate": 0.3},
        {"fail_rate": 0.3},
        {"reset_rate": 0.2},
        {
            "latency_ms": 2,
            "jitter_ms": 5,
            "fail_rate": 0.05,
            "throttle_rate": 0.05,
            "reset_rate": 0.05,
        },
    ],
)
async def test_transient_faults_are_retried_until_everything_lands(
    emulator: Any, tmp_path: Path, knobs: dict[str, float]
) -> None:
    emulator.set_faults(**knobs)
    path = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(5000)])
    summary = await load(
        "orders",
        [path],
        api=api_for(emulator),
        config=config(tmp_path, max_batch_records=100),
        **virtual_time(),
    )
    assert summary.records_ingested == 5000 and summary.retries > 0
    if "throttle_rate" not in knobs:
        assert summary.throttled == 0
    elif knobs["throttle_rate"] >= 0.3:
        assert summary.throttled > 0  # 429s are counted apart from other retries
    assert ids_in(emulator) == Counter(range(5000))


async def test_answers_lost_after_commit_lose_nothing_and_are_reported(
    emulator: Any, tmp_path: Path
) -> None:
    emulator.set_faults(drop_after_commit_rate=0.2)
    path = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(5000)])
    summary = await load(
        "orders",
        [path],
        api=api_for(emulator),
        config=config(tmp_path, max_batch_records=100),
        **virtual_time(),
    )
    landed = ids_in(emulator)
    assert set(landed) == set(range(5000))
    duplicated_batches = sum(1 for count in landed.values() if count > 1) / 100
    assert summary.in_doubt_requests >= duplicated_batches > 0


class _HintlessApi:
    """Lets records the server refuses through client validation, and drops the server's
    per-record hints, so only bisection can find the bad records."""

    def __init__(self, client: PeakClient) -> None:
        self._client = client

    async def get_table(self, name: str) -> TableSchema:
        schema = await self._client.get_table(name)
        loose = tuple(
            Column(c.name, ColumnType.JSON) if c.name == "day" else c for c in schema.columns
        )
        return TableSchema(schema.name, loose)

    async def ingest(
        self, table: str, body: bytes, *, timeout_s: float | None = None
    ) -> IngestResult:
        try:
            return await self._client.ingest(table, body, timeout_s=timeout_s)
        except RecordsRejected as exc:
            raise RecordsRejected("refused", record_errors=[]) from exc


async def test_400_without_record_errors_is_bisected_to_the_bad_records(
    emulator: Any, tmp_path: Path
) -> None:
    rows: list[Any] = [record(i) for i in range(1000)]
    for bad in (17, 499, 500, 873):
        rows[bad]["day"] = "not a date"
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    async with PeakClient(api_for(emulator)) as client:
        summary = await load(
            "orders", [path], client=_HintlessApi(client), config=config(tmp_path), **virtual_time()
        )
    assert summary.records_rejected == 4 and summary.records_ingested == 996
    rejects = [
        orjson.loads(line)
        for line in (tmp_path / "state" / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert sorted(r["line"] for r in rejects) == [18, 500, 501, 874]
    assert set(ids_in(emulator)) == set(range(1000)) - {17, 499, 500, 873}


async def test_changed_input_refuses_resume_until_restart(emulator: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record(i) for i in range(100)])
    await load("orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time())
    write_jsonl(path, [record(i) for i in range(120)])
    with pytest.raises(CheckpointMismatch, match=r"in\.jsonl.*--restart"):
        await load(
            "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
        )
    summary = await load(
        "orders",
        [path],
        api=api_for(emulator),
        config=config(tmp_path, restart=True),
        **virtual_time(),
    )
    assert summary.records_ingested == 120
    with pytest.raises(CheckpointMismatch, match="max_batch_records"):
        await load(
            "orders",
            [path],
            api=api_for(emulator),
            config=config(tmp_path, max_batch_records=10),
            **virtual_time(),
        )


async def test_wrong_key_and_unknown_table_fail_fast(emulator: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record(1)])
    bad_key = ApiConfig(base_url=emulator.url, api_key=Secret("wrong-key-123"))
    with pytest.raises(AuthError) as auth:
        await load("orders", [path], api=bad_key, config=config(tmp_path), **virtual_time())
    assert "wrong-key-123" not in str(auth.value)
    with pytest.raises(NotFound, match="nosuch"):
        await load(
            "nosuch", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
        )
    assert ids_in(emulator) == Counter()


async def test_dry_run_sends_nothing_and_reports(emulator: Any, tmp_path: Path) -> None:
    rows: list[Any] = [record(i) for i in range(1200)]
    rows.append(b"{broken")
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    summary = await load(
        "orders",
        [path],
        api=api_for(emulator),
        config=config(tmp_path, dry_run=True),
        **virtual_time(),
    )
    assert summary.dry_run and summary.batches_planned == 3 and summary.records_rejected == 1
    assert summary.records_ingested == 0 and ids_in(emulator) == Counter()


async def test_max_bad_records_stops_the_run_with_a_clear_error(
    emulator: Any, tmp_path: Path
) -> None:
    rows: list[Any] = [b'{"id": "x"}'] * 50 + [record(i) for i in range(10)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(TooManyBadRecords, match="--max-bad-records"):
        await load(
            "orders",
            [path],
            api=api_for(emulator),
            config=config(tmp_path, max_bad_records=5),
            **virtual_time(),
        )


async def test_directory_of_files_loads_in_name_order_and_resumes_per_file(
    emulator: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(3):
        write_jsonl(folder / f"part-{part}.jsonl", [record(part * 700 + i) for i in range(700)])
    summary = await load(
        "orders", [folder], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert summary.records_ingested == 2100 and summary.batches_sent == 5
    assert ids_in(emulator) == Counter(range(2100))


async def test_csv_rejects_name_their_fields_and_wrong_widths_are_rejected(
    emulator: Any, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "id,amount,day,paid,note,meta\n"
        '1,1.50,2024-01-02,true,ok,"{""a"": 1}"\n'
        "abc,1.50,2024-01-02,true,bad id,\n"
        "3,1.50\n",
        encoding="utf-8",
    )
    summary = await load(
        "orders", [path], api=api_for(emulator), config=config(tmp_path), **virtual_time()
    )
    assert (summary.records_ingested, summary.records_rejected) == (1, 2)
    rejects = {
        r["line"]: r
        for r in map(orjson.loads, (tmp_path / "state" / "rejects.jsonl").read_bytes().splitlines())
    }
    assert rejects[3]["record"]["id"] == "abc" and rejects[3]["record"]["note"] == "bad id"
    assert "column 'id'" in rejects[3]["reason"]
    assert rejects[4]["record"] == ["3", "1.50"] and "fields" in rejects[4]["reason"]
