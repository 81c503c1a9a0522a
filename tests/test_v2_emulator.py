"""The emulated v2 API: partial success, dry runs, UPSERT/APPEND, failed rows, limits."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from v2kit import CUSTOMER_TABLE, EVENT_TABLE, SOLUTION, customer, v2_emulator

from bulkload.emulator.v2app import SlidingWindow

KEY = "v2-emu-key-1234"


def body(
    rows: list[Any], *, operation: str = "UPSERT", dry_run: Any = False, **extra: Any
) -> bytes:
    return orjson.dumps(
        {
            "solutionName": SOLUTION.solution_name,
            "operationType": operation,
            "dryRun": dry_run,
            "data": rows,
            **extra,
        }
    )


async def post(url: str, table: str, payload: bytes) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": KEY}) as session,
        session.post(f"{url}/api/v2/objects/{table}", data=payload) as response,
    ):
        return response.status, orjson.loads(await response.read())


async def test_bad_rows_fail_alone_and_land_in_failed_rows(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        rows = [customer(0), customer(1, limit="1.234"), {"CUSTOMER_ID": "C2"}, customer(3)]
        status, answer = await post(emu.url, CUSTOMER_TABLE, body(rows))
        assert status == 200
        assert (answer["received"], answer["accepted"]) == (4, 2)
        assert [f["index"] for f in answer["failed"]] == [1, 2]
        assert answer["failed"][0]["errors"][0]["code"] == "DI_E_00102"
        assert answer["failed"][0]["errors"][0]["column"] == "CREDIT_LIMIT"
        assert {e["code"] for e in answer["failed"][1]["errors"]} == {"DI_E_00101"}
        assert [r["CUSTOMER_ID"] for r in emu.rows(CUSTOMER_TABLE)] == ["C0", "C3"]
        failed = emu.rows(CUSTOMER_TABLE + "_failed_rows")
        assert [f["row_index"] for f in failed] == [1, 2, 2]
        stats = emu.stats()
        assert stats["v2"]["rows_failed"] == 2 and stats["v2"]["rows_accepted"] == 2
        assert stats["rows_per_table"][CUSTOMER_TABLE] == 2


async def test_the_server_takes_no_other_spelling_and_no_missing_key(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        lower = {k.lower(): v for k, v in customer(0).items()}
        status, answer = await post(emu.url, CUSTOMER_TABLE, body([lower]))
        assert status == 200 and answer["accepted"] == 0
        assert len(answer["failed"][0]["errors"]) == 6  # 3 missing, 3 unknown


async def test_upsert_overwrites_and_append_duplicates(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        for _ in range(2):
            assert (await post(emu.url, CUSTOMER_TABLE, body([customer(1)])))[0] == 200
        changed = customer(1, limit="99.00")
        assert (await post(emu.url, CUSTOMER_TABLE, body([changed])))[0] == 200
        assert [r["CREDIT_LIMIT"] for r in emu.rows(CUSTOMER_TABLE)] == [Decimal("99.00")]
        event = {
            "EVENT_ID": 1,
            "SCORE": 0.5,
            "DAY": "2026-01-01",
            "PAYLOAD": {"k": [1]},
            "FLAG": True,
        }
        for _ in range(2):
            status, _ = await post(emu.url, EVENT_TABLE, body([event], operation="APPEND"))
            assert status == 200
        assert emu.rows(EVENT_TABLE) == [event, event]


async def test_a_dry_run_validates_everything_and_stores_nothing(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        rows = [customer(0), customer(1, limit="x")]
        status, answer = await post(emu.url, CUSTOMER_TABLE, body(rows, dry_run=True))
        assert status == 200 and [f["index"] for f in answer["failed"]] == [1]
        assert emu.rows(CUSTOMER_TABLE) == [] and emu.rows(CUSTOMER_TABLE + "_failed_rows") == []
        assert emu.stats()["v2"]["dry_runs"] == 1


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        (b"[1]", 400, "JSON object"),
        (b"{", 400, "not valid JSON"),
        (orjson.dumps({"operationType": "UPSERT", "data": [customer(0)]}), 400, "solutionName"),
        (body([customer(0)], operation="MERGE"), 400, "operationType"),
        (body([customer(0)], dry_run="yes"), 400, "dryRun"),
        (body([]), 400, "empty"),
        (body([customer(i) for i in range(501)]), 400, "at most 500"),
        (
            orjson.dumps({"solutionName": "RAW", "operationType": "UPSERT", "data": [customer(0)]}),
            404,
            "not in solution",
        ),
    ],
)
async def test_request_level_refusals(
    tmp_path: Path, payload: bytes, status: int, text: str
) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        got, answer = await post(emu.url, CUSTOMER_TABLE, payload)
        assert got == status and text in answer["message"]
        assert emu.rows(CUSTOMER_TABLE) == []


async def test_upsert_on_an_object_without_keys_is_a_400(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        status, answer = await post(emu.url, EVENT_TABLE, body([{"EVENT_ID": 1}]))
        assert status == 400 and "APPEND" in answer["message"]


async def test_unknown_tables_and_other_spellings_are_404(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        for table in ("QP_NOPE_OOTB", "qp_customer_ootb", "CUSTOMER_NOT_HERE"):
            assert (await post(emu.url, table, body([customer(0)])))[0] == 404
        # The solution without prefix/suffix serves raw names.
        raw = orjson.dumps(
            {"solutionName": "RAW", "operationType": "UPSERT", "data": [customer(0)]}
        )
        assert (await post(emu.url, "CUSTOMER", raw))[0] == 200


async def test_fault_knobs_apply_to_v2(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY, fail_rate=1.0) as emu:
        assert (await post(emu.url, CUSTOMER_TABLE, body([customer(0)])))[0] == 503
        emu.set_faults(fail_rate=0.0, throttle_rate=1.0)
        assert (await post(emu.url, CUSTOMER_TABLE, body([customer(0)])))[0] == 429
        assert emu.rows(CUSTOMER_TABLE) == []


async def test_the_rate_window_counts_admitted_calls_over_any_second(tmp_path: Path) -> None:
    now = [0.0]
    async with v2_emulator(tmp_path, KEY, v2_rate_per_s=3, clock=lambda: now[0]) as emu:
        statuses = [(await post(emu.url, CUSTOMER_TABLE, body([customer(i)])))[0] for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        now[0] = 0.999
        assert (await post(emu.url, CUSTOMER_TABLE, body([customer(9)])))[0] == 429
        now[0] = 1.0  # the first three left the window; the refused ones never counted
        assert [
            (await post(emu.url, CUSTOMER_TABLE, body([customer(i)])))[0] for i in range(4)
        ] == [200, 200, 200, 429]
        assert emu.stats()["limit_violations"]["over_v2_rate"] == 3


def test_sliding_window_unit() -> None:
    now = [0.0]
    window = SlidingWindow(2, 1.0, lambda: now[0])
    assert window.admit() is None and window.admit() is None
    assert window.admit() == pytest.approx(1.0)
    now[0] = 0.5
    assert window.admit() == pytest.approx(0.5)
    now[0] = 1.0
    assert window.admit() is None


async def test_schema_endpoints(tmp_path: Path) -> None:
    async with v2_emulator(tmp_path, KEY) as emu:
        async with aiohttp.ClientSession(headers={"Authorization": KEY}) as session:
            async with session.get(f"{emu.url}/api/v2/schema/solutions") as response:
                solutions = (await response.json())["solutions"]
            assert [s["solutionName"] for s in solutions] == ["QP_OOTB", "RAW"]
            async with session.get(
                f"{emu.url}/api/v2/schema", params={"solutionName": "QP_OOTB"}
            ) as response:
                tables = [o["tableName"] for o in (await response.json())["objects"]]
            assert tables == [CUSTOMER_TABLE, EVENT_TABLE]
            async with session.get(
                f"{emu.url}/api/v2/schema", params={"solutionName": "NO"}
            ) as response:
                assert response.status == 404
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{emu.url}/api/v2/schema/solutions") as response,
        ):
            assert response.status == 401


async def test_numerics_are_stored_exactly_in_plain_decimal(tmp_path: Path) -> None:
    # As v1's store does: str(Decimal) wrote 1.2E+3 and failed (a 500) on a zero with a
    # huge exponent, a value the contract accepts.
    rows = [
        b'{"CUSTOMER_ID":"C1","CREDIT_LIMIT":1.2e3,"UPDATED_AT":"2026-01-02 03:04:05"}',
        b'{"CUSTOMER_ID":"C2","CREDIT_LIMIT":0e99999999999999999999,'
        b'"UPDATED_AT":"2026-01-02 03:04:05"}',
        b'{"CUSTOMER_ID":"C3","CREDIT_LIMIT":"10.500","UPDATED_AT":"2026-01-02 03:04:05"}',
    ]
    payload = (
        b'{"solutionName":"' + SOLUTION.solution_name.encode() + b'","operationType":"UPSERT",'
        b'"dryRun":false,"data":[' + b",".join(rows) + b"]}"
    )
    async with v2_emulator(tmp_path, KEY) as emu:
        status, answer = await post(emu.url, CUSTOMER_TABLE, payload)
        assert status == 200, answer
        assert not answer.get("failed"), answer
        stored = {r["CUSTOMER_ID"]: str(r["CREDIT_LIMIT"]) for r in emu.rows(CUSTOMER_TABLE)}
    assert stored == {"C1": "1200", "C2": "0", "C3": "10.5"}
