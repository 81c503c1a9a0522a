"""``bulkload emulator`` as a process: one URL line on stdout, serves, stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

import bulkload.cli.emulator  # noqa: F401  (registers the command)
from bulkload.cli import cli

# Generous guards against a hung child, not timing assertions.
STARTUP_GUARD_S = 60
EXIT_GUARD_S = 30
KEY = "cli-secret-key"
CLIENT_SECRET = "cli-client-secret"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_serves_until_signalled_and_exits_0_without_printing_secrets(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    db = tmp_path / "cli.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulkload",
        "emulator",
        "--port",
        "0",
        "--db",
        str(db),
        "--api-key",
        KEY,
        "--client-id",
        "cid",
        "--client-secret",
        CLIENT_SECRET,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), STARTUP_GUARD_S)).decode()
        match = re.fullmatch(r"bulkload emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        assert int(match[2]) > 0
        async with (
            aiohttp.ClientSession(headers={"Authorization": KEY}) as session,
            session.get(match[1] + "/api/v1/tables") as resp,
        ):
            assert resp.status == 200
            assert await resp.json() == {"tables": []}
        proc.send_signal(stop_signal)
        rest_out, err = await asyncio.wait_for(proc.communicate(), EXIT_GUARD_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert rest_out == b""
    for secret in (KEY, CLIENT_SECRET):
        assert secret.encode() not in line.encode() + err
    assert db.exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--client-id", "only-id"], "--client-secret"),
        (["--fail-rate", "2"], "fail_rate"),
        (["--throttle-rate", "0.6", "--reset-rate", "0.6"], "sum"),
    ],
)
def test_bad_options_are_a_one_line_usage_error(args: list[str], named: str) -> None:
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", *args])
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_a_usage_error_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port), "--api-key", "k"])
    assert result.exit_code == 2
    assert str(port) in result.output
    assert "--port" in result.output
