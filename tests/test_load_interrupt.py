"""Crashes and interruptions of the real CLI in a subprocess, then resume.

kill -9 may duplicate at most the batches in flight at that moment (the API has no
idempotency key); Ctrl-C lets requests in flight finish, so it duplicates nothing.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator

KEY = "interrupt-test-key"
RECORDS = 40_000
BATCH = 100
WINDOW_RECORDS = 30 * BATCH  # the most a kill -9 can leave in flight

SCHEMA = TableSchema.from_json(
    {
        "tableName": "events",
        "columns": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}],
    }
)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    config = EmulatorConfig(api_keys=(KEY,), db_path=tmp_path / "emu.sqlite", latency_ms=20)
    async with run_emulator(config) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(KEY))) as client:
            await client.create_table(SCHEMA)
        yield emu


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps({"id": i, "note": "n" * 40}) + b"\n" for i in range(RECORDS))
    )
    return path


def cli_args(emu: Any, data: Path, tmp_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "bulkload", "load", "events", str(data),
        "--base-url", emu.url, "--api-key", KEY, "--max-records", str(BATCH),
        "--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rejects.jsonl"),
        "--no-progress",
    ]  # fmt: skip


async def run_to_end(args: list[str]) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out, err


def landed(emu: Any) -> Counter[int]:
    return Counter(int(row["id"]) for row in emu.rows("events"))


@pytest.mark.parametrize("kill_at", [3_000, 17_000])
async def test_kill_9_then_rerun_loses_nothing_and_duplicates_at_most_the_window(
    emulator: Any, data: Path, tmp_path: Path, kill_at: int
) -> None:
    process = await asyncio.create_subprocess_exec(
        *cli_args(emulator, data, tmp_path), stderr=asyncio.subprocess.DEVNULL
    )
    await asyncio.wait_for(emulator.wait_for_records_ingested(kill_at), timeout=120)
    process.kill()
    await process.wait()
    code, out, err = await run_to_end(cli_args(emulator, data, tmp_path))
    assert code == 0, err.decode()
    counts = landed(emulator)
    assert set(counts) == set(range(RECORDS))
    duplicates = sum(counts.values()) - RECORDS
    assert duplicates <= WINDOW_RECORDS
    assert b"check: read = ingested + rejected + skipped" in out and b"ok" in out


async def test_ctrl_c_then_rerun_has_no_duplicates(
    emulator: Any, data: Path, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        *cli_args(emulator, data, tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.wait_for(emulator.wait_for_records_ingested(5_000), timeout=120)
    process.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert 0 < len(landed(emulator)) < RECORDS
    code, _out, err = await run_to_end(cli_args(emulator, data, tmp_path))
    assert code == 0, err.decode()
    counts = landed(emulator)
    assert counts == Counter(range(RECORDS))


async def test_finished_load_rerun_sends_nothing(emulator: Any, data: Path, tmp_path: Path) -> None:
    code, _out, err = await run_to_end(cli_args(emulator, data, tmp_path))
    assert code == 0, err.decode()
    batches = emulator.stats()["batches_ingested"]
    code, out, _err = await run_to_end(cli_args(emulator, data, tmp_path))
    assert code == 0
    assert emulator.stats()["batches_ingested"] == batches
    assert b"0 ingested" in out and f"{RECORDS:,} skipped".encode() in out
