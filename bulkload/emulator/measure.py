"""How many records per second the emulator takes: ``python -m bulkload.emulator.measure``.

Two figures, each with storage on and with ``--no-store``:
- handler: the CPU cost of validating and storing prebuilt 500-record bodies, called
  directly (no HTTP), so it is what one core can do for the service;
- http: an in-process emulator and an aiohttp client in the same process sending the
  same bodies with 30 requests in flight; client and server share one core.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bulkload.contract.schema import MAX_CONCURRENT_REQUESTS, TableSchema
from bulkload.emulator.app import EmulatedService
from bulkload.emulator.config import EmulatorConfig
from bulkload.emulator.runner import run_emulator
from bulkload.emulator.store import Store

KEY = "measure-key"
DEFINITION: dict[str, Any] = {
    "tableName": "measured",
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
        {"name": "day", "type": "date"},
        {"name": "seen_at", "type": "timestamp"},
        {"name": "paid", "type": "boolean"},
        {"name": "note", "type": "string"},
        {"name": "meta", "type": "JSON"},
    ],
}


def make_body(first_id: int, records: int = 500) -> bytes:
    """~250-byte records, the size the loader's benchmarks use."""
    return orjson.dumps(
        [
            {
                "id": first_id + i,
                "amount": f"{(first_id + i) % 100000}.{i % 100:02d}",
                "day": "2024-05-17",
                "seen_at": "2024-05-17 12:34:56",
                "paid": i % 2 == 0,
                "note": f"order {first_id + i} " + "x" * 80,
                "meta": {"source": "measure", "tags": ["a", "b"], "n": i},
            }
            for i in range(records)
        ]
    )


def measure_handler(store: bool, bodies: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        database = Store(Path(scratch) / "m.db")
        database.create_table(TableSchema.from_json(DEFINITION))
        service = EmulatedService(EmulatorConfig(store=store), database)
        table = service._tables["measured"]
        prebuilt = [make_body(i * 500) for i in range(bodies)]
        started = time.process_time()
        for body in prebuilt:
            result = service._store_records(body, table)
            assert isinstance(result, int), result
        elapsed = time.process_time() - started
        database.close()
    return elapsed, bodies * 500


async def measure_http(store: bool, bodies: int) -> tuple[float, int]:
    config = EmulatorConfig(api_keys=(KEY,), store=store)
    prebuilt = [make_body(i * 500) for i in range(bodies)]
    async with run_emulator(config) as emulator:
        connector = aiohttp.TCPConnector(limit=MAX_CONCURRENT_REQUESTS)
        headers = {"Authorization": KEY, "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            created = await session.post(emulator.url + "/api/v1/tables", json=DEFINITION)
            assert created.status == 201, await created.text()
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for body in prebuilt:
                queue.put_nowait(body)

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    async with session.post(
                        emulator.url + "/api/v1/tables/measured", data=body
                    ) as r:
                        assert r.status == 200, await r.text()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(MAX_CONCURRENT_REQUESTS)))
            elapsed = time.perf_counter() - started
        assert emulator.stats()["records_ingested_total"] == bodies * 500
    return elapsed, bodies * 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=400, help="500-record bodies per run")
    args = parser.parse_args()
    size = len(make_body(0)) / 500
    print(f"records of ~{size:.0f} bytes, {args.bodies} bodies of 500 per run")
    for store in (True, False):
        mode = "store   " if store else "no-store"
        seconds, records = measure_handler(store, args.bodies)
        print(f"handler {mode}: {records / seconds:>10,.0f} records/s (CPU time)")
        seconds, records = asyncio.run(measure_http(store, args.bodies))
        print(
            f"http    {mode}: {records / seconds:>10,.0f} records/s (wall, client on the same core)"
        )


if __name__ == "__main__":
    main()
