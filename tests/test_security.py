"""Credentials never leak, plain HTTP is refused, and the emulator guards data behind auth.

Distinctive secrets are used so a grep over everything a run leaves behind (stdout, stderr,
checkpoint, rejects, summary JSON, every file under the run's folder) proves their absence.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bulkload.client.http import PeakClient
from bulkload.config import (
    ApiConfig,
    ClientCredentials,
    Secret,
    check_url_is_safe,
    url_without_userinfo,
)
from bulkload.contract.schema import TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator
from bulkload.errors import ConfigError

API_KEY = "KEY-9f2c71d4-never-print-me"
WRONG_KEY = "WRONG-5b8e03aa-never-print-me"
CLIENT_ID = "client-for-security-test"
CLIENT_SECRET = "CLIENTSECRET-3e7d19bc-never-print-me"
BAD_CLIENT_SECRET = "BADSECRET-c04f2e61-never-print-me"
SECRETS = (API_KEY, WRONG_KEY, CLIENT_SECRET, BAD_CLIENT_SECRET)
SCHEMA = TableSchema.from_json(
    {
        "tableName": "events",
        "columns": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}],
    }
)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    config = EmulatorConfig(
        api_keys=(API_KEY,),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        db_path=tmp_path / "emulator" / "emu.sqlite",
    )
    (tmp_path / "emulator").mkdir()
    async with run_emulator(config) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(API_KEY))) as client:
            await client.create_table(SCHEMA)
        yield emu


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PEAK_")}


async def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkload", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out, err


def assert_no_secret_anywhere(folder: Path, *outputs: bytes) -> None:
    blobs = [("output", blob) for blob in outputs]
    blobs += [(str(p), p.read_bytes()) for p in folder.rglob("*") if p.is_file()]
    for where, blob in blobs:
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} found in {where}"


async def test_no_credential_in_any_output_or_file_of_good_and_failing_runs(
    emulator: Any, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    data = run_dir / "events.jsonl"
    data.write_bytes(
        b"".join(orjson.dumps({"id": i}) + b"\n" for i in range(1200)) + b'{"id": "bad"}\n'
    )
    common = ["events", str(data), "--base-url", emulator.url, "--no-progress"]
    files = ["--summary-json", str(run_dir / "summary.json")]
    outputs: list[bytes] = []

    # a real load with the key, and with OAuth client credentials
    code, out, err = await run_cli(
        ["load", *common, "--api-key", API_KEY, *files], clean_env(), run_dir
    )
    assert code == 3, err
    outputs += [out, err]
    oauth_env = {
        **clean_env(),
        "PEAK_CLIENT_ID": CLIENT_ID,
        "PEAK_CLIENT_SECRET": CLIENT_SECRET,
        "PEAK_TOKEN_URL": emulator.token_url,
    }
    code, out, err = await run_cli(["load", *common, "--restart", *files], oauth_env, run_dir)
    assert code == 3, err
    outputs += [out, err]

    # failing runs: a wrong key, a wrong client secret, an unknown table
    code, out, err = await run_cli(["load", *common, "--api-key", WRONG_KEY], clean_env(), run_dir)
    assert code == 1 and b"error" in err
    outputs += [out, err]
    bad_oauth = {**oauth_env, "PEAK_CLIENT_SECRET": BAD_CLIENT_SECRET}
    code, out, err = await run_cli(["load", *common], bad_oauth, run_dir)
    assert code == 1 and b"error" in err
    outputs += [out, err]
    code, out, err = await run_cli(
        ["load", "nosuch", str(data), "--base-url", emulator.url, "--api-key", API_KEY],
        clean_env(),
        run_dir,
    )
    assert code == 1 and b"nosuch" in err
    outputs += [out, err]

    assert list(run_dir.rglob("*.checkpoint.jsonl")) or list(run_dir.rglob("*.jsonl"))
    assert (run_dir / "summary.json").exists()
    assert_no_secret_anywhere(tmp_path, *outputs)


def test_plain_http_to_a_remote_host_is_refused_unless_insecure() -> None:
    with pytest.raises(ConfigError, match="--insecure") as refused:
        ApiConfig(base_url="http://192.0.2.1", api_key=Secret(API_KEY))
    assert API_KEY not in str(refused.value)
    # with --insecure it gets past the check (no connection is made by building a config)
    assert ApiConfig(base_url="http://192.0.2.1", api_key=Secret(API_KEY), insecure=True)
    for loopback in ("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"):
        check_url_is_safe(loopback, insecure=False, what="base URL")
    with pytest.raises(ConfigError):
        check_url_is_safe("ftp://example.com", insecure=True, what="base URL")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:PW@127.0.0.1:8/x?q=1", "http://127.0.0.1:8/x?q=1"),
        ("https://u@host", "https://host"),
        ("http://:PW@host", "http://host"),
        ("http://u:P/W@host/t", "http://host/t"),  # a '/' in the password: urlsplit misreads it
        ("http://u:P@W@host", "http://host"),  # the last '@' ends the user info
        ("https://host/path?user=a@b", "https://host/path?user=a@b"),  # '@' in a query is data
        ("https://host", "https://host"),
        ("not a url", "not a url"),
    ],
)
def test_urls_in_messages_never_show_user_info(url: str, shown: str) -> None:
    assert url_without_userinfo(url) == shown


@pytest.mark.parametrize(
    "url", ["http://u:PW@127.0.0.1:1", "http://u:P/W@127.0.0.1", "http://:PW@"]
)
def test_a_url_with_user_info_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ConfigError, match="user info") as refused:
        check_url_is_safe(url, insecure=True, what="base URL")
    assert "PW" not in str(refused.value) and "P/W" not in str(refused.value)
    credentials = ClientCredentials("id", Secret(CLIENT_SECRET), url)
    with pytest.raises(ConfigError, match="token URL") as refused:
        ApiConfig(base_url="http://127.0.0.1:1", oauth=credentials)
    assert "PW" not in str(refused.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:port", "http://[::1", "http://127.0.0.1:99999"])
def test_an_unparseable_url_is_a_config_error_not_a_value_error(url: str) -> None:
    with pytest.raises(ConfigError, match="not a valid URL"):
        check_url_is_safe(url, insecure=False, what="base URL")


async def test_the_cli_refuses_plain_http_before_connecting(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"id": 1}\n')
    for command in (["load", "events", str(data)], ["tables", "list"]):
        code, out, err = await run_cli(
            [*command, "--base-url", "http://192.0.2.1", "--api-key", API_KEY],
            clean_env(),
            tmp_path,
        )
        assert code == 2
        assert b"--insecure" in err and b"Traceback" not in err
        assert_no_secret_anywhere(tmp_path, out, err)


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_5mb_body_with_a_bad_key_is_401_and_never_read_whole(
    emulator: Any, chunked: bool
) -> None:
    body = b'[{"id": 1},' + b" " * 5_000_000 + b"]"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator.url}/api/v1/tables/events",
            data=chunks() if chunked else body,
            headers={"Authorization": WRONG_KEY, "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 401
        text = await response.text()
    assert WRONG_KEY not in text
    stats = emulator.stats()
    assert stats["records_ingested_total"] == 0
    assert stats["limit_violations"]["over_1mb"] == 0


async def test_a_5mb_body_with_a_good_key_is_413_and_stores_nothing(emulator: Any) -> None:
    body = b'[{"id": 1},' + b" " * 5_000_000 + b"]"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator.url}/api/v1/tables/events",
            data=body,
            headers={"Authorization": API_KEY, "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 413
    assert emulator.stats()["records_ingested_total"] == 0
