"""Hostile world, the inputs (issue 9, items 3, 8 and 9): files that grow or are rewritten
while they are loaded, FIFOs and character devices, names that are not UTF-8. Real CLI runs
(or the library) against in-process emulators on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.errors import CheckpointMismatch, InputError
from bulkload.pipeline.readers import discover_inputs, fingerprint, verify_unchanged
from bulkload.pipeline.run import load
from bulkload.pipeline.summary import LoadSummary

KEY = "hostile-inputs-key"


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Any]:
    (tmp_path / "emu").mkdir()
    async with events_emulator(tmp_path / "emu", KEY) as handle:
        yield handle


def events(count: int, start: int = 0) -> bytes:
    return b"".join(orjson.dumps({"id": i, "note": "n"}) + b"\n" for i in range(start, count))


def write(name: bytes, data: bytes) -> Path:
    path = Path(os.fsdecode(name))
    path.write_bytes(data)
    return path


# ---- item 9: a file name that is not UTF-8 ------------------------------------------------


async def test_a_file_name_that_is_not_utf8_loads_and_is_shown_escaped(
    emu: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # Python carries the byte 0xE9 (not UTF-8 on its own) as a lone surrogate
    write(os.fsencode(folder) + b"/caf\xe9.jsonl", events(50) + b'{"id": "not a number"}\n')
    code, out, err = await run_cli(load_args(emu, KEY, folder, "--rejects", str(tmp_path / "r")))
    assert code == 3, err  # loaded, with the one bad record rejected
    assert "Traceback" not in err
    assert landed_ids(emu) == Counter(range(50))
    (reject,) = [orjson.loads(line) for line in (tmp_path / "r").read_bytes().splitlines()]
    assert reject["source"].endswith("caf\\xe9.jsonl")  # the byte shown as a backslash escape
    # the rerun finds its checkpoint (the name is part of its identity) and has nothing to do
    code, out, err = await run_cli(load_args(emu, KEY, folder, "--rejects", str(tmp_path / "r")))
    # exit 3: a finished load rerun still reports the rejects its earlier run left (issue 10)
    assert code == 3 and "0 ingested" in out and "50 skipped" in out, err


async def test_an_error_about_a_non_utf8_name_shows_it_escaped(tmp_path: Path) -> None:
    data = write(os.fsencode(tmp_path) + b"/bad\xff.unknown", events(1))
    args = [sys.executable, "-m", "bulkload", "load", "events", str(data),
            "--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--no-progress"]  # fmt: skip
    code, _out, err = await run_cli(args)
    assert code == 2 and "unknown extension" in err
    assert "bad\\xff.unknown" in err and "Traceback" not in err


# ---- item 3: inputs that grow or are rewritten during the load -----------------------------


class HookedApi:
    """The emulator's client, with something done to the input at a chosen moment: after
    the table is fetched (discovery has taken the sizes, reading has not begun), or at the
    first ingest (reading has begun, and backpressure keeps it from finishing)."""

    def __init__(self, client: PeakClient, *, at_get_table: Any = None, at_ingest: Any = None):
        self.client = client
        self.at_get_table = at_get_table
        self.at_ingest = at_ingest

    async def get_table(self, name: str) -> TableSchema:
        schema = await self.client.get_table(name)
        if self.at_get_table is not None:
            self.at_get_table()
        return schema

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        if self.at_ingest is not None:
            hook, self.at_ingest = self.at_ingest, None
            hook()
        return await self.client.ingest(table, body, timeout_s=timeout_s)


async def load_with(emu: Any, tmp_path: Path, path: Path, **hooks: Any) -> LoadSummary:
    config = LoadConfig(
        progress=False,
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "rejects.jsonl",
        max_batch_records=10,
        concurrency=1,
        queue_batches=1,
    )
    api = ApiConfig(base_url=emu.url, api_key=Secret(KEY))
    async with PeakClient(api) as client:
        return await load("events", [path], config=config, client=HookedApi(client, **hooks))


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


@pytest.mark.parametrize(
    ("name", "content", "half", "rest"),
    [
        ("d.jsonl", events(300), b'{"id": 300, "no', b'te": "n"}\n' + events(400, 301)),
        (
            "d.csv",
            b"id,note\n" + b"".join(b"%d,n\n" % i for i in range(300)),
            b"300,THIS-FIELD-IS-HA",
            b"LF\n301,n\n302,n\n",
        ),
    ],
)
async def test_an_input_appended_during_the_load_is_read_to_its_size_at_start(
    emu: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    content: bytes,
    half: bytes,
    rest: bytes,
) -> None:
    path = tmp_path / name
    path.write_bytes(content + half)  # a writer is half-way through its last line
    summary = await load_with(emu, tmp_path, path, at_get_table=lambda: append(path, rest))
    # exactly the records whole at start: not the half line (completed later), not the rest
    assert landed_ids(emu) == Counter(range(300))
    assert summary.finished and summary.records_read == 300 and summary.records_rejected == 0
    (warning,) = [r.getMessage() for r in caplog.records if "grew" in r.getMessage()]
    assert path.name in warning and "unfinished" in warning and "not loaded" in warning


async def test_a_json_array_still_being_written_stops_with_an_error_and_no_half_record(
    emu: Any, tmp_path: Path
) -> None:
    path = tmp_path / "d.json"
    elements = b",\n".join(orjson.dumps({"id": i, "note": "n"}) for i in range(30))
    path.write_bytes(b"[\n" + elements + b',\n{"id": 30, "no')
    with pytest.raises(InputError) as info:
        await load_with(emu, tmp_path, path, at_get_table=lambda: append(path, b'te": "n"}\n]\n'))
    message = str(info.value)
    assert "ends early" in message and "still being written" in message
    assert 30 not in landed_ids(emu)


async def test_a_file_lacking_only_its_last_newline_loads_whole_even_when_appended(
    emu: Any, tmp_path: Path
) -> None:
    # its last record was complete at start: the line break written later makes it so
    path = tmp_path / "d.jsonl"
    path.write_bytes(events(20) + b'{"id": 20, "note": "n"}')
    await load_with(emu, tmp_path, path, at_get_table=lambda: append(path, b"\n" + events(30, 21)))
    assert landed_ids(emu) == Counter(range(21))


async def test_a_file_that_is_one_unfinished_line_at_start_loads_nothing(
    emu: Any, tmp_path: Path
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"id": 0, "no')  # the writer has just begun
    summary = await load_with(
        emu, tmp_path, path, at_get_table=lambda: append(path, b'te": "n"}\n')
    )
    assert summary.records_read == 0 and summary.records_rejected == 0
    assert landed_ids(emu) == Counter()


def rewrite_in_place(path: Path) -> None:
    """Same size, other content, another mtime: what `cp other path` mid-load leaves."""
    status = path.stat()
    path.write_bytes(path.read_bytes().replace(b'"n"', b'"m"'))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


async def test_an_input_rewritten_during_the_load_stops_the_run_and_is_not_marked_done(
    emu: Any, tmp_path: Path
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(events(2000))
    with pytest.raises(InputError) as info:
        await load_with(emu, tmp_path, path, at_ingest=lambda: rewrite_in_place(path))
    message = str(info.value)
    assert str(path) in message and "changed while it was loaded" in message
    # nothing marks it done: the checkpoint holds no "finished", and a rerun is refused
    assert b'"t":"finished"' not in (tmp_path / "cp.jsonl").read_bytes()
    with pytest.raises(CheckpointMismatch, match="changed"):
        await load_with(emu, tmp_path, path)


def test_verify_unchanged_tells_growth_from_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(events(10))
    (input_file,) = discover_inputs([str(path)])
    at_start = fingerprint(input_file)
    verify_unchanged(input_file, at_start)
    append(path, events(20, 10))  # growth: what was read is intact
    verify_unchanged(input_file, at_start)
    path.write_bytes(events(5))
    with pytest.raises(InputError, match="shrank"):
        verify_unchanged(input_file, at_start)
    path.write_bytes(events(10))
    os.utime(path, ns=(0, (input_file.mtime_ns or 0) + 1))
    with pytest.raises(InputError, match="modified"):
        verify_unchanged(input_file, at_start)
    path.unlink()
    with pytest.raises(InputError, match="removed"):
        verify_unchanged(input_file, at_start)


# ---- item 8: FIFOs and character devices ---------------------------------------------------


async def test_a_fifo_loads_once_as_a_stream_and_its_writer_survives(
    emu: Any, tmp_path: Path
) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    process = await asyncio.create_subprocess_exec(
        *load_args(emu, KEY, fifo), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )

    def write() -> None:
        # opens once the loader has opened its end; a loader that opened and closed it
        # first would make this write fail with EPIPE
        with fifo.open("wb") as out:
            out.write(events(500))

    try:
        await asyncio.wait_for(asyncio.to_thread(write), timeout=60)
        _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        release_writer(fifo)
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err
    assert b"as a stream: this load cannot be resumed" in err
    assert landed_ids(emu) == Counter(range(500))


def release_writer(fifo: Path) -> None:
    """If the test failed with a writer still waiting in open(), give it a reader."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))


async def test_ctrl_c_stops_a_load_waiting_on_a_silent_fifo(emu: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    process = await asyncio.create_subprocess_exec(
        *load_args(emu, KEY, fifo, batch=10),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    writer = await asyncio.wait_for(asyncio.to_thread(os.open, fifo, os.O_WRONLY), timeout=60)
    try:
        # One chunk's worth (the reader hands on 2,000 records at a time), then silence
        # with the writer still there: once a batch of it is stored, the loader has read
        # all there is and waits for more from the FIFO.
        os.write(writer, events(2000))
        await asyncio.wait_for(emu.wait_for_records_ingested(10), timeout=60)
        process.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        os.close(writer)
        if process.returncode is None:
            process.kill()
    assert process.returncode == 130, err
    assert b"Traceback" not in err
    landed = landed_ids(emu)
    assert set(landed) <= set(range(2000)) and set(landed.values()) == {1}


async def test_ctrl_c_stops_a_load_whose_fifo_never_gets_a_writer(emu: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    process = await asyncio.create_subprocess_exec(
        *load_args(emu, KEY, fifo), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        # the load has started once it says it reads a stream (discovery never opens it)
        async def started() -> None:
            assert process.stderr is not None
            while b"as a stream" not in (line := await process.stderr.readline()):
                assert line, "the loader ended without saying it reads a stream"

        await asyncio.wait_for(started(), timeout=60)
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), timeout=60)
        err = await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 130, err
    assert b"Traceback" not in err


async def test_a_character_device_is_read_once_as_a_stream(emu: Any, tmp_path: Path) -> None:
    code, _out, err = await run_cli(load_args(emu, KEY, Path("/dev/null"), "--format", "jsonl"))
    assert code == 0, err
    assert "/dev/null as a stream" in err and "holds no records" in err
    assert "Traceback" not in err
