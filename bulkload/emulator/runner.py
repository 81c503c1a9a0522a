"""Running an emulator in-process: ``async with run_emulator(config) as emulator: ...``."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from bulkload.emulator.app import TOKEN_PATH, EmulatedService
from bulkload.emulator.config import EmulatorConfig
from bulkload.emulator.faults import FaultKnobs
from bulkload.emulator.store import Store
from bulkload.emulator.v2store import FAILED_ROWS_SUFFIX
from bulkload.errors import ConfigError

# Requests still waiting on injected latency are released at shutdown; this only bounds
# a request stuck in something else.
SHUTDOWN_TIMEOUT_S = 1.0


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class EmulatorHandle:
    """A running emulator: where it listens, and a window onto what it stored and saw."""

    def __init__(self, service: EmulatedService, url: str) -> None:
        self._service = service
        self.url = url
        self.token_url = url + TOKEN_PATH

    def __repr__(self) -> str:
        return f"EmulatorHandle(url={self.url!r}, db_path={str(self.db_path)!r})"

    @property
    def db_path(self) -> Path:
        return self._service.store.path

    @property
    def config(self) -> EmulatorConfig:
        return self._service.config

    def stats(self) -> dict[str, Any]:
        return self._service.stats_json()

    def reset_stats(self) -> None:
        self._service.stats.reset()

    def set_faults(self, **knobs: Any) -> FaultKnobs:
        """Change fault knobs at runtime (ConfigError for unknown or invalid values)."""
        return self._service.faults.set_knobs(**knobs)

    @property
    def faults(self) -> FaultKnobs:
        return self._service.faults.knobs

    async def wait_for_in_flight(self, count: int) -> None:
        """Return once exactly ``count`` ingest requests are in flight (tests use it)."""
        await self._service.stats.wait_for_in_flight(count)

    async def wait_for_records_ingested(self, at_least: int) -> None:
        """Return once at least ``at_least`` records were acknowledged (tests use it)."""
        await self._service.stats.wait_for_records_ingested(at_least)

    def row_count(self, table: str) -> int:
        v2_store = self._service.v2_store
        if v2_store is not None and table in self._service.v2.tables:
            return v2_store.row_count(table)
        return self._service.store.row_count(table)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Stored rows; for a v2 object table also ``<table>_failed_rows``."""
        v2_store = self._service.v2_store
        if v2_store is not None and (
            table in self._service.v2.tables
            or table.removesuffix(FAILED_ROWS_SUFFIX) in self._service.v2.tables
        ):
            return v2_store.rows(table)
        return self._service.store.rows(table)


@asynccontextmanager
async def run_emulator(config: EmulatorConfig | None = None) -> AsyncIterator[EmulatorHandle]:
    """Serve the emulated API until the block exits; the database outlives it only if
    ``config.db_path`` was given."""
    config = config or EmulatorConfig()
    async with AsyncExitStack() as cleanup:
        if config.db_path is None:
            temp_dir = tempfile.mkdtemp(prefix="bulkload-emulator-")
            cleanup.callback(shutil.rmtree, temp_dir, ignore_errors=True)
            db_path = Path(temp_dir) / "emulator.db"
        else:
            db_path = config.db_path
        store = open_store(db_path)
        cleanup.callback(store.close)
        service = EmulatedService(config, store)
        if service.v2_store is not None:
            cleanup.callback(service.v2_store.close)
        runner = web.AppRunner(
            service.build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        cleanup.push_async_callback(runner.cleanup)
        # Runs first on exit: requests waiting on injected latency must not delay shutdown.
        cleanup.callback(service.faults.close)
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"emulator cannot listen on {config.host}:{config.port} ({exc.strerror}); "
                "pick another --port, or 0 for a free one"
            ) from exc
        port = runner.addresses[0][1]
        yield EmulatorHandle(service, base_url(config.host, port))


def open_store(db_path: Path) -> Store:
    try:
        return Store(db_path)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot open the emulator database {str(db_path)!r} ({exc}); "
            "check that its directory exists and is writable"
        ) from exc
