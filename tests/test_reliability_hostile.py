"""Every case of the hostile input catalogue (tests/hostile/) loads to its expected outcome:
a rejection with a reason, a one-line error for the whole file, or a clean load. Never a
traceback, never a hang, and the books always balance."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hostile.cases import CASES, SCHEMA_JSON, HostileCase, Outcome

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator
from bulkload.errors import BulkloadError, InputError, UsageError
from bulkload.pipeline.run import load

KEY = "hostile-key"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with run_emulator(EmulatorConfig(api_keys=(KEY,), db_path=tmp_path / "e.db")) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(KEY))) as client:
            await client.create_table(TableSchema.from_json(SCHEMA_JSON))
        yield emu


def landed(emu: Any) -> Counter[int]:
    return Counter(int(row["id"]) for row in emu.rows("hostile"))


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_hostile_input_gets_its_expected_outcome(
    emulator: Any, tmp_path: Path, case: HostileCase
) -> None:
    path = tmp_path / case.filename
    case.write(path)
    rejects_path = tmp_path / "rejects.jsonl"
    config = LoadConfig(
        progress=False, checkpoint_path=tmp_path / "cp.jsonl", rejects_path=rejects_path
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    run = load("hostile", [path], api=api, config=config)
    if case.outcome is Outcome.FILE_ERROR:
        with pytest.raises(InputError) as refused:
            await asyncio.wait_for(run, timeout=120)
        message = str(refused.value)
        assert case.reason in message and "\n" not in message
        assert path.name in message or "CSV header" in message
        assert isinstance(refused.value, UsageError)  # exit code 2
        counts = landed(emulator)
        assert all(count == 1 for count in counts.values())
        return
    summary = await asyncio.wait_for(run, timeout=120)
    assert summary.balanced and summary.finished
    assert (summary.records_ingested, summary.records_rejected) == (case.ingested, case.rejected)
    assert sum(landed(emulator).values()) == case.ingested
    rejects = [orjson.loads(line) for line in rejects_path.read_bytes().splitlines()]
    assert len(rejects) == case.rejected
    for entry in rejects:
        assert case.reason in entry["reason"], entry["reason"]
        assert "\n" not in entry["reason"]
        assert entry["source"] == str(path) and entry["line"] >= 1
        # the rejects file holds a bounded or faithful copy, never a 50 MB raw string
        if entry.get("raw"):
            assert len(entry["record"]) <= 10_240
    if case.name.startswith("crlf"):
        assert all("\r" not in (row["note"] or "") for row in emulator.rows("hostile"))
    if case.name.startswith("nul_byte") and case.outcome is Outcome.LOADS:
        notes = {row["note"] for row in emulator.rows("hostile")}
        assert "a\x00b" in notes


FILE_ERRORS = [case for case in CASES if case.outcome is Outcome.FILE_ERROR]


@pytest.mark.parametrize("case", FILE_ERRORS, ids=str)
async def test_whole_file_errors_reach_the_cli_as_one_line_and_exit_2(
    emulator: Any, tmp_path: Path, case: HostileCase
) -> None:
    path = tmp_path / case.filename
    case.write(path)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkload", "load", "hostile", str(path),
        "--base-url", emulator.url, "--api-key", KEY, "--no-progress",
        "--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "r.jsonl"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 2, err
    text = err.decode()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("bulkload: error:")]
    assert len(errors) == 1 and case.reason in errors[0]


def test_the_catalogue_covers_every_outcome_and_names_are_unique() -> None:
    assert {case.outcome for case in CASES} == set(Outcome)
    assert len({case.name for case in CASES}) == len(CASES)
    assert issubclass(InputError, BulkloadError)


async def test_a_line_that_is_a_number_with_a_huge_exponent_is_rejected(
    emulator: Any, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id":1}\n10e999999999999999999\n{"id":2}\n')
    config = LoadConfig(
        progress=False, checkpoint_path=tmp_path / "cp.jsonl", rejects_path=tmp_path / "r.jsonl"
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    summary = await load("hostile", [path], api=api, config=config)
    assert (summary.records_ingested, summary.records_rejected) == (2, 1)
