"""What sending costs the loader, layer by layer, without reading or validating (not a test).

Prebuilt 500-record bodies of the benchmark's small records go to a ``--no-store`` emulator
(its own process, pinned to core 1; this process to core 0) with 30 requests in flight,
through one of four layers, each adding to the one before:

- ``aiohttp``: a bare ``aiohttp.ClientSession.post`` + ``read()`` (the floor);
- ``client``: ``PeakClient.ingest`` (headers, auth, the answer read and translated);
- ``sender``: ``Sender.send`` (slots, retries, the outcome);
- ``pipeline``: the whole sending side of ``load()``: ``LoadRun``'s senders, the
  committer (rejects flush, checkpoint append + fsync), the hand-over. The producer is
  replaced by one that hands over prebuilt batches (8 per hand-over, as a chunk of small
  records gives), so nothing is read or validated.

``sender-only`` and ``pipeline-only`` are ``sender`` and ``pipeline`` with no HTTP at all:
a client that answers each ingest at once, in the loop. What they cost is the loader's
own code around the wire, and no emulator's timing moves it.

Printed: CPU of the process (user + sys) and of the event-loop thread for the requests
only, per request. Instruction counts repeat where CPU times do not on a shared machine:
``--callgrind`` runs the measured part under ``valgrind --tool=callgrind`` twice (N and 2N
requests) and prints the difference per request, so start-up cancels out.

    .venv/bin/python -m benchmarks.micro_send --layer pipeline --requests 2000  # pins itself: no taskset
    .venv/bin/python -m benchmarks.micro_send --layer pipeline --requests 200 --callgrind
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import datagen
from benchmarks.processes import Emulator, pin_to_core

API_KEY = "micro-send-key"
BATCH_RECORDS = 500
IN_FLIGHT = 30
BATCHES_PER_HANDOVER = 8
LAYERS = ("aiohttp", "client", "sender", "pipeline", "sender-only", "pipeline-only")


def _records(scratch: Path) -> list[bytes]:
    dataset = datagen.generate(scratch, kind="small", fmt="jsonl", records=BATCH_RECORDS)
    return dataset.path.read_bytes().splitlines()[:BATCH_RECORDS]


def _cpu() -> tuple[float, float, float, float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    switches = usage.ru_nvcsw + usage.ru_nivcsw  # context switches, every thread
    return usage.ru_utime, usage.ru_stime, time.thread_time(), time.perf_counter(), switches


async def _bare_aiohttp(url: str, body: bytes, requests: int) -> None:
    import aiohttp

    headers = {"Authorization": API_KEY, "Content-Type": "application/json"}
    target = f"{url}/api/v1/tables/{datagen.TABLE_NAME}"
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT, limit_per_host=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(target, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _through_client(url: str, records: list[bytes], body: bytes, layer: str, n: int) -> None:
    import anyio

    from bulkload.client.http import PeakClient
    from bulkload.config import ApiConfig, Secret
    from bulkload.pipeline.sender import Sender

    config = ApiConfig(base_url=url, api_key=Secret(API_KEY))
    async with PeakClient(config) as client:
        sender = Sender(client, datagen.TABLE_NAME, concurrency=IN_FLIGHT)
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                if layer == "client":
                    await client.ingest(datagen.TABLE_NAME, body)
                else:
                    outcome = await sender.send(records, body)
                    assert outcome.ingested == len(records), outcome

        async with anyio.create_task_group() as group:
            for _ in range(IN_FLIGHT):
                group.start_soon(worker)


class _AnsweringClient:
    """A client that answers every ingest at once with a 200 counting the records."""

    def __init__(self, records: int) -> None:
        from bulkload.client.http import IngestResult
        from bulkload.contract.schema import TableSchema

        self._answer = IngestResult(records_ingested=records, status=200, latency_s=0.0)
        self._schema = TableSchema.from_json(datagen.table_definition())

    async def get_table(self, name: str) -> Any:
        return self._schema

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        import anyio

        await anyio.lowlevel.checkpoint()  # the answer comes in a later turn of the loop
        return self._answer


async def _sender_only(records: list[bytes], body: bytes, n: int) -> None:
    import anyio

    from bulkload.pipeline.sender import Sender

    sender = Sender(_AnsweringClient(len(records)), datagen.TABLE_NAME, concurrency=IN_FLIGHT)
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            outcome = await sender.send(records, body)
            assert outcome.ingested == len(records), outcome

    async with anyio.create_task_group() as group:
        for _ in range(IN_FLIGHT):
            group.start_soon(worker)


def _pipeline(url: str | None, records: list[bytes], body: bytes, n: int, work_dir: Path) -> Any:
    """``load()`` of ``n`` prebuilt batches: every stage of the sending side, no reading;
    no HTTP either when ``url`` is None."""
    import anyio

    import bulkload.pipeline.loadrun as loadrun
    from bulkload.config import ApiConfig, LoadConfig, Secret
    from bulkload.pipeline.batcher import Batch
    from bulkload.pipeline.messages import ReadingEnd, Work
    from bulkload.pipeline.producer import Handover
    from bulkload.pipeline.run import load

    class PrebuiltProducer:
        """Hands over ``n`` copies of one batch, as the real producer would hand them."""

        def __init__(self, *_args: Any, hand_over: Any, **_kwargs: Any) -> None:
            self._hand_over = hand_over

        def produce(self) -> None:
            # one tags list for all: making them is the real producer's work, not measured here
            tags = [(0, i + 1, i + 1) for i in range(BATCH_RECORDS)]
            seq = 0
            while seq < n:
                works = []
                for _ in range(min(BATCHES_PER_HANDOVER, n - seq)):
                    works.append(Work(Batch(seq, records, tags, body), []))
                    seq += 1
                done = seq * BATCH_RECORDS
                last = seq >= n
                self._hand_over(
                    Handover(
                        works=works,
                        records_read=done,
                        batches_planned=seq,
                        files_read=1 if last else 0,
                        end=ReadingEnd(first_seq=0, next_seq=n, trailing_rejected=0)
                        if last
                        else None,
                    )
                )

    setattr(loadrun, "Producer", PrebuiltProducer)  # noqa: B010 - a stand-in, for this run only
    source = work_dir / "one.jsonl"
    source.write_bytes(records[0] + b"\n")
    config = LoadConfig(
        progress=False,
        checkpoint_path=work_dir / "load.checkpoint.jsonl",
        rejects_path=work_dir / "load.rejects.jsonl",
        concurrency=IN_FLIGHT,
    )
    if url is None:
        client = _AnsweringClient(len(records))
        summary = anyio.run(
            lambda: load(datagen.TABLE_NAME, [source], client=client, config=config)
        )
    else:
        api = ApiConfig(base_url=url, api_key=Secret(API_KEY))
        summary = anyio.run(lambda: load(datagen.TABLE_NAME, [source], api=api, config=config))
    assert summary.records_ingested == n * BATCH_RECORDS, summary
    return summary


def measure(
    url: str, layer: str, requests: int, scratch: Path
) -> tuple[float, float, float, float, float]:
    """(user, sys, loop-thread CPU, wall s, context switches) of ``requests`` requests
    through ``layer``."""
    import aiohttp  # noqa: F401 - imported before measuring, like everything below
    import anyio

    import bulkload.pipeline.run  # noqa: F401
    from bulkload.pipeline.batcher import json_array

    records = _records(scratch)
    body = json_array(records)
    with tempfile.TemporaryDirectory() as work:
        before = _cpu()
        if layer == "aiohttp":
            asyncio.run(_bare_aiohttp(url, body, requests))
        elif layer in ("client", "sender"):
            anyio.run(_through_client, url, records, body, layer, requests)
        elif layer == "sender-only":
            anyio.run(_sender_only, records, body, requests)
        elif layer == "pipeline-only":
            _pipeline(None, records, body, requests, Path(work))
        else:
            _pipeline(url, records, body, requests, Path(work))
        after = _cpu()
    user, system, loop, wall, switches = (b - a for a, b in zip(before, after, strict=True))
    return user, system, loop, wall, switches


def _instructions(argv: list[str]) -> int:
    """Instructions of one run of ``argv`` under callgrind (every thread)."""
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out", *argv],
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.findall(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not found:
        raise SystemExit(f"callgrind run failed: {result.stderr[-2000:]}")
    return int(found[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=LAYERS, default="pipeline")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--url", help="an emulator already running (else one is started)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--scratch", type=Path, default=datagen.DEFAULT_SCRATCH_DIR)
    args = parser.parse_args(argv)
    two_cores = (os.cpu_count() or 1) >= 2
    with contextlib.ExitStack() as stack:
        url = args.url or ""
        if not url and not args.layer.endswith("-only"):
            emulator = stack.enter_context(
                Emulator(api_key=API_KEY, latency_ms=args.latency_ms, core=1 if two_cores else None)
            )
            emulator.create_table(datagen.table_definition())
            url = emulator.url
        if args.callgrind:
            base = [sys.executable, "-m", "benchmarks.micro_send", "--layer", args.layer,
                    "--url", url, "--scratch", str(args.scratch)]  # fmt: skip
            small = _instructions([*base, "--requests", str(args.requests)])
            large = _instructions([*base, "--requests", str(2 * args.requests)])
            per_request = (large - small) / args.requests
            print(f"{args.layer}: {per_request:,.0f} instructions per request "
                  f"({small:,} for {args.requests}, {large:,} for {2 * args.requests})")  # fmt: skip
            return 0
        if two_cores:
            pin_to_core(0, 0)
        user_s, sys_s, loop_s, wall_s, switches = measure(
            url, args.layer, args.requests, args.scratch
        )
    cpu_s = user_s + sys_s
    print(
        f"{args.layer}: {args.requests} requests, CPU {cpu_s:.2f} s (user {user_s:.2f}, "
        f"sys {sys_s:.2f}; {cpu_s / args.requests * 1e6:,.0f} µs/request), event-loop thread "
        f"{loop_s:.2f} s ({loop_s / args.requests * 1e6:,.0f} µs/request), wall {wall_s:.2f} s, "
        f"{switches / args.requests:.1f} context switches/request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
