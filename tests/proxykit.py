"""A hostile server in front of the emulator, on loopback: it forwards everything, but
answers ingest requests its own way when told to (wrong 400 hints, short counts, 401s).

``poison`` records (``"note": "poison"``) pass client-side validation; the proxy refuses
any request holding one with a 400 whose hints follow ``hints``:

    one_based      the 1-based index of each poison record
    always_zero    always record 0
    out_of_range   an index past the end of the request
    every_index    every record of the request
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

POISON = "poison"


@dataclass
class ProxyKnobs:
    hints: str = "one_based"
    short_count_by: int = 0  # a 200 counting this many records fewer than were sent
    unauthorized_after_batches: int | None = None  # then every ingest answers 401


def _hints(mode: str, poison: list[int], size: int) -> list[dict[str, Any]]:
    if mode == "one_based":
        positions = [p + 1 for p in poison]
    elif mode == "always_zero":
        positions = [0]
    elif mode == "out_of_range":
        positions = [size + 5]
    elif mode == "every_index":
        positions = list(range(size))
    else:
        raise AssertionError(mode)
    return [{"record": p, "column": "note", "message": "bad note"} for p in positions]


@contextlib.asynccontextmanager
async def hostile_proxy(upstream: str, knobs: ProxyKnobs) -> AsyncIterator[str]:
    """Serve on 127.0.0.1 (port 0) until the block ends; yields the base URL."""
    passed = 0

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal passed
        body = await request.read()
        is_ingest = request.method == "POST" and request.path.count("/") == 4
        if is_ingest:
            limit = knobs.unauthorized_after_batches
            if limit is not None and passed >= limit:
                return web.json_response({"message": "token expired"}, status=401)
            records = orjson.loads(body)
            poison = [i for i, r in enumerate(records) if r.get("note") == POISON]
            if poison:
                return web.json_response(
                    {
                        "message": "invalid records",
                        "errors": _hints(knobs.hints, poison, len(records)),
                    },
                    status=400,
                )
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        async with session.request(
            request.method, upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            payload = await answer.read()
            if is_ingest and answer.status == 200:
                passed += 1
                if knobs.short_count_by:
                    sent = len(orjson.loads(body))
                    payload = orjson.dumps({"recordsIngested": sent - knobs.short_count_by})
            return web.Response(body=payload, status=answer.status, content_type="application/json")

    app = web.Application(client_max_size=2_000_000)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
