"""``bulkload demo --v2``: the demo against the emulator's Peak v2 API.

The emulator serves solution QP_OOTB (tables QP_<OBJECT>_OOTB) with the contract's
CUSTOMER object; the sample spells its fields in lower case and leaves the nullable
CREDIT_LIMIT out of some rows (the loader matches names and sends nulls), and has a few
bad rows. Then the load runs twice: the second time it has nothing left to send.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson

from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.demo import count_rows, emulator_process
from bulkload.pipeline.run import load
from bulkload.pipeline.summary import LoadSummary
from bulkload.pipeline.v2target import V2Target

SOLUTION = "QP_OOTB"
OBJECT = "CUSTOMER"
TABLE = "QP_CUSTOMER_OOTB"
SCHEMA = {
    "solutionName": SOLUTION,
    "objects": [
        {
            "objectName": OBJECT,
            "primaryKeys": ["CUSTOMER_ID", "UPDATED_AT"],
            "columns": [
                {
                    "name": "CUSTOMER_ID",
                    "dataType": "string",
                    "nullable": False,
                    "validations": [{"type": "nonNull"}, {"type": "maxLength", "value": 64}],
                },
                {"name": "CREDIT_LIMIT", "dataType": "numeric", "precision": 12, "scale": 2},
                {"name": "SEGMENT", "dataType": "string"},
                {"name": "SCORE", "dataType": "float"},
                {
                    "name": "UPDATED_AT",
                    "dataType": "timestamp",
                    "nullable": False,
                    "validations": [{"type": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS"}],
                },
            ],
        }
    ],
}
_BAD_ROWS = [
    b'{"customer_id": "C-bad-1", "updated_at": "2026-01-02 24:00:00"}',  # hour 24
    b'{"customer_id": "C-bad-2", "credit_limit": "12.345", "updated_at": "2026-01-02 03:04:05"}',
    b'{"credit_limit": "1.00", "updated_at": "2026-01-02 03:04:05"}',  # no CUSTOMER_ID
    b'{"customer_id": "C-bad-4", "score": "high", "updated_at": "2026-01-02 03:04:05"}',
]


def write_sample(path: Path, records: int, *, seed: int = 12) -> None:
    rng = random.Random(seed)
    bad_every = max(1, records // len(_BAD_ROWS))
    bad = 0
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(records):
            if i % bad_every == bad_every // 2 and bad < len(_BAD_ROWS):
                out.write(_BAD_ROWS[bad] + b"\n")
                bad += 1
                continue
            row: dict[str, object] = {
                "customer_id": f"C{i:08d}",
                "segment": rng.choice(["retail", "wholesale", "online"]),
                "score": round(rng.random() * 100, 3),
                "updated_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 12:00:00",
            }
            if rng.random() < 0.9:
                row["credit_limit"] = f"{rng.randint(0, 99_999)}.{rng.randint(0, 99):02d}"
            out.write(orjson.dumps(row) + b"\n")


def _prepare_workdir(workdir: Path, sample: Path, schema_path: Path, records: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "emulator.sqlite"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)  # each demo starts from an empty service
    schema_path.write_bytes(orjson.dumps(SCHEMA, option=orjson.OPT_INDENT_2))
    write_sample(sample, records)


async def run_demo_v2(
    records: int, workdir: Path, *, progress: bool = True
) -> tuple[LoadSummary, int]:
    sample = workdir / "customers.jsonl"
    schema_path = workdir / "v2-schema.json"
    print(f"bulkload demo: writing {records:,} sample rows to {sample}", flush=True)
    await asyncio.to_thread(_prepare_workdir, workdir, sample, schema_path, records)
    db_path = workdir / "emulator.sqlite"
    extra = ("--solution", f"{SOLUTION}:QP_:_OOTB", "--v2-schema", str(schema_path))
    async with emulator_process(db_path, extra) as emulator:
        print(f"bulkload demo: emulator at {emulator.url} serving solution {SOLUTION}", flush=True)
        api = ApiConfig(base_url=emulator.url, api_key=Secret(emulator.api_key))
        print(f"bulkload demo: loading into object {OBJECT} of solution {SOLUTION}", flush=True)
        summary = await load(
            OBJECT,
            [sample],
            api=api,
            cwd=workdir,
            config=LoadConfig(
                progress=progress,
                restart=True,
                checkpoint_path=workdir / "demo-v2.checkpoint.jsonl",
                rejects_path=workdir / "demo-v2.rejects.jsonl",
            ),
            handle_signals=True,
            v2=V2Target(solution=SOLUTION),
        )
        rows = count_rows(emulator.db_path, TABLE)
    return summary, rows
