"""The naive baseline: what a competent engineer writes in an hour to load JSONL into the API.

Deliberately plain: stdlib ``json`` (``json.loads`` per line, ``json.dumps`` per record,
joined into the batch), batches of up to 500 records cut by character count below the
1,000,000-byte limit, 30 asyncio workers on a bounded queue, one aiohttp session, and a
fixed-sleep retry on 429/5xx/connection errors. No validation, no checkpoint, no splitting.

Its arguments mirror ``bulkload load`` so the benchmark harness runs both the same way:

    python -m benchmarks.naive TABLE PATH [PATH...] --base-url URL --api-key KEY
        [--concurrency 30] [--max-records 500] [--summary-json FILE]

Exit 0 when every record was ingested, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

MAX_BATCH_CHARS = 990_000  # under the 1,000,000-byte limit; ensure_ascii makes chars == bytes
RETRY_ATTEMPTS = 5
RETRY_SLEEP_S = 1.0
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class Counters:
    records_read: int = 0
    records_ingested: int = 0
    records_failed: int = 0
    batches_sent: int = 0
    batches_failed: int = 0
    requests: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Batch:
    body: bytes
    records: int


def open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_batches(paths: Sequence[Path], max_records: int, counters: Counters) -> Iterator[Batch]:
    parts: list[str] = []
    chars = 2  # the brackets
    for path in paths:
        with open_text(path) as lines:
            for line in lines:
                if not line.strip():
                    continue
                record = json.loads(line)
                counters.records_read += 1
                encoded = json.dumps(record)
                if parts and (
                    len(parts) >= max_records or chars + len(encoded) + 1 > MAX_BATCH_CHARS
                ):
                    yield Batch(("[" + ",".join(parts) + "]").encode(), len(parts))
                    parts, chars = [], 2
                parts.append(encoded)
                chars += len(encoded) + 1
    if parts:
        yield Batch(("[" + ",".join(parts) + "]").encode(), len(parts))


async def send(session: aiohttp.ClientSession, url: str, batch: Batch, counters: Counters) -> bool:
    for attempt in range(RETRY_ATTEMPTS):
        if attempt:
            counters.retries += 1
            await asyncio.sleep(RETRY_SLEEP_S)
        counters.requests += 1
        try:
            async with session.post(url, data=batch.body) as response:
                await response.read()
                if response.status == 200:
                    return True
                if response.status not in RETRIABLE_STATUSES:
                    print(f"naive: batch refused with HTTP {response.status}", file=sys.stderr)
                    return False
        except (TimeoutError, aiohttp.ClientError):
            continue
    return False


async def worker(
    session: aiohttp.ClientSession, url: str, queue: asyncio.Queue[Batch | None], counters: Counters
) -> None:
    while True:
        batch = await queue.get()
        if batch is None:
            return
        counters.batches_sent += 1
        if await send(session, url, batch, counters):
            counters.records_ingested += batch.records
        else:
            counters.batches_failed += 1
            counters.records_failed += batch.records


async def load(
    table: str,
    paths: Sequence[Path],
    base_url: str,
    api_key: str,
    concurrency: int,
    max_records: int,
    request_timeout_s: float,
) -> Counters:
    counters = Counters()
    url = f"{base_url.rstrip('/')}/api/v1/tables/{table}"
    headers = {"Authorization": api_key, "Content-Type": "application/json"}
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=concurrency * 2)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=timeout
    ) as session:
        workers = [
            asyncio.create_task(worker(session, url, queue, counters)) for _ in range(concurrency)
        ]
        for batch in read_batches(paths, max_records, counters):
            await queue.put(batch)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    return counters


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Naive baseline loader (benchmarks only).")
    parser.add_argument("table")
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--max-records", type=int, default=500)
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument("--summary-json", type=Path)
    args = parser.parse_args(argv)

    started = time.monotonic()
    counters = asyncio.run(
        load(
            args.table,
            args.paths,
            args.base_url,
            args.api_key,
            args.concurrency,
            args.max_records,
            args.request_timeout,
        )
    )
    elapsed_s = time.monotonic() - started
    summary = {
        "records_read": counters.records_read,
        "records_ingested": counters.records_ingested,
        "records_rejected": counters.records_failed,
        "records_skipped": 0,
        "batches_sent": counters.batches_sent,
        "batches_skipped": 0,
        "requests": counters.requests,
        "retries": counters.retries,
        "elapsed_s": round(elapsed_s, 3),
        "records_per_s": round(counters.records_ingested / elapsed_s, 1) if elapsed_s > 0 else 0.0,
    }
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return (
        0
        if counters.records_failed == 0 and counters.records_ingested == counters.records_read
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
