"""Ingest on the emulator: all-or-nothing storage, per-record errors, and the three limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from bulkload.emulator import EmulatorHandle

TABLE = "/api/v1/tables/orders"
COLUMNS = [
    {"name": "id", "type": "integer"},
    {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
    {"name": "paid", "type": "boolean"},
    {"name": "note", "type": "string"},
    {"name": "meta", "type": "JSON"},
]


@pytest.fixture
async def orders(emulator_session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    resp = await emulator_session.post(
        "/api/v1/tables", json={"tableName": "orders", "columns": COLUMNS}
    )
    assert resp.status == 201
    return emulator_session


def record(i: int) -> dict[str, Any]:
    return {"id": i, "amount": "12.50", "paid": i % 2 == 0, "note": f"n{i}", "meta": {"k": [i]}}


async def post(session: aiohttp.ClientSession, body: bytes | Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with session.post(TABLE, data=data, headers={"Content-Type": "application/json"}) as r:
        text = await r.read()
        return r.status, orjson.loads(text) if text else None


async def test_valid_records_are_stored_exactly(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    status, body = await post(orders, [record(1), record(2), {"id": 3}])
    assert status == 200
    assert body == {"recordsIngested": 3}
    assert emulator.row_count("orders") == 3
    rows = emulator.rows("orders")
    assert rows[0] == {
        "id": 1,
        "amount": Decimal("12.50"),
        "paid": False,
        "note": "n1",
        "meta": {"k": [1]},
    }
    assert rows[2] == {"id": 3, "amount": None, "paid": None, "note": None, "meta": None}
    stats = emulator.stats()
    assert stats["records_ingested_total"] == 3
    assert stats["rows_per_table"] == {"orders": 3}
    assert stats["requests_by_status"]["200"] == 1


async def test_any_bad_record_rejects_the_request_and_lists_each_failure(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    records = [record(0), {"id": "1"}, record(2), {"id": 3, "unknown": 1}, [1, 2]]
    status, body = await post(orders, records)
    assert status == 400
    assert [e["record"] for e in body["errors"]] == [1, 3, 4]
    assert body["errors"][0]["column"] == "id"
    assert body["errors"][1]["column"] == "unknown"
    assert all(e["message"] for e in body["errors"])
    assert emulator.row_count("orders") == 0


async def test_listed_errors_are_capped_but_the_message_counts_them_all(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    status, body = await post(orders, [{"id": "x"}] * 150)
    assert status == 400
    assert len(body["errors"]) == 100
    assert "150" in body["message"]


@pytest.mark.parametrize(
    "body",
    [b"[{", b'{"id": 1}', b"[]", b'"text"', b""],
    ids=["invalid-json", "object", "empty-array", "string", "no-body"],
)
async def test_body_that_is_not_a_non_empty_array_is_400(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession, body: bytes
) -> None:
    status, answer = await post(orders, body)
    assert status == 400
    assert answer["message"]
    assert emulator.row_count("orders") == 0


async def test_over_500_records_is_400_and_counted(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    assert (await post(orders, [{"id": i} for i in range(500)]))[0] == 200
    status, _ = await post(orders, [{"id": i} for i in range(501)])
    assert status == 400
    assert emulator.row_count("orders") == 500
    assert emulator.stats()["limit_violations"]["over_500_records"] == 1


async def test_unknown_table_is_404(emulator_session: aiohttp.ClientSession) -> None:
    async with emulator_session.post("/api/v1/tables/nope", data=b"[{}]") as resp:
        assert resp.status == 404


async def test_body_over_one_megabyte_is_413_whether_declared_or_chunked(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    too_big = b"[" + b" " * 1_000_000 + b"]"
    exactly_the_limit = b"[" + b" " * (1_000_000 - 11) + b'{"id": 1}]'
    assert len(exactly_the_limit) == 1_000_000

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(too_big), 65536):
            yield too_big[start : start + 65536]

    assert (await post(orders, too_big))[0] == 413
    async with orders.post(TABLE, data=chunked()) as resp:
        assert resp.status == 413
    assert (await post(orders, exactly_the_limit))[0] == 200
    stats = emulator.stats()
    assert stats["limit_violations"]["over_1mb"] == 2
    assert stats["largest_body_bytes"] > 1_000_000
    assert emulator.row_count("orders") == 1


async def test_the_31st_concurrent_request_is_429_with_retry_after(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    # Hold requests in the emulator with a latency no test would wait out, then release
    # them by lowering the knob: waiting requests re-read it.
    emulator.set_faults(latency_ms=3_600_000)
    held = [asyncio.create_task(post(orders, [record(i)])) for i in range(30)]
    await emulator.wait_for_in_flight(30)

    async with orders.post(TABLE, json=[record(99)]) as refused:
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "1"

    emulator.set_faults(latency_ms=0)
    results = await asyncio.gather(*held)
    assert [status for status, _ in results] == [200] * 30
    stats = emulator.stats()
    assert stats["max_in_flight_seen"] == 30
    assert stats["limit_violations"]["over_30_in_flight"] == 1
    assert stats["in_flight"] == 0
    assert emulator.row_count("orders") == 30


async def test_stats_endpoint_needs_no_auth_and_matches_the_handle(
    emulator: EmulatorHandle, orders: aiohttp.ClientSession
) -> None:
    assert (await post(orders, [record(1)]))[0] == 200
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(emulator.url + "/_emulator/stats") as resp:
            assert resp.status == 200
            assert await resp.json() == emulator.stats()
        async with anonymous.post(emulator.url + "/_emulator/stats/reset") as resp:
            assert (await resp.json())["records_ingested_total"] == 0
