"""Crashes, interruptions and every fault at once, against the emulator.

Series of kills use the real CLI in a subprocess; the moment of each kill is "after N more
records landed" (awaited on the emulator), N drawn from a fixed seed, so a failure replays.
The API has no idempotency key: a kill -9 may store the batches in flight twice (at most
30 requests' worth per kill); Ctrl-C lets them finish and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli, virtual_time, write_events

from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.pipeline.run import load

KEY = "crash-test-key"
RECORDS = 30_000
BATCH = 100
CONCURRENCY = 30  # the loader's default, and the emulator's in-flight cap
HOLD_MS = 3_600_000  # a latency no test waits out: requests stay in flight until lowered
WINDOW_RECORDS = 30 * BATCH  # the most one kill -9 can leave stored but unrecorded
SEED = 20240501


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY, latency_ms=5) as emu:
        yield emu


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_events(tmp_path / "events.jsonl", RECORDS, note="n" * 30)


def cli_args(emu: Any, data: Path, tmp_path: Path) -> list[str]:
    state = (
        "--checkpoint",
        str(tmp_path / "cp.jsonl"),
        "--rejects",
        str(tmp_path / "rejects.jsonl"),
    )
    return load_args(emu, KEY, data, *state, batch=BATCH)


def ingested_total(emu: Any) -> int:
    return int(emu.stats()["records_ingested_total"])


async def start_then_stop_after(
    args: list[str], emu: Any, more_records: int, stop: signal.Signals
) -> tuple[int, str]:
    """Start the CLI, await ``more_records`` more records landing, send ``stop``.

    Returns the exit code and stderr; a run that finishes first is fine (code 0).
    """
    target = ingested_total(emu) + more_records
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr

    async def stop_once_enough_landed() -> None:
        await emu.wait_for_records_ingested(target)
        if process.returncode is None:
            process.send_signal(stop)

    with anyio.fail_after(300):  # a hang guard, not a measurement
        async with anyio.create_task_group() as group:
            group.start_soon(stop_once_enough_landed)
            err = await stderr.read()  # to the end: the process has exited
            code = await process.wait()
            group.cancel_scope.cancel()  # it finished before the moment came
    return code, err.decode()


@pytest.mark.slow
async def test_twenty_kill_9s_each_rerun_killed_again_then_a_final_run_loses_nothing(
    emulator: Any, data: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    args = cli_args(emulator, data, tmp_path)
    kills = 0
    for _ in range(20):
        code, err = await start_then_stop_after(
            args, emulator, rng.randint(1, RECORDS // 25), signal.SIGKILL
        )
        if code == 0:
            break  # finished before the kill moment: nothing left to interrupt
        assert code == -signal.SIGKILL, err
        kills += 1
    code, out, err = await run_cli(args)
    assert code == 0, err
    assert "Traceback" not in err
    counts = landed_ids(emulator)
    assert set(counts) == set(range(RECORDS)), "a record went missing"
    duplicates = sum(counts.values()) - RECORDS
    assert duplicates <= kills * WINDOW_RECORDS
    assert kills >= 10  # the series really interrupted the load many times
    assert "check: read = ingested + rejected + skipped: ok" in out


@pytest.mark.slow
async def test_ctrl_c_at_random_moments_then_rerun_has_no_loss_and_no_duplicate(
    emulator: Any, data: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    args = cli_args(emulator, data, tmp_path)
    interrupted = 0
    for _ in range(4):
        code, err = await start_then_stop_after(
            args, emulator, rng.randint(1, RECORDS // 6), signal.SIGINT
        )
        if code == 0:
            break
        assert code == 130, err
        assert "Traceback" not in err
        assert "stopping" in err
        interrupted += 1
    code, _out, err = await run_cli(args)
    assert code == 0, err
    assert interrupted >= 2
    assert landed_ids(emulator) == Counter(range(RECORDS))


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
async def test_sigterm_and_sighup_stop_like_ctrl_c_and_the_rerun_duplicates_nothing(
    emulator: Any, data: Path, tmp_path: Path, stop: signal.Signals, exit_code: int
) -> None:
    rng = random.Random(SEED + stop)
    args = cli_args(emulator, data, tmp_path)
    interrupted = 0
    for _ in range(2):
        code, err = await start_then_stop_after(args, emulator, rng.randint(1, RECORDS // 4), stop)
        if code == 0:
            break
        assert code == exit_code, err
        assert "Traceback" not in err
        assert f"stopping ({stop.name})" in err
        interrupted += 1
    code, _out, err = await run_cli(args)
    assert code == 0, err
    assert interrupted >= 1
    assert landed_ids(emulator) == Counter(range(RECORDS))


async def test_a_second_signal_quits_at_once_and_says_how_many_requests_were_in_flight(
    tmp_path: Path, data: Path
) -> None:
    async with events_emulator(tmp_path, KEY, latency_ms=400) as slow:
        args = cli_args(slow, data, tmp_path)
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        assert process.stderr is not None
        await asyncio.wait_for(slow.wait_for_records_ingested(BATCH), timeout=120)
        # Hold every request in the emulator until the second signal is heard: with them
        # answering in 400 ms, a loaded machine let the graceful stop end first.
        slow.set_faults(latency_ms=HOLD_MS)
        await asyncio.wait_for(slow.wait_for_in_flight(CONCURRENCY), timeout=120)
        process.send_signal(signal.SIGTERM)
        stopping = await asyncio.wait_for(process.stderr.readline(), timeout=120)
        assert b"stopping (SIGTERM)" in stopping
        process.send_signal(signal.SIGTERM)  # the held requests are still in flight
        rest = await asyncio.wait_for(process.stderr.read(), timeout=120)
        code = await asyncio.wait_for(process.wait(), timeout=120)
        assert code == 143
        assert b"quitting now (SIGTERM)" in rest
        assert f"{CONCURRENCY} requests in flight ({CONCURRENCY * BATCH} records".encode() in rest
        slow.set_faults(latency_ms=400)  # the held ones end (and store) as the rerun starts
        code, _out, err = await run_cli(args)
        assert code == 0, err
        counts = landed_ids(slow)
        assert set(counts) == set(range(RECORDS))
        assert sum(counts.values()) - RECORDS <= WINDOW_RECORDS


async def test_chaos_every_fault_at_once_lands_everything_and_reports_doubt(
    emulator: Any, data: Path, tmp_path: Path
) -> None:
    emulator.set_faults(
        latency_ms=1,
        jitter_ms=4,
        fail_rate=0.05,
        throttle_rate=0.03,
        reset_rate=0.02,
        drop_after_commit_rate=0.01,
    )

    config = LoadConfig(
        progress=False,
        max_batch_records=BATCH,
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "r.jsonl",
        max_retries=50,
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    summary = await load("events", [data], api=api, config=config, **virtual_time())
    counts = landed_ids(emulator)
    assert set(counts) == set(range(RECORDS))
    assert summary.records_ingested == RECORDS and summary.balanced and summary.finished
    stats = emulator.stats()
    assert stats["faults"]["failed"] > 0 and stats["faults"]["throttled"] > 0
    # duplicates come only from answers lost after commit, whole batches at a time
    duplicated_records = sum(counts.values()) - RECORDS
    assert duplicated_records % BATCH == 0
    duplicated_batches = duplicated_records // BATCH
    assert duplicated_batches <= stats["faults"]["dropped_after_commit"]
    assert summary.in_doubt_requests >= duplicated_batches
    assert summary.retries > 0
