"""Fault knobs: each one's effect on the client, on storage and on the stats; seeding."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import orjson
import pytest

from bulkload.emulator import EmulatorConfig, EmulatorHandle, run_emulator
from bulkload.errors import ConfigError

TABLE = "/api/v1/tables/events"
BATCH = orjson.dumps([{"id": i, "name": f"e{i}"} for i in range(5)])


@pytest.fixture
async def events(emulator_session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    columns = [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]
    resp = await emulator_session.post(
        "/api/v1/tables", json={"tableName": "events", "columns": columns}
    )
    assert resp.status == 201
    return emulator_session


async def send(session: aiohttp.ClientSession, body: bytes = BATCH) -> aiohttp.ClientResponse:
    resp = await session.post(TABLE, data=body, headers={"Content-Type": "application/json"})
    await resp.read()
    return resp


async def test_fail_rate_answers_503_and_stores_nothing(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    emulator.set_faults(fail_rate=1.0)
    assert (await send(events)).status == 503
    assert emulator.row_count("events") == 0
    assert emulator.stats()["faults"]["failed"] == 1


async def test_throttle_alternates_retry_after_seconds_and_http_date(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    emulator.set_faults(throttle_rate=1.0)
    before = datetime.now(UTC)
    first, second = await send(events), await send(events)
    assert (first.status, second.status) == (429, 429)
    assert first.headers["Retry-After"] == "1"
    retry_at = parsedate_to_datetime(second.headers["Retry-After"])
    assert retry_at.tzinfo is not None
    assert retry_at >= before + timedelta(seconds=1)
    assert emulator.row_count("events") == 0
    assert emulator.stats()["faults"]["throttled"] == 2


async def test_reset_closes_the_connection_before_storing(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    emulator.set_faults(reset_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(events)
    assert emulator.row_count("events") == 0
    stats = emulator.stats()
    assert stats["faults"]["connections_reset"] == 1
    assert stats["requests_by_status"] == {"201": 1}  # only the table creation was answered


async def test_drop_after_commit_stores_rows_but_the_client_sees_a_disconnect(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    emulator.set_faults(drop_after_commit_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(events)
    assert emulator.row_count("events") == 5
    stats = emulator.stats()
    assert stats["faults"]["dropped_after_commit"] == 1
    assert stats["faults"]["records_dropped_after_commit"] == 5


async def test_rejected_request_under_drop_after_commit_still_answers_400(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    emulator.set_faults(drop_after_commit_rate=1.0)
    assert (await send(events, b'[{"id": "x"}]')).status == 400
    assert emulator.stats()["faults"]["dropped_after_commit"] == 0


@pytest.mark.parametrize("knob", ["latency_ms", "jitter_ms"])
async def test_latency_holds_the_request_until_the_knob_is_lowered(
    emulator: EmulatorHandle, events: aiohttp.ClientSession, knob: str
) -> None:
    emulator.set_faults(**{knob: 3_600_000})
    request = asyncio.create_task(send(events))
    await emulator.wait_for_in_flight(1)
    assert not request.done()
    emulator.set_faults(**{knob: 0})
    assert (await request).status == 200


async def test_knobs_change_over_http_and_bad_values_are_400(
    emulator: EmulatorHandle, events: aiohttp.ClientSession
) -> None:
    async with aiohttp.ClientSession() as anonymous:
        url = emulator.url + "/_emulator/faults"
        async with anonymous.post(url, json={"fail_rate": 1.0}) as resp:
            assert resp.status == 200
            assert (await resp.json())["fail_rate"] == 1.0
        for bad in ({"fail_rate": 2}, {"nonsense": 1}, {"fail_rate": 0.6, "reset_rate": 0.6}):
            async with anonymous.post(url, json=bad) as resp:
                assert resp.status == 400, bad
    assert emulator.faults.fail_rate == 1.0
    assert (await send(events)).status == 503


def test_invalid_knobs_in_the_config_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fail_rate"):
        EmulatorConfig(fail_rate=1.5)
    with pytest.raises(ConfigError, match="sum"):
        EmulatorConfig(throttle_rate=0.7, drop_after_commit_rate=0.7)


async def outcomes(db_path: Path, seed: int) -> tuple[list[str], dict[str, int]]:
    config = EmulatorConfig(
        db_path=db_path,
        api_keys=("k",),
        seed=seed,
        fail_rate=0.2,
        throttle_rate=0.2,
        reset_rate=0.2,
        drop_after_commit_rate=0.2,
    )
    seen: list[str] = []
    async with run_emulator(config) as emulator:
        async with aiohttp.ClientSession(emulator.url, headers={"Authorization": "k"}) as session:
            columns = [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]
            await session.post("/api/v1/tables", json={"tableName": "events", "columns": columns})
            for _ in range(40):
                try:
                    seen.append(str((await send(session)).status))
                except aiohttp.ServerDisconnectedError:
                    seen.append("disconnected")
        faults = emulator.stats()["faults"]
        assert emulator.row_count("events") == 5 * (
            seen.count("200") + faults["dropped_after_commit"]
        )
    return seen, faults


async def test_same_seed_replays_the_same_faults_and_stats_add_up(tmp_path: Path) -> None:
    first, faults = await outcomes(tmp_path / "a.db", seed=7)
    again, _ = await outcomes(tmp_path / "b.db", seed=7)
    other, _ = await outcomes(tmp_path / "c.db", seed=8)
    assert first == again
    assert first != other
    assert first.count("503") == faults["failed"] > 0
    assert first.count("429") == faults["throttled"] > 0
    assert (
        first.count("disconnected") == faults["connections_reset"] + faults["dropped_after_commit"]
    )
    assert faults["connections_reset"] > 0
    assert faults["dropped_after_commit"] > 0


@pytest.fixture
async def counting_only(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(db_path=tmp_path / "n.db", api_keys=("k",), store=False)


async def test_no_store_counts_records_without_storing_but_still_checks_the_shape(
    counting_only: EmulatorConfig,
) -> None:
    async with (
        run_emulator(counting_only) as emulator,
        aiohttp.ClientSession(emulator.url, headers={"Authorization": "k"}) as session,
    ):
        columns = [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]
        await session.post("/api/v1/tables", json={"tableName": "events", "columns": columns})
        ok = await send(session)
        assert ok.status == 200
        assert await ok.json() == {"recordsIngested": 5}
        assert (await send(session, b"[{")).status == 400
        assert (await send(session, orjson.dumps([{}] * 501))).status == 400
        assert emulator.row_count("events") == 0
        stats = emulator.stats()
        assert stats["records_ingested_total"] == 5
        assert stats["rows_per_table"] == {"events": 0}
