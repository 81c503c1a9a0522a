"""Shared fixtures: an in-process emulator of the Ingestion API on loopback.

``emulator`` is a running ``EmulatorHandle`` (``.url``, ``.token_url``, ``.stats()``,
``.set_faults(...)``, ``.row_count(t)``, ``.rows(t)``) that accepts the API key
``EMULATOR_API_KEY`` ("test-key") and the OAuth client ``EMULATOR_CLIENT_ID`` /
``EMULATOR_CLIENT_SECRET``. ``emulator_session`` is an aiohttp session that sends the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bulkload.emulator import EmulatorConfig, EmulatorHandle, run_emulator

EMULATOR_API_KEY = "test-key"
EMULATOR_CLIENT_ID = "test-client"
EMULATOR_CLIENT_SECRET = "test-client-secret"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps load state (default checkpoints, rejects) in its own directory, never
    in the user's ~/.local/state; CLI subprocesses inherit it through the environment."""
    directory = tmp_path / "bulkload-state"
    monkeypatch.setenv("BULKLOAD_STATE_DIR", str(directory))
    return directory


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(
        db_path=tmp_path / "emulator.db",
        api_keys=(EMULATOR_API_KEY,),
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
    )


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[EmulatorHandle]:
    async with run_emulator(emulator_config) as handle:
        yield handle


@pytest.fixture
async def emulator_session(emulator: EmulatorHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=emulator.url, headers={"Authorization": EMULATOR_API_KEY}
    ) as session:
        yield session
