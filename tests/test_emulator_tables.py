"""Table schemas on the emulator: create, get, list newest-first with pagination."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiohttp

from bulkload.emulator import EmulatorConfig, EmulatorHandle, run_emulator

TABLES = "/api/v1/tables"


def definition(name: str) -> dict[str, Any]:
    return {
        "tableName": name,
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


async def create(session: aiohttp.ClientSession, name: str) -> aiohttp.ClientResponse:
    resp = await session.post(TABLES, json=definition(name))
    await resp.read()
    return resp


async def test_create_answers_201_with_the_definition_and_created_at(
    emulator_session: aiohttp.ClientSession,
) -> None:
    resp = await create(emulator_session, "orders")
    assert resp.status == 201
    stored = await resp.json()
    assert stored["tableName"] == "orders"
    assert stored["columns"] == definition("orders")["columns"]
    assert stored["createdAt"].endswith("Z")

    got = await emulator_session.get(f"{TABLES}/orders")
    assert got.status == 200
    assert await got.json() == stored


async def test_type_names_are_case_insensitive_and_stored_canonically(
    emulator_session: aiohttp.ClientSession,
) -> None:
    resp = await emulator_session.post(
        TABLES, json={"tableName": "t", "columns": [{"name": "j", "type": "json"}]}
    )
    assert resp.status == 201
    assert (await resp.json())["columns"] == [{"name": "j", "type": "JSON"}]


async def test_existing_name_is_409_even_in_another_case(
    emulator_session: aiohttp.ClientSession,
) -> None:
    assert (await create(emulator_session, "orders")).status == 201
    assert (await create(emulator_session, "orders")).status == 409
    assert (await create(emulator_session, "ORDERS")).status == 409


async def test_invalid_definition_is_400_listing_every_problem(
    emulator_session: aiohttp.ClientSession,
) -> None:
    bad = {
        "tableName": "9bad",
        "columns": [
            {"name": "a", "type": "float"},
            {"name": "A", "type": "integer", "precision": 3},
        ],
    }
    resp = await emulator_session.post(TABLES, json=bad)
    assert resp.status == 400
    body = await resp.json()
    assert body["message"]
    assert len(body["errors"]) >= 4  # name, type, duplicate, precision on integer


async def test_definition_that_is_not_json_is_400(emulator_session: aiohttp.ClientSession) -> None:
    resp = await emulator_session.post(TABLES, data=b"{nope")
    assert resp.status == 400


async def test_unknown_table_is_404(emulator_session: aiohttp.ClientSession) -> None:
    resp = await emulator_session.get(f"{TABLES}/missing")
    assert resp.status == 404
    assert "missing" in (await resp.json())["message"]


async def test_list_is_newest_first_and_pages_with_next_token(
    emulator_session: aiohttp.ClientSession,
) -> None:
    names = [f"t{i}" for i in range(7)]
    for name in names:
        assert (await create(emulator_session, name)).status == 201

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"} if token is None else {"limit": "3", "NextToken": token}
        resp = await emulator_session.get(TABLES, params=params)
        assert resp.status == 200
        body = await resp.json()
        seen += [t["tableName"] for t in body["tables"]]
        pages += 1
        token = body.get("nextToken")
        if token is None:
            break
        # A table created mid-listing must not shift the pages still to come.
        if pages == 1:
            assert (await create(emulator_session, "late")).status == 201
    assert seen == list(reversed(names))
    assert pages == 3


async def test_list_defaults_to_20_per_page(emulator_session: aiohttp.ClientSession) -> None:
    for i in range(21):
        assert (await create(emulator_session, f"t{i}")).status == 201
    body = await (await emulator_session.get(TABLES)).json()
    assert len(body["tables"]) == 20
    assert body["nextToken"]


async def test_last_page_has_no_token(emulator_session: aiohttp.ClientSession) -> None:
    assert (await create(emulator_session, "only")).status == 201
    body = await (await emulator_session.get(TABLES)).json()
    assert [t["tableName"] for t in body["tables"]] == ["only"]
    assert body.get("nextToken") is None


async def test_bad_limit_or_token_is_400(emulator_session: aiohttp.ClientSession) -> None:
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"NextToken": "garbage!"}):
        resp = await emulator_session.get(TABLES, params=params)
        assert resp.status == 400, params


async def test_each_table_is_a_real_sql_table_and_survives_a_restart(
    emulator: EmulatorHandle, emulator_session: aiohttp.ClientSession, tmp_path: Any
) -> None:
    assert (await create(emulator_session, "orders")).status == 201
    with sqlite3.connect(emulator.db_path) as db:
        columns = [(row[1], row[2]) for row in db.execute("PRAGMA table_info(orders)")]
    assert columns == [
        ("id", "INTEGER"),
        ("amount", "TEXT"),
        ("day", "TEXT"),
        ("seen_at", "TEXT"),
        ("paid", "INTEGER"),
        ("note", "TEXT"),
        ("meta", "TEXT"),
    ]

    second = EmulatorConfig(db_path=emulator.db_path, api_keys=("other",))
    async with (
        run_emulator(second) as again,
        aiohttp.ClientSession(headers={"Authorization": "other"}) as session,
        session.get(f"{again.url}{TABLES}/orders") as resp,
    ):
        assert resp.status == 200
