"""PeakClient's start-up reads and its token, against a scripted loopback server: retries
under a RetryPolicy (waiting on a virtual clock), redirects never followed, and every shape
of ``expires_in``."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from loadkit import VirtualClock

from bulkload.client import PeakClient
from bulkload.client.redirects import location_origin
from bulkload.config import ApiConfig, ClientCredentials, Secret
from bulkload.contract.schema import TableSchema
from bulkload.errors import (
    AuthError,
    NotFound,
    Redirected,
    RetriesExhausted,
)
from bulkload.retry import RetryPolicy

KEY = "startup-key-41d9"
CLIENT_SECRET = "startup-secret-8e2a"
TABLE = {"tableName": "orders", "columns": [{"name": "id", "type": "integer"}]}
POLICY = RetryPolicy(max_retries=3, max_retry_time_s=600, initial_s=1, max_s=8)


class Script:
    """Answers queued per path; once a queue is empty, the path answers normally."""

    def __init__(self) -> None:
        self.queued: dict[str, deque[web.Response]] = {}
        self.hits: dict[str, int] = {}
        self.tokens: list[str] = []
        self.expires_in: Any = 3600
        self.authorizations: list[str] = []

    def queue(self, path: str, *answers: web.Response) -> None:
        self.queued.setdefault(path, deque()).extend(answers)

    def _scripted(self, request: web.Request) -> web.Response | None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        queue = self.queued.get(request.path)
        return queue.popleft() if queue else None

    async def token(self, request: web.Request) -> web.Response:
        await request.post()
        if (answer := self._scripted(request)) is not None:
            return answer
        self.tokens.append(f"tok-{len(self.tokens) + 1}")
        body: dict[str, Any] = {"access_token": self.tokens[-1]}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return web.json_response(body)

    async def api(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        if (answer := self._scripted(request)) is not None:
            return answer
        if request.method == "POST":
            return web.json_response({"recordsIngested": 1})
        if request.path.endswith("/tables"):
            return web.json_response({"tables": [TABLE]})
        return web.json_response(TABLE)


@asynccontextmanager
async def scripted_server() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_post("/oauth/token", script.token)
    app.router.add_route("*", "/api/v1/{tail:.*}", script.api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield script, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def key_config(url: str) -> ApiConfig:
    return ApiConfig(base_url=url, api_key=Secret(KEY))


def oauth_config(url: str) -> ApiConfig:
    credentials = ClientCredentials("client", Secret(CLIENT_SECRET), f"{url}/oauth/token")
    return ApiConfig(base_url=url, oauth=credentials)


def failing(status: int, **headers: str) -> web.Response:
    return web.json_response({"message": "scripted"}, status=status, headers=headers)


TABLE_PATH = "/api/v1/tables/orders"


# -- retries at start-up -----------------------------------------------------------------


async def test_get_table_is_retried_under_the_policy_token_request_included() -> None:
    clock = VirtualClock()
    async with scripted_server() as (script, url):
        script.queue("/oauth/token", failing(500), failing(429, **{"Retry-After": "7"}))
        script.queue(TABLE_PATH, failing(503))
        async with PeakClient(
            oauth_config(url), retry_policy=POLICY, sleep=clock.sleep, clock=clock
        ) as client:
            table = await client.get_table("orders")
    assert table == TableSchema.from_json(TABLE)
    assert script.hits["/oauth/token"] == 3 and script.hits[TABLE_PATH] == 2
    # Retry-After wins over the backoff: at least its 7 s were waited.
    assert clock.slept_s >= 7


async def test_without_a_policy_nothing_is_retried() -> None:
    async with scripted_server() as (script, url):
        script.queue(TABLE_PATH, failing(503))
        async with PeakClient(key_config(url)) as client:
            with pytest.raises(Exception, match="503"):
                await client.get_table("orders")
    assert script.hits[TABLE_PATH] == 1


async def test_non_retriable_answers_are_not_retried() -> None:
    clock = VirtualClock()
    async with scripted_server() as (script, url):
        script.queue(TABLE_PATH, failing(404))
        async with PeakClient(
            key_config(url), retry_policy=POLICY, sleep=clock.sleep, clock=clock
        ) as client:
            with pytest.raises(NotFound):
                await client.get_table("orders")
    assert script.hits[TABLE_PATH] == 1 and clock.slept_s == 0


async def test_retries_run_out_with_the_last_failure_and_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    async with scripted_server() as (script, url):
        script.queue(TABLE_PATH, *(failing(500) for _ in range(10)))
        async with PeakClient(
            key_config(url), retry_policy=POLICY, sleep=clock.sleep, clock=clock
        ) as client:
            with (
                caplog.at_level(logging.WARNING, logger="bulkload"),
                pytest.raises(RetriesExhausted) as caught,
            ):
                await client.get_table("orders")
    assert script.hits[TABLE_PATH] == POLICY.max_retries + 1
    assert caught.value.attempts == 4 and "(500)" in str(caught.value)
    assert "4 attempts" in str(caught.value)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == POLICY.max_retries


async def test_each_list_page_is_retried() -> None:
    clock = VirtualClock()
    async with scripted_server() as (script, url):
        script.queue("/api/v1/tables", failing(502))
        async with PeakClient(
            key_config(url), retry_policy=POLICY, sleep=clock.sleep, clock=clock
        ) as client:
            tables = [t.name async for t in client.list_tables()]
    assert tables == ["orders"] and script.hits["/api/v1/tables"] == 2


async def test_ingest_and_create_are_never_retried_by_the_client() -> None:
    clock = VirtualClock()
    async with scripted_server() as (script, url):
        script.queue(TABLE_PATH, failing(500))
        script.queue("/api/v1/tables", failing(500))
        async with PeakClient(
            key_config(url), retry_policy=POLICY, sleep=clock.sleep, clock=clock
        ) as client:
            with pytest.raises(Exception, match="500"):
                await client.ingest("orders", b'[{"id": 1}]')
            with pytest.raises(Exception, match="500"):
                await client.create_table(TableSchema.from_json(TABLE))
    assert script.hits == {TABLE_PATH: 1, "/api/v1/tables": 1}


# -- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("http://203.0.113.9:8080/api/v1/tables/orders?x=1", "http://203.0.113.9:8080"),
        ("https://user:pw@evil.example/x", "https://evil.example"),
        ("/elsewhere", None),  # relative: resolved against the request, so the same origin
        ("", None),
    ],
)
async def test_a_redirect_names_its_status_and_origin(location: str, shown: str | None) -> None:
    async with scripted_server() as (script, url):
        script.queue(TABLE_PATH, web.Response(status=301, headers={"Location": location}))
        async with PeakClient(key_config(url), retry_policy=POLICY) as client:
            with pytest.raises(Redirected) as caught:
                await client.get_table("orders")
    expected = shown if shown is not None else (url if location else None)
    message = str(caught.value)
    assert caught.value.location == expected and "301" in message
    assert (expected or "without a usable Location") in message
    assert "pw" not in message and KEY not in message
    assert script.hits[TABLE_PATH] == 1  # a redirect is not retried either


def test_location_origin_survives_garbage() -> None:
    base = "http://127.0.0.1:1/x"
    assert location_origin(base, "http://[::1]:99/p") == "http://[::1]:99"
    assert location_origin(base, "http://host:notaport/") is None
    assert location_origin(base, "http://[broken/") is None
    assert location_origin(base, "mailto:someone") is None
    assert location_origin(base, None) is None


async def test_a_token_endpoint_redirect_is_refused() -> None:
    async with scripted_server() as (script, url):
        script.queue(
            "/oauth/token", web.Response(status=302, headers={"Location": "http://10.9.8.7/t"})
        )
        async with PeakClient(oauth_config(url)) as client:
            with pytest.raises(Redirected) as caught:
                await client.ingest("orders", b'[{"id": 1}]')
    assert "302" in str(caught.value) and "http://10.9.8.7" in str(caught.value)
    assert "PEAK_TOKEN_URL" in str(caught.value) and CLIENT_SECRET not in str(caught.value)
    assert script.hits["/oauth/token"] == 1 and script.authorizations == []


# -- expires_in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "tokens_for_three_requests"),
    [
        (0, 3),
        (-5, 3),
        ("0", 3),
        (0.0, 3),
        (3600, 1),
        ("3600", 1),
        (None, 1),  # missing: the contract's day
        ("soon", 1),  # unreadable: the contract's day
        (True, 1),
    ],
)
async def test_a_token_expiring_on_arrival_serves_one_request(
    expires_in: Any, tokens_for_three_requests: int
) -> None:
    async with scripted_server() as (script, url):
        script.expires_in = expires_in
        async with PeakClient(oauth_config(url)) as client:
            for _ in range(3):
                await client.ingest("orders", b'[{"id": 1}]')
    assert len(script.tokens) == tokens_for_three_requests
    assert len(set(script.authorizations)) == tokens_for_three_requests


async def test_an_expired_on_arrival_token_refused_is_refreshed_once_then_named() -> None:
    async with scripted_server() as (script, url):
        script.expires_in = 0
        script.queue(TABLE_PATH, failing(401))
        async with PeakClient(oauth_config(url)) as client:
            # One refusal: the fresh token asked for next is used, and works.
            assert (await client.get_table("orders")).name == "orders"
            script.queue(TABLE_PATH, failing(401), failing(401))
            with pytest.raises(AuthError) as caught:
                await client.get_table("orders")
    assert "freshly issued" in str(caught.value) and "expires in 0 s" in str(caught.value)
    assert len(script.tokens) == 4
