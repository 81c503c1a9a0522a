"""The embedded-default demo: a real load, end to end, against a local emulator.

It starts ``bulkload emulator`` in its own process on a free loopback port (so the loader
and the service don't share one core), creates a demo table, writes a sample file of
mixed-size records with a few bad ones, loads it with progress, and counts what landed in
the emulator's SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.errors import Conflict
from bulkload.pipeline.run import load
from bulkload.pipeline.summary import LoadSummary

DEMO_TABLE = "demo_orders"
DEMO_DEFINITION = {
    "tableName": DEMO_TABLE,
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
        {"name": "day", "type": "date"},
        {"name": "seen_at", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
        {"name": "paid", "type": "boolean"},
        {"name": "note", "type": "string"},
        {"name": "meta", "type": "JSON"},
    ],
}
_WORDS = ["crème brûlée", "naïve", "Grüße", "東京", "café", "smörgåsbord", "plain", "order", "αβγ"]

# Bad records, one per rule, placed at fixed positions so the demo's rejects are explainable.
_BAD_RECORDS: list[bytes] = [
    b'{"id": 1.5, "amount": "10.00"}',  # integer column given a float
    b'{"id": 7, "amount": "12.345"}',  # three digits after the point, scale is 2
    b'{"id": 8, "day": "2024-02-30"}',  # not a calendar date
    b'{"id": 9, "colour": "red"}',  # not a column of the table
    b'{"id": 10, "paid": "yes"}',  # boolean must be true/false
    b"this line is not JSON",
]


def write_sample(path: Path, records: int, *, seed: int = 7) -> int:
    """Write ``records`` JSON Lines (a few of them bad); return how many are bad."""
    rng = random.Random(seed)
    bad_every = max(1, records // len(_BAD_RECORDS))
    bad = 0
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(records):
            if i % bad_every == bad_every // 2 and bad < len(_BAD_RECORDS):
                out.write(_BAD_RECORDS[bad] + b"\n")
                bad += 1
                continue
            roll = rng.random()
            note_words = 4 if roll < 0.99 else rng.randint(300, 6000)  # 1% of 2-60 KB
            record = {
                "id": i,
                "amount": f"{rng.randint(0, 99_999_999)}.{rng.randint(0, 99):02d}",
                "day": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "seen_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
                "paid": roll < 0.5,
                "note": " ".join(rng.choice(_WORDS) for _ in range(note_words)),
                "meta": {"source": "demo", "tags": ["a", "b"][: rng.randint(0, 2)]},
            }
            out.write(orjson.dumps(record) + b"\n")
    return bad


@dataclass(frozen=True, slots=True)
class LocalEmulator:
    url: str
    api_key: str
    db_path: Path


@contextlib.asynccontextmanager
async def emulator_process(
    db_path: Path, extra_args: tuple[str, ...] = ()
) -> AsyncIterator[LocalEmulator]:
    """``bulkload emulator`` in a child process on a free loopback port."""
    api_key = "demo-" + secrets.token_urlsafe(12)  # throwaway key for a loopback-only emulator
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkload", "emulator", "--port", "0", "--db", str(db_path),
        "--api-key", api_key, *extra_args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        if "listening on " not in line:
            raise RuntimeError(f"the emulator did not start: {line.strip()!r}")
        yield LocalEmulator(url=line.rsplit(" ", 1)[-1].strip(), api_key=api_key, db_path=db_path)
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=10)
            if process.returncode is None:
                process.kill()


def count_rows(db_path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        (rows,) = connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        return int(rows)


def _prepare_workdir(workdir: Path, sample: Path, records: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "emulator.sqlite"
    for stale in (
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)  # each demo starts from an empty service
    write_sample(sample, records)


async def run_demo(
    records: int, workdir: Path, *, progress: bool = True
) -> tuple[LoadSummary, int]:
    """Run the demo in ``workdir``; return the load summary and the rows in the emulator."""
    sample = workdir / "demo_orders.jsonl"
    print(f"bulkload demo: writing {records:,} sample records to {sample}", flush=True)
    await asyncio.to_thread(_prepare_workdir, workdir, sample, records)
    db_path = workdir / "emulator.sqlite"
    for stale in (
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)  # each demo starts from an empty service
    async with emulator_process(db_path) as emulator:
        print(f"bulkload demo: emulator at {emulator.url}", flush=True)
        api = ApiConfig(base_url=emulator.url, api_key=Secret(emulator.api_key))
        async with PeakClient(api) as client:
            with contextlib.suppress(Conflict):
                await client.create_table(TableSchema.from_json(DEMO_DEFINITION))
            print(f"bulkload demo: loading into table {DEMO_TABLE}", flush=True)
            summary = await load(
                DEMO_TABLE,
                [sample],
                client=client,
                cwd=workdir,
                config=LoadConfig(
                    progress=progress,
                    restart=True,
                    checkpoint_path=workdir / "demo.checkpoint.jsonl",
                    rejects_path=workdir / "demo.rejects.jsonl",
                ),
                handle_signals=True,
            )
        rows = count_rows(emulator.db_path, DEMO_TABLE)
    return summary, rows


def default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "bulkload-demo"
