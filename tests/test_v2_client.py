"""PeakV2Client against crafted answers: every shape contract v2 section 3 allows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from bulkload.client.v2 import PeakV2Client, attribute_failures
from bulkload.config import ApiConfig, Secret
from bulkload.errors import NotFound

KEY = "v2-client-key-123"
ROWS = [orjson.dumps({"ID": i, "NOTE": f"n{i}"}) for i in range(4)]


@pytest.fixture
async def crafted() -> AsyncIterator[Callable[[Any, int], Any]]:
    """A loopback server answering every request with the body and status last set."""
    answer: dict[str, Any] = {"body": {}, "status": 200}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        body = answer["body"]
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=answer["status"], body=raw, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def client_with(body: Any, status: int = 200) -> PeakV2Client:
        answer["body"], answer["status"] = body, status
        return PeakV2Client(ApiConfig(base_url=f"http://127.0.0.1:{port}", api_key=Secret(KEY)))

    yield client_with
    await runner.cleanup()


async def ingest(crafted: Callable[[Any, int], Any], body: Any) -> Any:
    async with await crafted(body, 200) as client:
        return await client.ingest_v2("T", b"{}")


@pytest.mark.parametrize(
    "entry",
    [
        {
            "index": 2,
            "errors": [
                {
                    "code": "DI_E_00102",
                    "category": "VALIDATION",
                    "column": "NOTE",
                    "message": "too long",
                }
            ],
        },
        {
            "rowIndex": 2,
            "error": {
                "code": "DI_E_00102",
                "category": "VALIDATION",
                "column": "NOTE",
                "message": "too long",
            },
        },
        {
            "row": {"ID": 2, "NOTE": "n2"},
            "code": "DI_E_00102",
            "category": "VALIDATION",
            "column": "NOTE",
            "message": "too long",
        },
        {"row": 2, "error": "DI_E_00102 VALIDATION: too long"},
    ],
    ids=["index+errors", "rowIndex+error", "echoed-row+message", "row-number+error-text"],
)
async def test_each_failed_shape_is_tied_to_its_row(crafted: Any, entry: dict[str, Any]) -> None:
    result = await ingest(crafted, {"failed": [entry]})  # counts absent
    assert result.received is None and result.accepted is None
    assert result.accepted_of(len(ROWS)) == 3
    failures = attribute_failures(result.failed, ROWS)
    assert list(failures.by_position) == [2] and not failures.unattributed
    (failed,) = failures.by_position[2]
    assert "too long" in failed.describe()
    if "error" not in entry or isinstance(entry.get("error"), dict):
        (error,) = failed.errors
        assert (error.code, error.category, error.column) == ("DI_E_00102", "VALIDATION", "NOTE")


@pytest.mark.parametrize(
    "entry",
    [
        {"message": "something about some row"},
        {"index": 99, "errors": [{"message": "out of range"}]},
        {"row": {"ID": 42}, "message": "a row we never sent"},
        "a bare string",
    ],
    ids=["no-row", "index-out-of-range", "unknown-echo", "string"],
)
async def test_a_failure_naming_no_row_of_the_request_is_kept_unattributed(
    crafted: Any, entry: Any
) -> None:
    result = await ingest(crafted, {"received": 4, "accepted": 3, "failed": [entry]})
    failures = attribute_failures(result.failed, ROWS)
    assert failures.by_position == {}
    (kept,) = failures.unattributed
    assert kept.text and kept.describe()


async def test_two_complaints_about_one_row_stay_one_row(crafted: Any) -> None:
    body = {"failed": [{"index": 1, "message": "a"}, {"index": 1, "message": "b"}]}
    result = await ingest(crafted, body)
    failures = attribute_failures(result.failed, ROWS)
    assert [len(v) for v in failures.by_position.values()] == [2]


async def test_a_200_without_a_readable_body_has_no_failures(crafted: Any) -> None:
    result = await ingest(crafted, b"OK")
    assert result.failed == () and result.accepted_of(len(ROWS)) == 4


async def test_secrets_echoed_in_a_failure_are_scrubbed(crafted: Any) -> None:
    result = await ingest(crafted, {"failed": [{"index": 0, "message": f"bad key {KEY}"}]})
    assert KEY not in result.failed[0].describe() and KEY not in result.failed[0].text


async def test_solutions_bare_array_and_schema_in_tables_type_spelling(crafted: Any) -> None:
    async with await crafted([{"solutionName": "S", "prefix": "P_", "suffix": ""}], 200) as client:
        (solution,) = await client.list_solutions()
    assert solution.table_name("X") == "P_X"
    schema = {
        "tables": [
            {"objectName": "X", "tableName": "P_X", "columns": [{"name": "A", "type": "Integer"}]}
        ]
    }
    async with await crafted(schema, 200) as client:
        obj = await client.get_object("S", "x")
    assert obj.table_name == "P_X" and obj.columns[0].type.value == "integer"


async def test_unknown_solution_and_object_say_what_to_run(crafted: Any) -> None:
    async with await crafted({"message": "nope"}, 404) as client:
        with pytest.raises(NotFound, match="bulkload solutions list"):
            await client.get_schema("NOPE")
        with pytest.raises(NotFound, match="bulkload objects list"):
            await client.ingest_v2("T", b"{}")
    schema = {
        "objects": [
            {"objectName": "X", "tableName": "X", "columns": [{"name": "A", "dataType": "string"}]}
        ]
    }
    async with await crafted(schema, 200) as client:
        with pytest.raises(NotFound, match="its objects: X"):
            await client.get_object("S", "Y")
