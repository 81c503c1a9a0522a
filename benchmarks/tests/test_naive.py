"""The naive baseline against a stub of the ingest endpoint on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from benchmarks import datagen, naive


@dataclass
class StubService:
    bodies: list[bytes] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to give before 200s
    in_flight: int = 0
    max_in_flight: int = 0
    keys_seen: set[str] = field(default_factory=set)

    async def ingest(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            self.keys_seen.add(request.headers.get("Authorization", ""))
            if self.answers:
                return web.json_response({"message": "try later"}, status=self.answers.pop(0))
            self.bodies.append(body)
            return web.json_response({"recordsIngested": len(json.loads(body))})
        finally:
            self.in_flight -= 1


@pytest.fixture
async def stub() -> AsyncIterator[tuple[StubService, str]]:
    service = StubService()
    app = web.Application(client_max_size=2_000_000)
    app.router.add_post("/api/v1/tables/{name}", service.ingest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def load(paths: list[Path], url: str) -> naive.Counters:
    return await naive.load(
        "bench_records", paths, url, "k", concurrency=30, max_records=500, request_timeout_s=10
    )


async def test_every_record_arrives_once_in_legal_batches(
    stub: tuple[StubService, str], tmp_path: Path
) -> None:
    service, url = stub
    dataset = datagen.generate(tmp_path, kind="mixed", fmt="jsonl", records=20_000)
    counters = await load([dataset.path], url)
    ids = [record["id"] for body in service.bodies for record in json.loads(body)]
    assert sorted(ids) == list(range(20_000))
    assert counters.records_ingested == counters.records_read == 20_000
    assert all(len(json.loads(body)) <= 500 for body in service.bodies)
    assert all(len(body) <= 1_000_000 for body in service.bodies)
    assert service.max_in_flight <= 30
    assert service.keys_seen == {"k"}


async def test_reads_gzip_input(stub: tuple[StubService, str], tmp_path: Path) -> None:
    service, url = stub
    dataset = datagen.generate(tmp_path, kind="small", fmt="jsonl.gz", records=1_234)
    counters = await load([dataset.path], url)
    assert counters.records_ingested == 1_234
    assert sum(len(json.loads(body)) for body in service.bodies) == 1_234


async def test_retries_throttled_and_failed_requests(
    stub: tuple[StubService, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(naive, "RETRY_SLEEP_S", 0.0)
    service, url = stub
    service.answers = [429, 503]
    dataset = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=100)
    counters = await load([dataset.path], url)
    assert counters.records_ingested == 100
    assert counters.retries == 2 and counters.requests == 3


async def test_gives_up_on_a_refused_batch(stub: tuple[StubService, str], tmp_path: Path) -> None:
    service, url = stub
    service.answers = [400]
    dataset = datagen.generate(tmp_path, kind="small", fmt="jsonl", records=100)
    counters = await load([dataset.path], url)
    assert counters.records_failed == 100 and counters.records_ingested == 0


def test_batches_are_cut_by_characters_before_the_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    record = {"note": "x" * 300_000}
    path.write_text("\n".join(json.dumps(record) for _ in range(7)) + "\n", encoding="utf-8")
    batches = list(naive.read_batches([path], 500, naive.Counters()))
    assert [b.records for b in batches] == [3, 3, 1]
    assert all(len(b.body) <= naive.MAX_BATCH_CHARS for b in batches)
