"""A crafted Peak v2 service on loopback, for answers the emulator never gives: the
schema in another spelling, ``failed`` entries in every shape contract v2 section 3
allows, counts left out. Rows it does not fail are kept in ``stored``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

# rows of one request -> the ``failed`` entries to answer with (by position)
FailRows = Callable[[list[dict[str, Any]]], list[tuple[int, Any]]]


@dataclass
class FakeV2:
    url: str = ""
    schema: Any = None
    solutions: Any = None
    fail_rows: FailRows = lambda rows: []
    with_counts: bool = True
    stored: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def fake_v2(key: str, schema: Any, solutions: Any) -> AsyncIterator[FakeV2]:
    fake = FakeV2(schema=schema, solutions=solutions)

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == key

    async def get_solutions(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"message": "no"}, status=401)
        return web.json_response(fake.solutions)

    async def get_schema(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"message": "no"}, status=401)
        return web.json_response(fake.schema)

    async def ingest(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"message": "no"}, status=401)
        fake.requests += 1
        body = orjson.loads(await request.read())
        fake.bodies.append({k: v for k, v in body.items() if k != "data"})
        rows = body["data"]
        failures = fake.fail_rows(rows)
        failed_positions = {position for position, _ in failures}
        if not body.get("dryRun"):
            fake.stored.extend(r for i, r in enumerate(rows) if i not in failed_positions)
        answer: dict[str, Any] = {"failed": [entry for _, entry in failures]}
        if fake.with_counts:
            answer.update(received=len(rows), accepted=len(rows) - len(failures))
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v2/schema/solutions", get_solutions)
    app.router.add_get("/api/v2/schema", get_schema)
    app.router.add_post("/api/v2/objects/{table}", ingest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()
