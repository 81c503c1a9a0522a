"""``bulkload load OBJECT FILES --solution S`` end to end, through the CLI in a subprocess."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import run_cli
from v2fake import fake_v2
from v2kit import CUSTOMER_TABLE, EVENT_TABLE, SCHEMA_JSON, customer, v2_emulator

KEY = "v2-load-key-9876"


def v2_load(url: str, obj: str, data: Path, tmp_path: Path, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "bulkload", "load", obj, str(data), "--solution", "QP_OOTB",
        "--base-url", url, "--api-key", KEY, "--no-progress",
        "--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rejects.jsonl"),
        *options,
    ]  # fmt: skip


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_bytes(b"".join(r if isinstance(r, bytes) else orjson.dumps(r) + b"\n" for r in rows))
    return path


def rejects(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "rejects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_rows_are_normalized_upserted_and_client_rejects_named(tmp_path: Path) -> None:
    rows: list[Any] = [
        {"customer_id": f"C{i}", "Credit_Limit": "1.50", "UPDATED_AT": "2026-01-02 03:04:05"}
        for i in range(250)
    ]
    rows[10] = {"customer_id": "C10"}  # UPDATED_AT is not nullable
    rows[20] = {"CUSTOMER_ID": "C20", "UPDATED_AT": "2026-01-02 03:04:05"}  # CREDIT_LIMIT: null
    data = write_rows(tmp_path / "c.jsonl", rows)
    async with v2_emulator(tmp_path, KEY) as emu:
        code, out, err = await run_cli(
            v2_load(emu.url, "customer", data, tmp_path, "--max-records", "100")
        )
        assert code == 3, err
        assert "object CUSTOMER (table QP_CUSTOMER_OOTB) of solution QP_OOTB, UPSERT" in out
        assert "249 ingested, 1 rejected" in out and "overwrites" in out
        stored = {r["CUSTOMER_ID"]: r for r in emu.rows(CUSTOMER_TABLE)}
        assert len(stored) == 249 and stored["C20"]["CREDIT_LIMIT"] is None
        (reject,) = rejects(tmp_path)
        assert (
            reject["line"] == 11
            and "missing attribute 'UPDATED_AT', not nullable" in reject["reason"]
        )
        assert emu.stats()["v2"]["rows_failed"] == 0  # the client refused it before sending
        # the rerun sends nothing: every batch is acknowledged
        requests = emu.stats()["v2"]["ingests"]
        code, out, _ = await run_cli(
            v2_load(emu.url, "customer", data, tmp_path, "--max-records", "100")
        )
        # exit 3: a finished load rerun still reports the rejects it left (issue 10)
        assert code == 3 and emu.stats()["v2"]["ingests"] == requests


async def test_an_object_without_keys_appends_and_refuses_upsert(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "e.jsonl", [{"event_id": i, "score": i / 2} for i in range(30)])
    async with v2_emulator(tmp_path, KEY) as emu:
        code, out, err = await run_cli(
            v2_load(emu.url, "EVENT", data, tmp_path, "--operation", "upsert")
        )
        assert code == 2 and "--operation append" in err and err.count("\n") == 1
        code, out, err = await run_cli(v2_load(emu.url, "EVENT", data, tmp_path))
        assert code == 0, err
        assert "APPEND" in out and "overwrites" not in out
        assert len(emu.rows(EVENT_TABLE)) == 30


async def test_validate_only_writes_nothing_and_keeps_its_own_checkpoint(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(40)])
    async with v2_emulator(tmp_path, KEY) as emu:
        args = [
            sys.executable, "-m", "bulkload", "load", "CUSTOMER", str(data), "--solution",
            "QP_OOTB", "--base-url", emu.url, "--api-key", KEY, "--no-progress",
        ]  # fmt: skip
        code, out, err = await run_cli(
            [*args, "--validate-only"],
        )
        assert code == 0, err
        assert "validated (dry run on the server: nothing written)" in out
        assert emu.rows(CUSTOMER_TABLE) == [] and emu.stats()["v2"]["dry_runs"] == 1
        code, out, err = await run_cli(args)  # the real load is not "already done"
        assert code == 0, err
        assert len(emu.rows(CUSTOMER_TABLE)) == 40
        code, _, err = await run_cli([*args, "--validate-only", "--dry-run"])
        assert code == 2 and "not both" in err


async def test_a_changed_operation_does_not_resume_the_checkpoint(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(10)])
    async with v2_emulator(tmp_path, KEY) as emu:
        assert (await run_cli(v2_load(emu.url, "CUSTOMER", data, tmp_path)))[0] == 0
        code, _, err = await run_cli(
            v2_load(emu.url, "CUSTOMER", data, tmp_path, "--operation", "append")
        )
        assert code == 2 and "checkpoint" in err.lower(), err


async def test_up_to_2000_rows_per_request_for_v2_only(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(4000)])
    async with v2_emulator(tmp_path, KEY, v2_max_records=2000) as emu:
        code, _out, err = await run_cli(
            v2_load(emu.url, "CUSTOMER", data, tmp_path, "--max-records", "2000")
        )
        assert code == 0, err
        assert emu.stats()["v2"]["ingests"] == 2 and len(emu.rows(CUSTOMER_TABLE)) == 4000
        v1 = [sys.executable, "-m", "bulkload", "load", "t", str(data), "--base-url", emu.url,
              "--api-key", KEY, "--max-records", "2000"]  # fmt: skip
        code, _, err = await run_cli(v1)
        assert code == 2 and "1-500 for a table load" in err


TABLES_TYPE_SCHEMA = {
    "tables": [
        {
            "objectName": "CUSTOMER",
            "tableName": "QP_CUSTOMER_OOTB",
            "primaryKeys": ["CUSTOMER_ID"],
            "columns": [
                {
                    "name": "CUSTOMER_ID",
                    "type": "STRING",
                    "nullable": False,
                    "validations": [{"name": "nonNull"}, {"name": "maxLength", "value": 8}],
                },
                {"name": "CREDIT_LIMIT", "type": "Numeric", "precision": 12, "scale": 2},
                {
                    "name": "UPDATED_AT",
                    "type": "DATETIME",
                    "validations": [{"name": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS"}],
                },
            ],
        }
    ]
}
SOLUTIONS = [{"solutionName": "QP_OOTB", "prefix": "QP_", "suffix": "_OOTB"}]
ERROR = {
    "code": "DI_E_00777",
    "category": "BUSINESS",
    "column": "CREDIT_LIMIT",
    "message": "limit frozen",
}


def failing_row_2(shape: str) -> Any:
    def fail(rows: list[dict[str, Any]]) -> list[tuple[int, Any]]:
        for i, row in enumerate(rows):
            if row["CUSTOMER_ID"] == "C2":
                entry = {
                    "index+errors": {"index": i, "errors": [ERROR]},
                    "rowIndex+error": {"rowIndex": i, "error": ERROR},
                    "echoed-row+message": {"row": row, **ERROR},
                }[shape]
                return [(i, entry)]
        return []

    return fail


@pytest.mark.parametrize("shape", ["index+errors", "rowIndex+error", "echoed-row+message"])
async def test_failed_rows_in_each_shape_go_to_the_rejects_file(tmp_path: Path, shape: str) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(6)])
    async with fake_v2(KEY, TABLES_TYPE_SCHEMA, SOLUTIONS) as fake:
        fake.fail_rows = failing_row_2(shape)
        fake.with_counts = shape != "echoed-row+message"  # counts may be absent
        code, out, err = await run_cli(
            v2_load(fake.url, "CUSTOMER", data, tmp_path, "--max-records", "4")
        )
        assert code == 3, err
        assert "5 ingested, 1 rejected" in out
        (reject,) = rejects(tmp_path)
        assert reject["line"] == 3 and reject["record"]["CUSTOMER_ID"] == "C2"
        assert "DI_E_00777" in reject["reason"] and "BUSINESS" in reject["reason"]
        assert "limit frozen" in reject["reason"]
        assert sorted(r["CUSTOMER_ID"] for r in fake.stored) == ["C0", "C1", "C3", "C4", "C5"]
        assert fake.bodies[0] == {
            "solutionName": "QP_OOTB",
            "operationType": "UPSERT",
            "dryRun": False,
        }
        sent = fake.requests
        code, _, _ = await run_cli(
            v2_load(fake.url, "CUSTOMER", data, tmp_path, "--max-records", "4")
        )
        # acknowledged: never sent again; exit 3: its earlier rejects are still reported
        assert code == 3 and fake.requests == sent


async def test_a_failure_naming_no_row_is_recorded_not_dropped_not_resent(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(6)])
    async with fake_v2(KEY, TABLES_TYPE_SCHEMA, SOLUTIONS) as fake:
        fake.fail_rows = lambda rows: (
            [(-1, {"message": "one row broke a trigger"})] if len(rows) == 4 else []
        )
        code, out, err = await run_cli(
            v2_load(fake.url, "CUSTOMER", data, tmp_path, "--max-records", "4")
        )
        assert code == 3, err
        assert "1 of the rejected failed on the server without naming their row" in out
        assert "without the answer saying which" in err  # the warning
        (reject,) = rejects(tmp_path)
        assert reject["line"] is None and reject["lines"] == [1, 4] and reject["record"] is None
        assert "one row broke a trigger" in reject["reason"]
        sent = fake.requests
        code, _, _ = await run_cli(
            v2_load(fake.url, "CUSTOMER", data, tmp_path, "--max-records", "4")
        )
        assert code == 3 and fake.requests == sent  # the earlier reject still reported
        assert len(rejects(tmp_path)) == 1


async def test_validate_only_reports_every_failed_row(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(6)])
    async with fake_v2(KEY, TABLES_TYPE_SCHEMA, SOLUTIONS) as fake:
        fake.fail_rows = failing_row_2("index+errors")
        code, _out, err = await run_cli(
            v2_load(fake.url, "CUSTOMER", data, tmp_path, "--validate-only")
        )
        assert code == 3, err
        assert fake.stored == [] and fake.bodies[0]["dryRun"] is True
        assert [r["line"] for r in rejects(tmp_path)] == [3]


def test_schema_json_fixture_still_has_objects() -> None:
    assert "objects" in SCHEMA_JSON  # the emulator's own spelling; the fake serves 'tables'


async def test_resume_after_kill_9_with_upsert_stores_every_row_once(tmp_path: Path) -> None:
    import asyncio
    import signal

    import anyio

    count = 3000
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(count)])
    async with v2_emulator(tmp_path, KEY, latency_ms=20) as emu:
        args = v2_load(emu.url, "CUSTOMER", data, tmp_path, "--max-records", "50")
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        with anyio.fail_after(120):  # a hang guard, not a measurement
            await emu.wait_for_records_ingested(count // 3)
            # Hold the rest in the emulator (waiting requests re-read the knob): the load
            # cannot end before the kill, however late this process gets to send it.
            emu.set_faults(latency_ms=3_600_000)
            process.send_signal(signal.SIGKILL)
            await process.wait()
        landed_before = emu.stats()["records_ingested_total"]
        assert landed_before < count, "the kill came after the end: nothing to resume"
        emu.set_faults(latency_ms=20)  # the held requests end (and store) as the rerun starts
        code, out, err = await run_cli(args)
        assert code == 0, err
        assert re.search(r"[1-9][0-9,]* skipped \(done in an earlier run\)", out), out
        stored = [r["CUSTOMER_ID"] for r in emu.rows(CUSTOMER_TABLE)]
        assert sorted(stored) == sorted(f"C{i}" for i in range(count))  # each once
        # what a replay sent twice was overwritten, not duplicated
        assert emu.stats()["v2"]["rows_accepted"] >= count
