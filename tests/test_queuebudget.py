"""The bound in bytes on sealed batches waiting for a sender (pipeline/queuebudget.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from bulkload.client.http import IngestResult
from bulkload.config import LoadConfig
from bulkload.contract.schema import TableSchema
from bulkload.errors import AuthError
from bulkload.pipeline.queuebudget import QueueBudget
from bulkload.pipeline.run import load


async def test_a_batch_waits_while_it_would_pass_the_budget_and_gets_in_on_a_release() -> None:
    budget = QueueBudget(100)
    admitted: list[int] = []

    async def admit(size: int) -> None:
        await budget.admit(size)
        admitted.append(size)

    async with anyio.create_task_group() as group:
        await budget.admit(60)
        group.start_soon(admit, 50)  # 110 > 100: waits
        await anyio.wait_all_tasks_blocked()
        assert admitted == [] and budget.queued_bytes == 60
        budget.release(60)
        await anyio.wait_all_tasks_blocked()
        assert admitted == [50] and budget.queued_bytes == 50


async def test_one_batch_always_gets_in_whatever_its_size() -> None:
    budget = QueueBudget(10)
    with anyio.fail_after(5):  # a hang would be the bug; this never waits when right
        await budget.admit(1_000)
    assert budget.queued_bytes == 1_000


class CountingApi:
    """Answers every batch, noting the ids it was sent."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.table = TableSchema.from_json(
            {"tableName": "t", "columns": [{"name": "id", "type": "integer"},
                                           {"name": "note", "type": "string"}]}
        )  # fmt: skip

    async def get_table(self, name: str) -> TableSchema:
        return self.table

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        records = orjson.loads(body)
        self.ids.extend(r["id"] for r in records)
        return IngestResult(records_ingested=len(records), status=200, latency_s=0.0)


def events_and_config(
    tmp_path: Path, *, concurrency: int, queue_bytes: int
) -> tuple[Path, LoadConfig]:
    """2,000 records of ~220 bytes, cut in batches of 20 (~4.5 KB each)."""
    data = tmp_path / "t.jsonl"
    data.write_bytes(
        b"".join(orjson.dumps({"id": i, "note": "x" * 200}) + b"\n" for i in range(2_000))
    )
    config = LoadConfig(
        progress=False,
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "rej.jsonl",
        max_batch_records=20,
        concurrency=concurrency,
        queue_bytes=queue_bytes,
    )
    return data, config


@pytest.mark.parametrize("queue_bytes", [1, 5_000])
async def test_a_load_with_a_tiny_byte_budget_lands_every_record(
    tmp_path: Path, queue_bytes: int
) -> None:
    data, config = events_and_config(tmp_path, concurrency=3, queue_bytes=queue_bytes)
    api = CountingApi()
    summary = await load("t", [data], config=config, client=api)
    assert summary.finished and summary.records_ingested == 2_000
    assert sorted(api.ids) == list(range(2_000))


async def test_in_a_load_the_queued_bytes_never_pass_the_budget_but_by_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every admission in a real load, observed: the producer's half did wait (the budget
    # is what bounded the queue, not the stream's 64 batches), and once in, the queue
    # held at most the budget, or one batch alone.
    admitted: list[tuple[int, int]] = []  # (queued bytes after, the batch's size)
    waits = 0
    real_admit = QueueBudget.admit

    async def observed(self: QueueBudget, size: int) -> None:
        nonlocal waits
        before = self.queued_bytes
        await real_admit(self, size)
        waits += bool(before and before + size > 5_000)  # so admit had to wait
        admitted.append((self.queued_bytes, size))

    monkeypatch.setattr(QueueBudget, "admit", observed)
    # a batch is ~4.5 KB: one at a time
    data, config = events_and_config(tmp_path, concurrency=1, queue_bytes=5_000)
    summary = await load("t", [data], config=config, client=CountingApi())
    assert summary.finished and summary.records_ingested == 2_000
    assert len(admitted) == 100 and waits > 0
    assert all(queued <= 5_000 or queued == size for queued, size in admitted)


class RefusingApi(CountingApi):
    """Refuses the credential at the third request, the producer then waiting on the budget."""

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        if len(self.ids) >= 40:
            raise AuthError("the API key was refused (401)", status=401)
        return await super().ingest(table, body, timeout_s=timeout_s)


@pytest.mark.parametrize("queue_bytes", [1, 5_000])
async def test_a_failure_while_the_producer_waits_on_the_budget_ends_the_run(
    tmp_path: Path, queue_bytes: int
) -> None:
    data, config = events_and_config(tmp_path, concurrency=1, queue_bytes=queue_bytes)
    api = RefusingApi()
    with anyio.fail_after(60):  # a hang would be the bug
        with pytest.raises(AuthError):
            await load("t", [data], config=config, client=api)
    assert sorted(api.ids) == list(range(40))  # two batches of 20 landed, then the stop
