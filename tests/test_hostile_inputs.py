"""Hostile world, the inputs (issue 9, items 3, 8 and 9): files that grow or are rewritten
while they are loaded, FIFOs and character devices, names that are not UTF-8. Real CLI runs
(or the library) against in-process emulators on loopback."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli

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
    assert code == 0 and "0 ingested" in out and "50 skipped" in out, err


async def test_an_error_about_a_non_utf8_name_shows_it_escaped(tmp_path: Path) -> None:
    data = write(os.fsencode(tmp_path) + b"/bad\xff.unknown", events(1))
    args = [sys.executable, "-m", "bulkload", "load", "events", str(data),
            "--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--no-progress"]  # fmt: skip
    code, _out, err = await run_cli(args)
    assert code == 2 and "unknown extension" in err
    assert "bad\\xff.unknown" in err and "Traceback" not in err
