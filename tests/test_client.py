"""PeakClient against mocked answers: every status class and body shape of contract section 3."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aioresponses.core as aioresponses_core
import orjson
import pytest
from aiohttp import ClientResponse
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from bulkload.client import IngestResult, PeakClient, parse_retry_after
from bulkload.config import ApiConfig, Secret
from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.errors import (
    ApiError,
    AuthError,
    ConfigError,
    Conflict,
    NotFound,
    RecordError,
    RecordsRejected,
    RequestTooLarge,
    SchemaDefinitionError,
    ServerFault,
    Throttled,
)

BASE = "http://127.0.0.1:9"
KEY = "key-abc-123-very-secret"
TABLES_URL = f"{BASE}/api/v1/tables"
ORDERS_URL = f"{TABLES_URL}/orders"
LIST_PATTERN = re.compile(r"^http://127\.0\.0\.1:9/api/v1/tables(\?.*)?$")
BODY = b'[{"id":1},{"id":2},{"id":3}]'


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _AlreadySent:
    output_size = 0


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument
    (pnuckowski/aioresponses#289); supply one that says the request was fully sent."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _AlreadySent())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[PeakClient]:
    async with PeakClient(ApiConfig(base_url=BASE, api_key=Secret(KEY))) as c:
        yield c


def calls(m: aioresponses, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


# -- success ---------------------------------------------------------------------------


async def test_ingest_sends_the_body_as_is_with_the_raw_key(mocked: aioresponses) -> None:
    clock = FakeClock()

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        clock.now += 0.25
        return CallbackResult(status=200, payload={"recordsIngested": 3})

    mocked.post(ORDERS_URL, callback=answer)
    async with PeakClient(ApiConfig(base_url=BASE, api_key=Secret(KEY)), clock=clock) as client:
        result = await client.ingest("orders", BODY)

    assert result == IngestResult(records_ingested=3, status=200, latency_s=0.25)
    (call,) = calls(mocked, "POST", ORDERS_URL)
    assert call.kwargs["data"] == BODY
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == KEY  # raw, no "Bearer"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"recordsIngested": 3}', 3),
        (200, b'{"records_ingested": 3}', 3),
        (200, b'{"RecordsIngested": 3}', 3),
        (200, b'{"count": 3}', 3),
        (200, b'{"ingested": 3}', 3),
        (200, b'{"data": {"recordsIngested": 3}}', 3),
        (201, b"3", 3),
        (200, b"", None),
        (200, b"OK", None),
        (200, b'{"status": "ok"}', None),
        (200, b'{"count": true}', None),
        (200, b'{"count": "3"}', None),
        (202, b"[1, 2]", None),
    ],
)
async def test_a_success_body_never_fails_even_without_a_count(
    mocked: aioresponses, client: PeakClient, status: int, body: bytes, expected: int | None
) -> None:
    mocked.post(ORDERS_URL, status=status, body=body)
    result = await client.ingest("orders", BODY)
    assert (result.status, result.records_ingested) == (status, expected)


# -- errors by status ------------------------------------------------------------------


async def test_400_parses_the_per_record_errors(mocked: aioresponses, client: PeakClient) -> None:
    mocked.post(
        ORDERS_URL,
        status=400,
        payload={
            "message": "2 records failed validation",
            "errors": [
                {"record": 0, "column": "id", "message": "not an integer"},
                {"record": 2, "column": "day", "message": "not a date"},
            ],
        },
    )
    with pytest.raises(RecordsRejected) as caught:
        await client.ingest("orders", BODY)
    assert caught.value.status == 400
    assert caught.value.record_errors == [
        RecordError(record=0, column="id", message="not an integer"),
        RecordError(record=2, column="day", message="not a date"),
    ]
    assert "2 records failed validation" in str(caught.value)
    assert "record 0 column 'id': not an integer" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "in_message", "record_errors"),
    [
        pytest.param(b"", "no details", [], id="no body"),
        pytest.param(
            b"<html><body>\n<h1>Bad Request</h1>\n</body></html>",
            "<h1>Bad Request</h1>",
            [],
            id="html",
        ),
        pytest.param(b'{"message": "bad", "errors": "many"}', "bad", [], id="errors not a list"),
        pytest.param(b'{"message": "bad", "errors": []}', "bad", [], id="errors empty"),
        pytest.param(
            b'{"errors": [{"record": 4}, {"column": "x", "message": "m"}, "free text", 7, {"record": true, "message": "t"}]}',
            "400",
            [
                RecordError(record=4, column=None, message='{"record":4}'),
                RecordError(record=None, column="x", message="m"),
                RecordError(record=None, column=None, message="free text"),
                RecordError(record=None, column=None, message="t"),
            ],
            id="entries missing fields",
        ),
        pytest.param(b'["not", "an", "object"]', "400", [], id="json array"),
    ],
)
async def test_400_of_any_shape_is_still_a_useful_rejection(
    mocked: aioresponses,
    client: PeakClient,
    body: bytes,
    in_message: str,
    record_errors: list[RecordError],
) -> None:
    mocked.post(ORDERS_URL, status=400, body=body, content_type="text/html")
    with pytest.raises(RecordsRejected) as caught:
        await client.ingest("orders", BODY)
    message = str(caught.value)
    assert "table 'orders'" in message and "(400)" in message
    assert in_message in message
    assert "\n" not in message
    assert caught.value.record_errors == record_errors


async def test_a_huge_error_body_is_cut_to_a_short_snippet(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.post(ORDERS_URL, status=400, body=b"x" * 50_000 + b"\x1b[31m")
    with pytest.raises(RecordsRejected) as caught:
        await client.ingest("orders", BODY)
    assert len(str(caught.value)) < 400
    assert "\x1b" not in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_mean_the_key_is_not_accepted(
    mocked: aioresponses, client: PeakClient, status: int
) -> None:
    mocked.post(ORDERS_URL, status=status, payload={"message": "nope"})
    with pytest.raises(AuthError) as caught:
        await client.ingest("orders", BODY)
    assert caught.value.status == status
    assert f"API key was not accepted ({status})" in str(caught.value)
    assert "PEAK_API_KEY" in str(caught.value)
    assert len(calls(mocked, "POST", ORDERS_URL)) == 1  # a key can't be refreshed: no retry


async def test_404_names_the_table_and_how_to_create_it(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.post(ORDERS_URL, status=404)
    with pytest.raises(NotFound) as caught:
        await client.ingest("orders", BODY)
    assert str(caught.value) == (
        "table 'orders' does not exist: create it with `bulkload tables create orders --schema FILE`"
    )


async def test_409_413_and_unexpected_statuses(mocked: aioresponses, client: PeakClient) -> None:
    mocked.post(ORDERS_URL, status=409)
    mocked.post(ORDERS_URL, status=413)
    mocked.post(ORDERS_URL, status=418, body=b"teapot")
    with pytest.raises(Conflict):
        await client.ingest("orders", BODY)
    with pytest.raises(RequestTooLarge) as too_large:
        await client.ingest("orders", BODY)
    assert f"({len(BODY)} bytes)" in str(too_large.value)
    with pytest.raises(ApiError) as other:
        await client.ingest("orders", BODY)
    assert type(other.value) is ApiError
    assert other.value.status == 418
    assert "418" in str(other.value) and "teapot" in str(other.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_a_retriable_server_fault(
    mocked: aioresponses, client: PeakClient, status: int
) -> None:
    mocked.post(ORDERS_URL, status=status, body=b"upstream hiccup")
    with pytest.raises(ServerFault) as caught:
        await client.ingest("orders", BODY)
    assert caught.value.retriable
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        (" 0 ", 0.0),
        (None, None),
        ("soon", None),
        ("-4", None),
        ("nan", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: go now
    ],
)
async def test_429_carries_retry_after_in_either_form(
    mocked: aioresponses, client: PeakClient, retry_after: str | None, expected: float | None
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    mocked.post(ORDERS_URL, status=429, headers=headers)
    with pytest.raises(Throttled) as caught:
        await client.ingest("orders", BODY)
    assert caught.value.retriable
    assert caught.value.retry_after_s == expected


def test_retry_after_http_date_is_seconds_from_now() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_retry_after("Fri, 02 Jan 2026 03:06:05 GMT", now=now) == 120.0
    assert parse_retry_after("Fri, 02 Jan 2026 03:04:00 GMT", now=now) == 0.0
    assert parse_retry_after("Fri, 32 Foo 2026 99:00:00 GMT", now=now) is None


ERROR_STATUSES = [400, 401, 403, 404, 409, 413, 418, 429, 500, 503]


@pytest.mark.parametrize("status", ERROR_STATUSES)
async def test_the_key_never_appears_in_an_error_even_when_the_server_echoes_it(
    mocked: aioresponses, client: PeakClient, status: int
) -> None:
    echo = {
        "message": f"bad credential {KEY}",
        "errors": [{"record": 0, "column": "id", "message": f"auth {KEY}"}, f"raw {KEY}"],
    }
    mocked.post(ORDERS_URL, status=status, payload=echo, headers={"Retry-After": KEY})
    with pytest.raises(ApiError) as caught:
        await client.ingest("orders", BODY)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    for error in getattr(caught.value, "record_errors", []):
        assert KEY not in error.message


def test_the_key_never_appears_in_the_client_repr() -> None:
    client = PeakClient(ApiConfig(base_url=BASE, api_key=Secret(KEY)))
    assert KEY not in repr(client)


# -- tables ----------------------------------------------------------------------------


ORDERS = TableSchema(
    name="orders",
    columns=(
        Column("id", ColumnType.INTEGER),
        Column("amount", ColumnType.NUMERIC, precision=12, scale=2),
        Column("seen_at", ColumnType.TIMESTAMP, date_format='YYYY-MM-DD"T"HH24:MI:SS'),
    ),
)


async def test_create_table_posts_the_definition_and_returns_the_stored_table(
    mocked: aioresponses, client: PeakClient
) -> None:
    stored = {**ORDERS.to_json(), "createdAt": "2026-01-02T03:04:05Z"}
    mocked.post(TABLES_URL, status=201, payload=stored)
    created = await client.create_table(ORDERS)
    assert created == TableSchema(ORDERS.name, ORDERS.columns, created_at="2026-01-02T03:04:05Z")
    (call,) = calls(mocked, "POST", TABLES_URL)
    assert orjson.loads(call.kwargs["data"]) == ORDERS.to_json()


async def test_create_table_with_an_unreadable_answer_returns_what_was_sent(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.post(TABLES_URL, status=201, body=b"Created")
    assert await client.create_table(ORDERS) == ORDERS


async def test_create_table_refused_lists_the_servers_problems(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.post(
        TABLES_URL,
        status=400,
        payload={"message": "invalid", "errors": [{"message": "a"}, {"message": "b"}]},
    )
    mocked.post(TABLES_URL, status=409)
    with pytest.raises(SchemaDefinitionError) as caught:
        await client.create_table(ORDERS)
    assert caught.value.problems == ["a", "b"]
    with pytest.raises(Conflict) as conflict:
        await client.create_table(ORDERS)
    assert "table 'orders' already exists" in str(conflict.value)


async def test_get_table_reads_tolerant_shapes(mocked: aioresponses, client: PeakClient) -> None:
    mocked.get(
        ORDERS_URL,
        payload={
            "name": "orders",
            "createdAt": "2026-01-02T03:04:05Z",
            "owner": "feed",
            "columns": [
                {"name": "id", "type": "INTEGER", "nullable": True},
                {"name": "amount", "type": "numeric", "precision": 12, "scale": 2, "comment": None},
                {"name": "seen_at", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
            ],
        },
    )
    table = await client.get_table("orders")
    assert table == TableSchema(ORDERS.name, ORDERS.columns, created_at="2026-01-02T03:04:05Z")


async def test_get_table_404_and_garbage(mocked: aioresponses, client: PeakClient) -> None:
    mocked.get(ORDERS_URL, status=404)
    mocked.get(ORDERS_URL, status=200, body=b"<html>")
    with pytest.raises(NotFound) as missing:
        await client.get_table("orders")
    assert "table 'orders' does not exist" in str(missing.value)
    with pytest.raises(ApiError) as garbage:
        await client.get_table("orders")
    assert "table 'orders'" in str(garbage.value)


def pages_answering(
    pages: list[dict[str, Any]], seen: list[dict[str, str]]
) -> Callable[..., CallbackResult]:
    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        query = dict(url.query)
        seen.append(query)
        index = 0 if "NextToken" not in query else int(query["NextToken"].removeprefix("page-"))
        return CallbackResult(status=200, payload=pages[index])

    return answer


def table_obj(name: str) -> dict[str, Any]:
    return {
        "tableName": name,
        "columns": [{"name": "id", "type": "integer"}],
        "createdAt": "2026-01-01T00:00:00Z",
    }


async def test_list_tables_follows_both_token_spellings_through_three_pages(
    mocked: aioresponses, client: PeakClient
) -> None:
    pages: list[dict[str, Any]] = [
        {"tables": [table_obj("c"), table_obj("b")], "nextToken": "page-1"},
        {"tables": [table_obj("a")], "NextToken": "page-2"},
        {"tables": [table_obj("z")], "nextToken": None},
    ]
    seen: list[dict[str, str]] = []
    mocked.get(LIST_PATTERN, callback=pages_answering(pages, seen), repeat=True)
    names = [t.name async for t in client.list_tables(page_size=2)]
    assert names == ["c", "b", "a", "z"]
    assert seen == [
        {"limit": "2"},
        {"limit": "2", "NextToken": "page-1"},
        {"limit": "2", "NextToken": "page-2"},
    ]


async def test_list_tables_skips_unreadable_tables_and_accepts_a_bare_list(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.get(
        LIST_PATTERN, payload=[table_obj("a"), {"tableName": "odd", "columns": "?"}, table_obj("b")]
    )  # type: ignore[arg-type]
    assert [t.name async for t in client.list_tables()] == ["a", "b"]


async def test_list_tables_stops_on_a_repeated_token(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.get(LIST_PATTERN, payload={"tables": [table_obj("a")], "nextToken": "same"}, repeat=True)
    with pytest.raises(ApiError, match="same page token twice"):
        async for _ in client.list_tables():
            pass


async def test_list_tables_without_a_list_fails_clearly(
    mocked: aioresponses, client: PeakClient
) -> None:
    mocked.get(LIST_PATTERN, status=200, body=b"maintenance")
    with pytest.raises(ApiError, match="without a list of tables: maintenance"):
        async for _ in client.list_tables():
            pass


@pytest.mark.parametrize("page_size", [0, 101])
async def test_list_page_size_is_checked_before_anything_is_sent(
    client: PeakClient, page_size: int
) -> None:
    with pytest.raises(ConfigError, match="1-100"):
        client.list_tables(page_size=page_size)


async def test_a_client_without_credentials_refuses_to_open() -> None:
    with pytest.raises(ConfigError, match="PEAK_API_KEY"):
        async with PeakClient(ApiConfig(base_url=BASE)):
            pass


# -- OAuth -----------------------------------------------------------------------------

TOKEN_URL = "http://127.0.0.1:9/oauth/token"
CLIENT_SECRET = "client-secret-xyz-987"


class TokenEndpoint:
    """Hands out tok-1, tok-2, ... and records every form it was sent."""

    def __init__(self, expires_in: float | None = 3600) -> None:
        self.expires_in = expires_in
        self.forms: list[dict[str, str]] = []

    def __call__(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.forms.append(dict(kwargs["data"]))
        payload: dict[str, Any] = {"access_token": f"tok-{len(self.forms)}", "token_type": "Bearer"}
        if self.expires_in is not None:
            payload["expires_in"] = self.expires_in
        return CallbackResult(status=200, payload=payload)


def oauth_config(audience: str | None = "peak") -> ApiConfig:
    from bulkload.config import ClientCredentials

    credentials = ClientCredentials("client-1", Secret(CLIENT_SECRET), TOKEN_URL, audience)
    return ApiConfig(base_url=BASE, oauth=credentials)


def accepting(*tokens: str) -> Callable[..., CallbackResult]:
    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        if kwargs["headers"]["Authorization"] in tokens:
            return CallbackResult(status=200, payload={"recordsIngested": 3})
        return CallbackResult(status=401, payload={"message": "token expired"})

    return answer


async def test_oauth_sends_the_form_and_the_raw_token(mocked: aioresponses) -> None:
    endpoint = TokenEndpoint()
    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=accepting("tok-1"), repeat=True)
    async with PeakClient(oauth_config()) as client:
        assert (await client.ingest("orders", BODY)).records_ingested == 3
        await client.ingest("orders", BODY)
    assert endpoint.forms == [
        {
            "grant_type": "client_credentials",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "audience": "peak",
        }
    ]
    for call in calls(mocked, "POST", ORDERS_URL):
        assert call.kwargs["headers"]["Authorization"] == "tok-1"


async def test_twenty_concurrent_requests_on_a_stale_token_share_one_refresh(
    mocked: aioresponses,
) -> None:
    import asyncio

    endpoint = TokenEndpoint()
    all_hold_the_stale_token = asyncio.Barrier(20)

    async def slow_token_endpoint(url: URL, **kwargs: Any) -> CallbackResult:
        # Yield once, as a real network round trip would, so the other callers reach
        # the refresh while this one is still in flight.
        await asyncio.sleep(0)
        return endpoint(url, **kwargs)

    async def answer(url: URL, **kwargs: Any) -> CallbackResult:
        if kwargs["headers"]["Authorization"] != "tok-1":
            return CallbackResult(status=200, payload={"recordsIngested": 3})
        # tok-1 went stale: answer 401 only once all twenty are in flight with it.
        await all_hold_the_stale_token.wait()
        return CallbackResult(status=401, payload={"message": "token expired"})

    mocked.post(TOKEN_URL, callback=slow_token_endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=answer, repeat=True)
    async with PeakClient(oauth_config()) as client, asyncio.timeout(10):  # deadlock guard only
        results = await asyncio.gather(*(client.ingest("orders", BODY) for _ in range(20)))

    assert [r.records_ingested for r in results] == [3] * 20
    # One token for the first burst, ONE refresh after twenty 401s.
    assert len(endpoint.forms) == 2
    used = [c.kwargs["headers"]["Authorization"] for c in calls(mocked, "POST", ORDERS_URL)]
    assert sorted(used) == ["tok-1"] * 20 + ["tok-2"] * 20


async def test_a_late_401_on_an_old_token_keeps_the_new_one(mocked: aioresponses) -> None:
    import asyncio

    endpoint = TokenEndpoint()
    both_sent_the_old_token = asyncio.Event()
    new_token_worked = asyncio.Event()
    stale_answers = 0

    async def answer(url: URL, **kwargs: Any) -> CallbackResult:
        nonlocal stale_answers
        if kwargs["headers"]["Authorization"] != "tok-1":
            new_token_worked.set()
            return CallbackResult(status=200, payload={"recordsIngested": 3})
        stale_answers += 1
        if stale_answers == 1:
            await both_sent_the_old_token.wait()
        else:
            both_sent_the_old_token.set()
            await new_token_worked.wait()  # this 401 arrives after the refresh succeeded
        return CallbackResult(status=401)

    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=answer, repeat=True)
    async with PeakClient(oauth_config()) as client, asyncio.timeout(10):  # deadlock guard only
        await asyncio.gather(client.ingest("orders", BODY), client.ingest("orders", BODY))
    assert len(endpoint.forms) == 2


async def test_the_token_is_refreshed_ahead_of_expiry(mocked: aioresponses) -> None:
    clock = FakeClock()
    endpoint = TokenEndpoint(expires_in=3600)
    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=accepting("tok-1", "tok-2"), repeat=True)
    async with PeakClient(oauth_config(), clock=clock) as client:
        await client.ingest("orders", BODY)
        clock.now += 3600 - 61  # still more than a minute left
        await client.ingest("orders", BODY)
        assert len(endpoint.forms) == 1
        clock.now += 2  # under a minute left: refresh before using it
        await client.ingest("orders", BODY)
        assert len(endpoint.forms) == 2
    used = [c.kwargs["headers"]["Authorization"] for c in calls(mocked, "POST", ORDERS_URL)]
    assert used == ["tok-1", "tok-1", "tok-2"]


async def test_a_token_without_expires_in_lives_a_day(mocked: aioresponses) -> None:
    clock = FakeClock()
    endpoint = TokenEndpoint(expires_in=None)
    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=accepting("tok-1", "tok-2"), repeat=True)
    async with PeakClient(oauth_config(audience=None), clock=clock) as client:
        await client.ingest("orders", BODY)
        clock.now += 86400 - 61
        await client.ingest("orders", BODY)
        assert len(endpoint.forms) == 1
        clock.now += 2
        await client.ingest("orders", BODY)
        assert len(endpoint.forms) == 2
    assert "audience" not in endpoint.forms[0]


async def test_a_second_401_after_a_fresh_token_is_an_auth_error(mocked: aioresponses) -> None:
    endpoint = TokenEndpoint()
    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=accepting(), repeat=True)
    async with PeakClient(oauth_config()) as client:
        with pytest.raises(AuthError) as caught:
            await client.ingest("orders", BODY)
    message = str(caught.value)
    # The token endpoint took the client credentials: the message must not blame them.
    assert "(401)" in message and "freshly issued" in message and "PEAK_TOKEN_URL" in message
    assert "PEAK_CLIENT_SECRET" not in message
    assert len(calls(mocked, "POST", ORDERS_URL)) == 2
    assert len(endpoint.forms) == 2
    for secret in (CLIENT_SECRET, "tok-1", "tok-2"):
        assert secret not in message


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_refused_client_credentials_name_the_variables_not_the_secret(
    mocked: aioresponses, status: int
) -> None:
    mocked.post(TOKEN_URL, status=status, payload={"error": f"invalid_client {CLIENT_SECRET}"})
    async with PeakClient(oauth_config()) as client:
        with pytest.raises(AuthError) as caught:
            await client.ingest("orders", BODY)
    message = str(caught.value)
    assert "PEAK_CLIENT_ID" in message and "PEAK_CLIENT_SECRET" in message
    assert CLIENT_SECRET not in message and CLIENT_SECRET not in repr(caught.value)
    assert calls(mocked, "POST", ORDERS_URL) == []


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b"not json", ApiError),
        (200, b'{"token_type": "Bearer"}', ApiError),
        (503, b"", ServerFault),
        (429, b"", Throttled),
    ],
)
async def test_token_endpoint_failures_are_translated(
    mocked: aioresponses, status: int, body: bytes, error: type[ApiError]
) -> None:
    mocked.post(TOKEN_URL, status=status, body=body)
    async with PeakClient(oauth_config()) as client:
        with pytest.raises(error) as caught:
            await client.ingest("orders", BODY)
    assert CLIENT_SECRET not in str(caught.value)


def test_oauth_reprs_hide_the_secret() -> None:
    config = oauth_config()
    assert CLIENT_SECRET not in repr(config)
    assert CLIENT_SECRET not in repr(PeakClient(config))


async def test_no_token_old_or_new_leaks_into_a_later_error(mocked: aioresponses) -> None:
    endpoint = TokenEndpoint()

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        if kwargs["headers"]["Authorization"] == "tok-1":
            return CallbackResult(status=401)
        echo = f"seen tok-1, tok-2 and {CLIENT_SECRET}"
        return CallbackResult(status=400, payload={"message": echo, "errors": [echo]})

    mocked.post(TOKEN_URL, callback=endpoint, repeat=True)
    mocked.post(ORDERS_URL, callback=answer, repeat=True)
    async with PeakClient(oauth_config()) as client:
        with pytest.raises(RecordsRejected) as caught:
            await client.ingest("orders", BODY)
    texts = [str(caught.value), *(e.message for e in caught.value.record_errors)]
    for text in texts:
        for secret in ("tok-1", "tok-2", CLIENT_SECRET):
            assert secret not in text
