"""The emulator's credentials: API keys (raw or Bearer), OAuth tokens, expiry, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bulkload.emulator import EmulatorConfig, EmulatorHandle, run_emulator

# The same credentials as the shared ``emulator`` fixture in conftest.py.
EMULATOR_API_KEY = "test-key"
EMULATOR_CLIENT_ID = "test-client"
EMULATOR_CLIENT_SECRET = "test-client-secret"

TABLES = "/api/v1/tables"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def get_status(url: str, authorization: str | None) -> int:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status


async def fetch_token(emulator: EmulatorHandle, **form: str) -> aiohttp.ClientResponse:
    fields = {
        "grant_type": "client_credentials",
        "client_id": EMULATOR_CLIENT_ID,
        "client_secret": EMULATOR_CLIENT_SECRET,
        **form,
    }
    async with aiohttp.ClientSession() as session:
        resp = await session.post(emulator.token_url, data=fields)
        await resp.read()
        return resp


@pytest.mark.parametrize("authorization", [EMULATOR_API_KEY, f"Bearer {EMULATOR_API_KEY}"])
async def test_api_key_is_accepted_raw_or_as_bearer(
    emulator: EmulatorHandle, authorization: str
) -> None:
    assert await get_status(emulator.url + TABLES, authorization) == 200


@pytest.mark.parametrize("authorization", [None, "", "wrong-key", "Bearer wrong-key", "Bearer "])
async def test_missing_or_unknown_key_is_401_with_a_message(
    emulator: EmulatorHandle, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        aiohttp.ClientSession() as session,
        session.get(emulator.url + TABLES, headers=headers) as resp,
    ):
        assert resp.status == 401
        body = await resp.json()
    assert body["message"]
    assert EMULATOR_API_KEY not in body["message"]


async def test_oauth_token_is_issued_and_works_like_a_key(emulator: EmulatorHandle) -> None:
    resp = await fetch_token(emulator, audience="peak")
    assert resp.status == 200
    token = await resp.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 86400
    assert await get_status(emulator.url + TABLES, token["access_token"]) == 200
    assert await get_status(emulator.url + TABLES, "Bearer " + token["access_token"]) == 200


@pytest.mark.parametrize(
    "form",
    [
        {"client_secret": "not-the-secret"},
        {"client_id": "someone-else"},
        {"grant_type": "password"},
    ],
)
async def test_bad_client_credentials_get_401(
    emulator: EmulatorHandle, form: dict[str, str]
) -> None:
    resp = await fetch_token(emulator, **form)
    assert resp.status == 401
    assert EMULATOR_CLIENT_SECRET not in await resp.text()


@pytest.fixture
async def short_lived_tokens(tmp_path: Path) -> AsyncIterator[tuple[EmulatorHandle, FakeClock]]:
    clock = FakeClock()
    config = EmulatorConfig(
        db_path=tmp_path / "e.db",
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        token_ttl_s=60,
        clock=clock,
    )
    async with run_emulator(config) as handle:
        yield handle, clock


async def test_token_expires_after_its_ttl(
    short_lived_tokens: tuple[EmulatorHandle, FakeClock],
) -> None:
    emulator, clock = short_lived_tokens
    resp = await fetch_token(emulator)
    token = (await resp.json())["access_token"]
    clock.now += 59
    assert await get_status(emulator.url + TABLES, token) == 200
    clock.now += 1
    async with (
        aiohttp.ClientSession() as session,
        session.get(emulator.url + TABLES, headers={"Authorization": token}) as expired,
    ):
        assert expired.status == 401
        assert "expired" in (await expired.json())["message"]


async def test_bad_credential_is_refused_before_the_body_is_read(
    emulator: EmulatorHandle, emulator_session: aiohttp.ClientSession
) -> None:
    # An oversized, malformed body with a bad key must still be a 401 (not 413 or 400).
    created = await emulator_session.post(
        TABLES, json={"tableName": "t", "columns": [{"name": "a", "type": "integer"}]}
    )
    assert created.status == 201
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            emulator.url + TABLES + "/t",
            data=b"[" * 1_500_000,
            headers={"Authorization": "nope"},
        ) as resp,
    ):
        assert resp.status == 401
    assert emulator.stats()["limit_violations"]["over_1mb"] == 0


def test_config_repr_hides_keys_and_secrets() -> None:
    config = EmulatorConfig(api_keys=("k-123",), client_id="cid", client_secret="s-456")
    assert "k-123" not in repr(config)
    assert "s-456" not in repr(config)
