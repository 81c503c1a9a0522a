"""What the end-to-end load tests share: an emulator with an ``events`` table, input files
of numbered events, and the real CLI run in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import orjson

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator

EVENTS = TableSchema.from_json(
    {
        "tableName": "events",
        "columns": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}],
    }
)


@contextlib.asynccontextmanager
async def events_emulator(tmp_path: Path, key: str, **knobs: Any) -> AsyncIterator[Any]:
    """An in-process emulator (SQLite under ``tmp_path``) holding an empty ``events`` table."""
    config = EmulatorConfig(api_keys=(key,), db_path=tmp_path / "emu.sqlite", **knobs)
    async with run_emulator(config) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(key))) as client:
            await client.create_table(EVENTS)
        yield emu


def write_events(path: Path, count: int, *, note: str = "n", extra: Iterable[bytes] = ()) -> Path:
    """Events 0..count-1 as JSON Lines, then any ``extra`` raw lines."""
    lines = [orjson.dumps({"id": i, "note": note}) for i in range(count)]
    lines.extend(extra)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def load_args(emu: Any, key: str, data: Path, *options: str, batch: int = 100) -> list[str]:
    """``bulkload load events DATA`` against ``emu``, as a subprocess command line."""
    return [
        sys.executable, "-m", "bulkload", "load", "events", str(data),
        "--base-url", emu.url, "--api-key", key, "--max-records", str(batch), "--no-progress",
        *options,
    ]  # fmt: skip


async def run_cli(args: list[str], *, timeout_s: float = 180) -> tuple[int, str, str]:
    """Run to the end; exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def landed_ids(emu: Any, table: str = "events") -> Counter[int]:
    """How many times each id was stored."""
    return Counter(int(row["id"]) for row in emu.rows(table))


class VirtualClock:
    """Time for backoff and Retry-After pauses that passes only when slept: a load under
    throttling finishes at once, and never spins waiting for the real clock."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.slept_s = 0.0

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.now_s += max(0.0, seconds)
        self.slept_s += max(0.0, seconds)
        await asyncio.sleep(0)


def virtual_time() -> dict[str, Any]:
    """``load(..., **virtual_time())``: backoff on a fresh virtual clock."""
    clock = VirtualClock()
    return {"sleep": clock.sleep, "clock": clock}
