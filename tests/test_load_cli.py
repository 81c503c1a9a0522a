"""``bulkload load`` as a user runs it: a subprocess against the emulator.

Crash, Ctrl-C and chaos series live in test_reliability_crash.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli, write_events

KEY = "load-cli-test-key"
RECORDS = 5_000
SUMMARY_KEYS = {
    "records_read",
    "records_ingested",
    "records_rejected",
    "records_skipped",
    "batches_sent",
    "batches_skipped",
    "requests",
    "retries",
    "elapsed_s",
    "records_per_s",
}


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


def state(tmp_path: Path) -> tuple[str, ...]:
    return ("--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rej.jsonl"))


async def test_finished_load_rerun_sends_nothing_and_exits_0(emulator: Any, tmp_path: Path) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    code, out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path)))
    assert code == 0, err
    batches = emulator.stats()["batches_ingested"]
    code, out, _err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path)))
    assert code == 0
    assert emulator.stats()["batches_ingested"] == batches
    assert "0 ingested" in out and f"{RECORDS:,} skipped" in out
    assert landed_ids(emulator) == Counter(range(RECORDS))


async def test_summary_json_has_the_documented_keys_and_balances(
    emulator: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS, extra=[b'{"id": "x"}', b"not json"])
    summary_path = tmp_path / "out" / "summary.json"
    code, out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path), "--summary-json", str(summary_path))
    )
    assert code == 3, err  # finished, some records rejected
    summary = orjson.loads(summary_path.read_bytes())
    assert set(summary) >= SUMMARY_KEYS
    assert (summary["records_read"], summary["records_ingested"]) == (RECORDS + 2, RECORDS)
    assert summary["records_rejected"] == 2 and summary["balanced"] is True
    assert "check: read = ingested + rejected + skipped: ok" in out
    assert KEY not in summary_path.read_text() and KEY not in out and KEY not in err


async def test_dry_run_from_the_cli_sends_nothing(emulator: Any, tmp_path: Path) -> None:
    data = write_events(tmp_path / "events.jsonl", 1_234)
    code, out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path), "--dry-run"))
    assert code == 0, err
    assert "would ingest" in out and "13 planned" in out
    assert emulator.stats()["batches_ingested"] == 0


async def test_an_empty_input_loads_nothing_with_a_warning(emulator: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    code, out, err = await run_cli(load_args(emulator, KEY, empty, *state(tmp_path)))
    assert code == 0, err
    assert "empty.jsonl holds no records" in err and "Traceback" not in err
    assert "0 records read" in out
