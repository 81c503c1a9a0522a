"""PeakClient over real loopback sockets: refused, dropped, stalled and truncated answers,
what goes on the wire, and that 30 requests really are in flight at once."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from bulkload.client import PeakClient
from bulkload.config import ApiConfig, Secret
from bulkload.errors import TransportError

KEY = "transport-key-5f2a"
BODY = b'[{"id":1}]'

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def config_for(url: str) -> ApiConfig:
    return ApiConfig(base_url=url, api_key=Secret(KEY))


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


@asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[str]:
    """A bare TCP server on loopback whose handler writes whatever bytes a test wants."""
    stop = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
            if not writer.is_closing():
                await stop.wait()  # keep the connection open, silent, until the test ends
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_not_in_doubt() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: nothing listens, the connection is refused.
    async with PeakClient(config_for(f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(TransportError) as caught:
            await client.ingest("orders", BODY)
    assert caught.value.in_doubt is False
    assert caught.value.retriable
    assert "could not connect" in str(caught.value) and "PEAK_BASE_URL" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_a_server_that_drops_the_connection_leaves_the_request_in_doubt() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(hang_up) as url, PeakClient(config_for(url)) as client:
        with pytest.raises(TransportError) as caught:
            await client.ingest("orders", BODY)
    assert caught.value.in_doubt is True
    assert "may or may not have been applied" in str(caught.value)


async def test_a_stalled_answer_times_out_in_doubt() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(never_answer) as url, PeakClient(config_for(url)) as client:
        with pytest.raises(TransportError) as caught:
            await client.ingest("orders", BODY, timeout_s=0.2)
    assert caught.value.in_doubt is True
    assert "timed out" in str(caught.value)


async def truncated_success(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{"rec'
    )
    await writer.drain()
    writer.close()


async def test_a_success_whose_body_is_cut_off_is_still_a_success_for_ingest() -> None:
    async with raw_server(truncated_success) as url, PeakClient(config_for(url)) as client:
        result = await client.ingest("orders", BODY)
    assert (result.status, result.records_ingested) == (200, None)


async def test_a_table_answer_cut_off_is_a_transport_error() -> None:
    async with raw_server(truncated_success) as url, PeakClient(config_for(url)) as client:
        with pytest.raises(TransportError):
            await client.get_table("orders")


@asynccontextmanager
async def web_server(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_what_goes_on_the_wire() -> None:
    seen: list[tuple[dict[str, str], bytes]] = []

    async def ingest(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.json_response({"recordsIngested": 1})

    app = web.Application()
    app.router.add_post("/api/v1/tables/{name}", ingest)
    async with web_server(app) as url, PeakClient(config_for(url)) as client:
        result = await client.ingest("orders", BODY)
    assert result.records_ingested == 1
    ((headers, body),) = seen
    assert body == BODY
    assert headers["Authorization"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept-Encoding"] == "identity"


async def test_a_compressed_answer_is_read_even_though_identity_was_asked() -> None:
    async def ingest(request: web.Request) -> web.Response:
        body = gzip.compress(b'{"recordsIngested": 7}')
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_post("/api/v1/tables/{name}", ingest)
    async with web_server(app) as url, PeakClient(config_for(url)) as client:
        assert (await client.ingest("orders", BODY)).records_ingested == 7


async def test_thirty_requests_are_in_flight_at_once() -> None:
    concurrency = 30
    all_arrived = asyncio.Barrier(concurrency)

    async def ingest(request: web.Request) -> web.Response:
        await request.read()
        # Answers only once all thirty are being handled: a smaller pool would deadlock.
        await all_arrived.wait()
        return web.json_response({"recordsIngested": 1})

    app = web.Application()
    app.router.add_post("/api/v1/tables/{name}", ingest)
    async with web_server(app) as url, PeakClient(config_for(url)) as client, asyncio.timeout(20):
        results = await asyncio.gather(*(client.ingest("orders", BODY) for _ in range(concurrency)))
    assert [r.records_ingested for r in results] == [1] * concurrency
