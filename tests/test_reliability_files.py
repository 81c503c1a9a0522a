"""The load's own files under stress: unusable, full or damaged checkpoint and rejects paths.

Each refusal must be one line on stderr with the right exit code, and must come before a
single record is sent (the emulator's stats prove it). A damaged checkpoint is never
silently trusted or thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli, write_events

from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.errors import BulkloadError
from bulkload.pipeline.checkpoint import Checkpoint
from bulkload.pipeline.run import load

KEY = "files-test-key"
RECORDS = 3_000
BATCH = 100


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


@pytest.fixture
def data(tmp_path: Path) -> Path:
    # one reject, so the rejects file is written
    return write_events(tmp_path / "events.jsonl", RECORDS, extra=[b'{"id": "not an integer"}'])


async def run_load(emu: Any, data: Path, *options: str) -> tuple[int, str, str]:
    return await run_cli(load_args(emu, KEY, data, *options, batch=BATCH), timeout_s=120)


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bulkload: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)


def nothing_ingested(emu: Any) -> bool:
    stats = emu.stats()
    return bool(stats["records_ingested_total"] == 0 and stats["batches_ingested"] == 0)


# --- paths that are not files ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["--rejects", "--checkpoint"])
async def test_a_device_path_is_refused_before_sending_and_the_device_survives(
    emulator: Any, data: Path, tmp_path: Path, which: str
) -> None:
    other = "--checkpoint" if which == "--rejects" else "--rejects"
    code, _out, err = await run_load(
        emulator, data, which, "/dev/full", other, str(tmp_path / "other.jsonl"), "--restart"
    )
    assert code == 2
    assert_one_line_error(err, "/dev/full", "not a regular file", which)
    assert nothing_ingested(emulator)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # --restart did not rename over it


@pytest.mark.parametrize("which", ["--rejects", "--checkpoint"])
async def test_a_path_under_a_file_is_refused_before_sending(
    emulator: Any, data: Path, tmp_path: Path, which: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    other = "--checkpoint" if which == "--rejects" else "--rejects"
    code, _out, err = await run_load(
        emulator, data, which, str(blocker / "x.jsonl"), other, str(tmp_path / "other.jsonl")
    )
    assert code == 2
    assert_one_line_error(err, str(blocker / "x.jsonl"), which)
    assert nothing_ingested(emulator)


# --- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last byte (needs root and mount; skipped otherwise)."""
    mount_point = tmp_path / f"full-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), (mount_point / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.parametrize("which", ["--rejects", "--checkpoint"])
async def test_a_full_disk_is_refused_before_sending(
    emulator: Any, data: Path, tmp_path: Path, full_disk: Path, which: str
) -> None:
    other = "--checkpoint" if which == "--rejects" else "--rejects"
    code, _out, err = await run_load(
        emulator, data, which, str(full_disk / "x.jsonl"), other, str(tmp_path / "other.jsonl")
    )
    assert code == 2
    assert_one_line_error(err, "No space left on device", which)
    assert nothing_ingested(emulator)


async def test_a_resumed_checkpoint_on_a_disk_that_filled_up_is_refused_before_sending(
    emulator: Any, data: Path, tmp_path: Path, full_disk: Path
) -> None:
    # Only the header fits: the log exists and is valid, but no acknowledgement can be added.
    (full_disk / "filler").unlink()
    checkpoint = full_disk / "cp.jsonl"
    code, _out, err = await run_load(
        emulator, data, "--checkpoint", str(checkpoint), "--rejects", str(tmp_path / "r.jsonl"),
        "--dry-run",
    )  # fmt: skip
    assert code == 3, err
    (full_disk / "cp.jsonl").unlink(missing_ok=True)
    with Checkpoint.open(checkpoint, {"any": "identity"}):
        pass
    with contextlib.suppress(OSError), (full_disk / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()
    code, _out, err = await run_load(
        emulator, data, "--checkpoint", str(checkpoint), "--rejects", str(tmp_path / "r.jsonl"),
        "--restart",
    )  # fmt: skip
    assert code == 2
    assert_one_line_error(err, "No space left on device")
    assert nothing_ingested(emulator)


# --- a damaged checkpoint ------------------------------------------------------------------------


async def _finished_run(emu: Any, data: Path, checkpoint: Path, rejects: Path) -> None:
    code, _out, err = await run_load(
        emu, data, "--checkpoint", str(checkpoint), "--rejects", str(rejects)
    )
    assert code == 3, err


async def test_checkpoint_truncated_mid_line_is_reported_and_its_batches_sent_again(
    emulator: Any, data: Path, tmp_path: Path
) -> None:
    checkpoint, rejects = tmp_path / "cp.jsonl", tmp_path / "r.jsonl"
    await _finished_run(emulator, data, checkpoint, rejects)
    lines = checkpoint.read_bytes().splitlines(keepends=True)
    kept = b"".join(lines[:11])  # header + 10 batches
    checkpoint.write_bytes(kept + lines[11][: len(lines[11]) // 2])
    before = emulator.stats()["batches_ingested"]
    code, out, err = await run_load(
        emulator, data, "--checkpoint", str(checkpoint), "--rejects", str(rejects)
    )
    assert code == 3, err
    assert "incomplete last entry" in err and str(checkpoint) in err
    assert "Traceback" not in err
    # the 10 recorded batches are trusted, everything after the torn line is sent again
    assert emulator.stats()["batches_ingested"] - before == RECORDS // BATCH - 10
    assert set(landed_ids(emulator)) == set(range(RECORDS))
    assert "check: read = ingested + rejected + skipped: ok" in out
    # the rejects file still lists the bad record exactly once
    assert len(rejects.read_bytes().splitlines()) == 1


@pytest.mark.parametrize("damage", ["flip_a_digit", "cut_a_line_in_two", "delete_bytes"])
async def test_checkpoint_damaged_in_the_middle_is_refused_and_left_untouched(
    emulator: Any, data: Path, tmp_path: Path, damage: str
) -> None:
    checkpoint, rejects = tmp_path / "cp.jsonl", tmp_path / "r.jsonl"
    await _finished_run(emulator, data, checkpoint, rejects)
    lines = checkpoint.read_bytes().splitlines(keepends=True)
    victim = lines[5]
    if damage == "flip_a_digit":
        at = victim.index(b'"seq":') + 6
        digit = victim[at : at + 1]
        lines[5] = victim[:at] + (b"7" if digit != b"7" else b"8") + victim[at + 1 :]
    elif damage == "cut_a_line_in_two":
        lines[5] = victim[:20] + b"\n" + victim[20:]
    else:
        lines[5] = victim[:10] + victim[30:]
    damaged = b"".join(lines)
    checkpoint.write_bytes(damaged)
    before = emulator.stats()["batches_ingested"]
    code, _out, err = await run_load(
        emulator, data, "--checkpoint", str(checkpoint), "--rejects", str(rejects)
    )
    assert code == 2
    assert_one_line_error(err, str(checkpoint), "line 6", "--restart")
    assert checkpoint.read_bytes() == damaged
    assert emulator.stats()["batches_ingested"] == before


# --- a checkpoint write that fails mid-run -------------------------------------------------------


async def test_a_checkpoint_write_failing_mid_run_stops_the_run_promptly(
    emulator: Any, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_once_every_batch_is_answered(self: Checkpoint, done: Any) -> None:
        # Runs in the commit thread (an anyio worker thread). The first group commit fails
        # only after every other batch has landed, so their acknowledgements queue up
        # behind the failed commit.
        anyio.from_thread.run(emulator.wait_for_records_ingested, RECORDS)
        raise BulkloadError(f"cannot write checkpoint {self.path} (No space left on device)")

    monkeypatch.setattr(Checkpoint, "record", fail_once_every_batch_is_answered)
    config = LoadConfig(
        progress=False,
        max_batch_records=BATCH,
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "r.jsonl",
        drain_timeout_s=3600,  # a worker left waiting would hold the run for an hour
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    with pytest.raises(BulkloadError, match="No space left on device"):
        # a hang guard, not a speed limit: the failure is known within milliseconds
        await asyncio.wait_for(load("events", [data], api=api, config=config), timeout=10)
