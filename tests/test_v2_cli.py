"""``bulkload solutions`` / ``bulkload objects`` / ``bulkload emulator --solution`` as processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

from loadkit import run_cli
from v2kit import SCHEMA_JSON, v2_emulator

KEY = "v2-cli-key-5678"
STARTUP_GUARD_S = 60


def bulkload(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkload", *args]


def api(url: str) -> list[str]:
    return ["--base-url", url, "--api-key", KEY]


async def test_solutions_list_table_and_json(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        code, out, err = await run_cli(bulkload("solutions", "list", *api(emu.url)))
        assert code == 0, err
        assert re.search(r"QP_OOTB\s+QP_\s+_OOTB", out) and "RAW" in out
        code, out, _ = await run_cli(bulkload("solutions", "list", "--json", *api(emu.url)))
        assert [s["solutionName"] for s in json.loads(out)] == ["QP_OOTB", "RAW"]
        assert KEY not in out


async def test_objects_list_and_get(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        code, out, err = await run_cli(
            bulkload("objects", "list", "--solution", "QP_OOTB", *api(emu.url))
        )
        assert code == 0, err
        assert "QP_CUSTOMER_OOTB" in out and "CUSTOMER_ID, UPDATED_AT" in out
        code, out, err = await run_cli(
            bulkload("objects", "get", "customer", "--solution", "QP_OOTB", *api(emu.url))
        )
        assert code == 0, err
        assert "table QP_CUSTOMER_OOTB" in out and "maxLength 64" in out
        assert re.search(
            r"UPDATED_AT\s+timestamp\s+no\s+yes\s+timestampFormat YYYY-MM-DD HH:MI:SS", out
        )
        code, out, _ = await run_cli(
            bulkload("objects", "get", "EVENT", "--solution", "QP_OOTB", "--json", *api(emu.url))
        )
        event = json.loads(out)
        assert event["tableName"] == "QP_EVENT_OOTB" and event["primaryKeys"] == []
        assert [c["dataType"] for c in event["columns"]] == [
            "integer",
            "float",
            "date",
            "json",
            "boolean",
        ]


async def test_unknown_solution_or_object_is_one_line_exit_1(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        code, _out, err = await run_cli(
            bulkload("objects", "list", "--solution", "NOPE", *api(emu.url))
        )
        assert code == 1 and err.count("\n") == 1 and "bulkload solutions list" in err
        code, _, err = await run_cli(
            bulkload("objects", "get", "NOPE", "--solution", "QP_OOTB", *api(emu.url))
        )
        assert code == 1 and "its objects: CUSTOMER, EVENT" in err and "Traceback" not in err


async def test_emulator_serves_solutions_from_a_schema_file_in_the_tables_type_spelling(
    tmp_path: Path,
) -> None:
    tolerant = {
        "tables": [
            {
                **{k: v for k, v in obj.items() if k != "tableName"},
                "columns": [
                    {("type" if k == "dataType" else k): v for k, v in c.items()}
                    for c in obj["columns"]
                ],
            }
            for obj in SCHEMA_JSON["objects"]
        ]
    }
    schema_file = tmp_path / "v2.json"
    schema_file.write_text(json.dumps(tolerant))
    proc = await asyncio.create_subprocess_exec(
        *bulkload("emulator", "--port", "0", "--api-key", KEY, "--db", str(tmp_path / "e.db"),
                  "--solution", "SC:SC_:", "--solution", "PLAIN", "--v2-schema", str(schema_file)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), STARTUP_GUARD_S)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        code, out, err = await run_cli(
            bulkload("objects", "list", "--solution", "SC", "--json", *api(url))
        )
        assert code == 0, err
        assert [o["tableName"] for o in json.loads(out)] == ["SC_CUSTOMER", "SC_EVENT"]
        code, out, err = await run_cli(
            bulkload("objects", "list", "--solution", "PLAIN", "--json", *api(url))
        )
        assert [o["tableName"] for o in json.loads(out)] == ["CUSTOMER", "EVENT"]
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), STARTUP_GUARD_S)


async def test_emulator_refuses_bad_v2_options_in_one_line(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(
        '{"objects": [{"objectName": "X", "columns": [{"name": "A", "dataType": "blob"}]}]}'
    )
    good_file = tmp_path / "good.json"
    good_file.write_text(json.dumps(SCHEMA_JSON))
    for args, text in (
        (["--solution", "A:B:C:D"], "NAME:PREFIX:SUFFIX"),
        (["--v2-schema", str(bad_file), "--solution", "S"], "'blob'"),
        (["--v2-schema", str(tmp_path / "missing.json"), "--solution", "S"], "cannot read"),
        (["--v2-schema", str(good_file)], "needs at least one --solution"),
    ):
        code, _, err = await run_cli(bulkload("emulator", "--port", "0", *args))
        assert code == 2 and text in err and err.count("\n") == 1, err
