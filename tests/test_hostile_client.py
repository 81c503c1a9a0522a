"""The client against hostile servers, through the real CLI (issue 9, items 6, 7, 10, 11).

Each test runs ``python -m bulkload load`` against small loopback aiohttp servers: a fake
Peak API with an OAuth token endpoint whose every answer a test can script, and a "thief"
on another port that records whatever reaches it. Redirects must never be followed (the
thief sees nothing), URLs with user info are refused without showing the password, a
token endpoint or table fetch that fails once at start-up does not fail the run, and a
token that expires on arrival is used once and its refusal named for what it is. Every
run's output and files are searched for every secret.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, ClientCredentials, LoadConfig, Secret
from bulkload.pipeline.backoff import RetryPolicy

CLIENT_ID = "client-hostile-probe"
CLIENT_SECRET = "CLIENTSECRET-7c1e55aa-never-print-me"
URL_PASSWORD = "URLPASSWORD-2b9d40ee-never-print-me"
TOKEN_PREFIX = "TOKEN-e83f1a06-"  # every token issued starts so: a grep finds any of them
SECRETS = (CLIENT_SECRET, URL_PASSWORD, TOKEN_PREFIX)
TABLE = {
    "tableName": "events",
    "columns": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}],
    "createdAt": "2026-01-01T00:00:00Z",
}
RECORDS = 50
BATCH = 10

# What a scripted endpoint does with one request: answer normally, fail with 500, stall
# until the test ends (past any request timeout), or redirect (status, Location).
Fault = str | tuple[int, str]


@dataclass
class Thief:
    """A server on another port: whatever a followed redirect would deliver lands here."""

    url: str = ""
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, await request.read()))
        # Answer as a token endpoint would, so a client that followed would go on with it.
        return web.json_response({"access_token": f"{TOKEN_PREFIX}stolen", "expires_in": 3600})


@dataclass
class FakePeak:
    """The Ingestion API with an OAuth token endpoint, each scripted per request."""

    url: str = ""
    token_url: str = ""
    token_faults: deque[Fault] = field(default_factory=deque)
    table_faults: deque[Fault] = field(default_factory=deque)
    ingest_faults: deque[Fault] = field(default_factory=deque)
    expires_in: Any = 3600
    tokens_work: bool = True
    issued: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # the token of every API request
    refused: int = 0
    ids: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    stalling: asyncio.Event = field(default_factory=asyncio.Event)  # a request is stalled

    async def _fault(self, faults: deque[Fault]) -> web.Response | None:
        if not faults:
            return None
        fault = faults.popleft()
        if fault == "500":
            return web.json_response({"message": "internal error"}, status=500)
        if fault == "stall":
            self.stalling.set()
            await self.release.wait()  # longer than the client waits: set when the test ends
            return web.json_response({"message": "too late"}, status=500)
        assert isinstance(fault, tuple)
        status, location = fault
        return web.Response(status=status, headers={"Location": location})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (faulty := await self._fault(self.token_faults)) is not None:
            return faulty
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"{TOKEN_PREFIX}{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "")
        self.used.append(token)
        ok = self.tokens_work and token in self.issued
        self.refused += not ok
        return ok

    async def get_table(self, request: web.Request) -> web.Response:
        if (faulty := await self._fault(self.table_faults)) is not None:
            return faulty
        if not self._authorized(request):
            return web.json_response({"message": "the access token has expired"}, status=401)
        return web.json_response(TABLE)

    async def ingest(self, request: web.Request) -> web.Response:
        body = await request.read()
        if (faulty := await self._fault(self.ingest_faults)) is not None:
            return faulty
        if not self._authorized(request):
            return web.json_response({"message": "the access token has expired"}, status=401)
        records = orjson.loads(body)
        self.ids.extend(int(r["id"]) for r in records)
        return web.json_response({"recordsIngested": len(records)})


@asynccontextmanager
async def serving(app: web.Application, ssl_context: Any = None) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def servers(
    tls_token_cert: tuple[Path, Path] | None = None,
) -> AsyncIterator[tuple[FakePeak, Thief]]:
    """A FakePeak and a Thief; with a cert and key, the token endpoint is served over TLS."""
    peak, thief = FakePeak(), Thief()
    api = web.Application()
    api.router.add_get("/api/v1/tables/events", peak.get_table)
    api.router.add_post("/api/v1/tables/events", peak.ingest)
    api.router.add_post("/oauth/token", peak.token)
    stolen = web.Application()
    stolen.router.add_route("*", "/{tail:.*}", thief.handle)
    tls = web.Application()
    tls.router.add_post("/oauth/token", peak.token)
    ssl_context = None
    if tls_token_cert is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(*tls_token_cert)
    async with (
        serving(api) as api_url,
        serving(stolen) as thief_url,
        serving(tls, ssl_context) as tls_url,
    ):
        peak.url, thief.url = api_url, thief_url
        peak.token_url = f"{tls_url if ssl_context else api_url}/oauth/token"
        try:
            yield peak, thief
        finally:
            peak.release.set()  # let every stalled handler finish before the servers close


def oauth_env(tmp_path: Path, peak: FakePeak, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEAK_", "BULKLOAD_"))}
    env.update(
        PEAK_CLIENT_ID=CLIENT_ID,
        PEAK_CLIENT_SECRET=CLIENT_SECRET,
        PEAK_TOKEN_URL=peak.token_url,
        BULKLOAD_STATE_DIR=str(tmp_path / "state"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
    )
    env.update(overrides)
    return env


async def run_load(
    tmp_path: Path, env: dict[str, str], *options: str, base_url: str | None = None
) -> tuple[int, str, str]:
    data = tmp_path / "events.jsonl"
    if not data.exists():
        data.write_bytes(b"".join(orjson.dumps({"id": i}) + b"\n" for i in range(RECORDS)))
    args = [sys.executable, "-m", "bulkload", "load", "events", str(data), "--no-progress"]
    args += ["--max-records", str(BATCH)]
    if base_url is not None:
        args += ["--base-url", base_url]
    process = await asyncio.create_subprocess_exec(
        *args, *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def assert_no_secret_anywhere(folder: Path, *outputs: str) -> None:
    blobs = [("output", text.encode()) for text in outputs]
    blobs += [(str(p), p.read_bytes()) for p in folder.rglob("*") if p.is_file()]
    for where, blob in blobs:
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} found in {where}"


def assert_one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("bulkload: error:")]
    assert len(errors) == 1, err
    return errors[0]


# -- item 6: no redirect is followed, for the token or any API request ------------------


@pytest.mark.parametrize("status", [307, 308])
async def test_a_token_endpoint_redirect_is_refused_and_the_secret_goes_nowhere(
    tmp_path: Path, status: int
) -> None:
    async with servers() as (peak, thief):
        peak.token_faults.append((status, f"{thief.url}/oauth/token"))
        code, out, err = await run_load(tmp_path, oauth_env(tmp_path, peak), base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 1
    assert str(status) in error and thief.url in error and "PEAK_TOKEN_URL" in error
    assert thief.seen == []  # the client secret was not sent again
    assert peak.used == [] and peak.ids == []  # and no stolen token was used
    assert_no_secret_anywhere(tmp_path, out, err)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(exist_ok=True)
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate for the TLS token endpoint")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_an_https_token_endpoint_redirecting_to_plain_http_is_refused(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    async with servers(tls_token_cert=(cert, key)) as (peak, thief):
        assert peak.token_url.startswith("https://")
        peak.token_faults.append((307, f"{thief.url}/oauth/token"))
        env = oauth_env(tmp_path, peak, SSL_CERT_FILE=str(cert))
        code, out, err = await run_load(tmp_path, env, base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 1
    assert "307" in error and thief.url in error and thief.url.startswith("http://")
    assert thief.seen == []
    assert peak.ids == []
    assert_no_secret_anywhere(tmp_path, out, err)


async def test_an_https_token_endpoint_with_a_certificate_nobody_trusts_is_refused(
    tmp_path: Path,
) -> None:
    # The same endpoint as above, its certificate not in the store: aiohttp's default
    # context loads the CA store at the first handshake (client/tls.py), and fails closed.
    cert, key = self_signed_cert(tmp_path / "tls")
    async with servers(tls_token_cert=(cert, key)) as (peak, thief):
        env = oauth_env(tmp_path, peak)
        env.pop("SSL_CERT_FILE", None)
        env.pop("SSL_CERT_DIR", None)
        code, out, err = await run_load(tmp_path, env, "--max-retries", "0", base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 1 and "certificate" in error.lower(), error
    assert peak.issued == [] and peak.ids == [] and thief.seen == []
    assert_no_secret_anywhere(tmp_path, out, err)


@pytest.mark.parametrize("where", ["table", "ingest"])
async def test_an_api_redirect_is_refused_naming_the_status_and_host(
    tmp_path: Path, where: str
) -> None:
    async with servers() as (peak, thief):
        faults = peak.table_faults if where == "table" else peak.ingest_faults
        faults.append((307, f"{thief.url}/api/v1/tables/events"))
        code, out, err = await run_load(tmp_path, oauth_env(tmp_path, peak), base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 1
    assert "307" in error and thief.url in error and "PEAK_BASE_URL" in error
    assert thief.seen == []
    assert_no_secret_anywhere(tmp_path, out, err)


# -- item 7: URLs with user info are refused without showing it --------------------------


@pytest.mark.parametrize("which", ["base", "token"])
async def test_a_url_with_user_info_is_refused_in_one_line_without_the_password(
    tmp_path: Path, which: str
) -> None:
    async with servers() as (peak, thief):
        plain_base, plain_token = peak.url, peak.token_url
        with_userinfo = f"http://probe:{URL_PASSWORD}@{plain_base.removeprefix('http://')}"
        if which == "base":
            env, base, shown = oauth_env(tmp_path, peak), with_userinfo, plain_base
        else:
            token = with_userinfo + "/oauth/token"
            env, base, shown = (
                oauth_env(tmp_path, peak, PEAK_TOKEN_URL=token),
                peak.url,
                plain_token,
            )
        code, out, err = await run_load(tmp_path, env, base_url=base)
    error = assert_one_line_error(err)
    assert code == 2
    assert "user info" in error and shown in error and "probe" not in error
    assert peak.issued == [] and peak.used == [] and thief.seen == []  # refused before any request
    assert_no_secret_anywhere(tmp_path, out, err)


async def test_a_plain_http_token_url_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    async with servers() as (peak, _):
        env = oauth_env(tmp_path, peak, PEAK_TOKEN_URL="http://192.0.2.1/oauth/token")
        code, out, err = await run_load(tmp_path, env, base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 2 and "token URL" in error and "--insecure" in error
    assert peak.used == []
    assert_no_secret_anywhere(tmp_path, out, err)


# -- item 10: start-up calls are retried like ingest requests -----------------------------


@pytest.mark.parametrize("where", ["token", "table"])
async def test_one_fault_at_start_up_does_not_fail_the_run(tmp_path: Path, where: str) -> None:
    async with servers() as (peak, _):
        (peak.token_faults if where == "token" else peak.table_faults).append("500")
        code, out, err = await run_load(tmp_path, oauth_env(tmp_path, peak), base_url=peak.url)
        assert not peak.token_faults and not peak.table_faults  # the fault really happened
    assert code == 0, err
    assert sorted(peak.ids) == list(range(RECORDS))
    assert "Traceback" not in err
    assert_no_secret_anywhere(tmp_path, out, err)


# A stall can only be told from a slow answer by the clock. Run in the loop's virtual time
# (looptime: the loop's clock jumps to its next timer whenever nothing is ready), the load's
# own start-up calls meet the DEFAULT request timeout and retry policy, not a shortened one,
# and the test takes milliseconds. In process, since a subprocess's loop has its own clock.
@pytest.mark.looptime
@pytest.mark.parametrize("where", ["token", "table"])
async def test_a_stalled_start_up_call_is_given_up_after_the_default_timeout_and_retried(
    where: str,
) -> None:
    async with servers() as (peak, _):
        faults = peak.token_faults if where == "token" else peak.table_faults
        faults.append("stall")
        api = ApiConfig(
            base_url=peak.url,
            oauth=ClientCredentials(CLIENT_ID, Secret(CLIENT_SECRET), peak.token_url),
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        policy = RetryPolicy.from_config(LoadConfig())
        async with PeakClient(api, retry_policy=policy) as client:
            # virtual seconds: a client without a timeout fails here instead of hanging
            table = await asyncio.wait_for(client.get_table("events"), timeout=3600)
        waited_s = loop.time() - started
        assert peak.stalling.is_set() and not faults  # the stall really happened
    assert table.name == "events"
    assert peak.used == [peak.issued[-1]]  # one table fetch answered, with the fresh token
    # Given up when the default timeout ran out, not before, and retried within the policy.
    assert ApiConfig().request_timeout_s <= waited_s < 2 * ApiConfig().request_timeout_s


async def test_start_up_faults_outlasting_the_retry_policy_end_in_one_line(
    tmp_path: Path,
) -> None:
    async with servers() as (peak, _):
        peak.token_faults.extend(["500"] * 3)
        code, out, err = await run_load(
            tmp_path, oauth_env(tmp_path, peak), "--max-retries", "2", base_url=peak.url
        )
        assert not peak.token_faults  # three attempts: the first and two retries
        assert peak.issued == []
    error = assert_one_line_error(err)
    assert code == 1 and "(500)" in error and "3 attempts" in error
    assert_no_secret_anywhere(tmp_path, out, err)


# -- item 11: expires_in <= 0 is expired on arrival ---------------------------------------


@pytest.mark.parametrize("expires_in", [0, -30])
async def test_a_token_expiring_on_arrival_is_used_once_each(
    tmp_path: Path, expires_in: Any
) -> None:
    async with servers() as (peak, _):
        peak.expires_in = expires_in
        code, out, err = await run_load(tmp_path, oauth_env(tmp_path, peak), base_url=peak.url)
    assert code == 0, err
    assert sorted(peak.ids) == list(range(RECORDS))
    # One table fetch and five batches, each with a token of its own: none used twice.
    assert len(peak.used) == 1 + RECORDS // BATCH
    assert len(set(peak.used)) == len(peak.used) == len(peak.issued)
    assert_no_secret_anywhere(tmp_path, out, err)


@pytest.mark.parametrize("expires_in", [0, -30])
async def test_a_fresh_token_refused_is_named_for_what_it_is(
    tmp_path: Path, expires_in: int
) -> None:
    async with servers() as (peak, _):
        peak.expires_in, peak.tokens_work = expires_in, False
        code, out, err = await run_load(tmp_path, oauth_env(tmp_path, peak), base_url=peak.url)
    error = assert_one_line_error(err)
    assert code == 1
    assert "freshly issued" in error and f"expires in {expires_in} s" in error
    # The token endpoint accepted the client credentials: blaming them would mislead.
    assert "PEAK_CLIENT_SECRET" not in error and "PEAK_TOKEN_URL" in error
    assert peak.refused == 2 and len(peak.issued) == 2  # refused, refreshed once, refused
    assert_no_secret_anywhere(tmp_path, out, err)


# -- a stop signal during start-up: nothing sent, so nothing to wait for ----------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
async def test_a_stop_signal_during_a_stalled_table_fetch_ends_the_run_at_once(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    # Before the fix the signal was only noted until the run existed, so the load went on
    # waiting out the stalled fetch and every start-up retry after it.
    async with servers() as (peak, _thief):
        peak.table_faults.extend(["stall"] * 10)
        data = tmp_path / "events.jsonl"
        data.write_bytes(b"".join(orjson.dumps({"id": i}) + b"\n" for i in range(RECORDS)))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bulkload", "load", "events", str(data), "--no-progress",
            "--base-url", peak.url, "--request-timeout", "600",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=oauth_env(tmp_path, peak), cwd=tmp_path,
        )  # fmt: skip
        await asyncio.wait_for(peak.stalling.wait(), timeout=60)
        process.send_signal(signum)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == code, err.decode()
    line = assert_one_line_error(err.decode())
    assert "before the load started; nothing was sent" in line
    assert signum.name in line
    assert peak.ids == []
    assert_no_secret_anywhere(tmp_path, out.decode(), err.decode())
