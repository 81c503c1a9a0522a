"""``tables create --infer`` through the real CLI against the emulator: ISO 8601 dates and
timestamps get the dateFormat they are written in, numeric columns get headroom beyond the
sample, --sample all, and the CSV dialect options."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, run_cli

from bulkload.demo import write_sample
from bulkload.pipeline.infer import NUMERIC_HEADROOM_DIGITS

KEY = "infer-iso-test-key"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


def api(emu: Any) -> list[str]:
    return ["--base-url", emu.url, "--api-key", KEY]


async def infer(emu: Any, table: str, data: Path, *options: str) -> dict[str, dict[str, Any]]:
    """Create ``table`` from ``data``; its columns by name, as the API now holds them."""
    code, out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "create", table, "--infer", str(data),
         "--yes", *api(emu), *options]
    )  # fmt: skip
    assert code == 0, err
    code, out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "get", table, "--json", *api(emu)]
    )
    assert code == 0, err
    return {column["name"]: column for column in orjson.loads(out)["columns"]}


async def load(emu: Any, table: str, data: Path, tmp_path: Path, *options: str) -> int:
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "load", table, str(data), *api(emu), "--no-progress",
         "--checkpoint", str(tmp_path / f"{table}.cp"), "--rejects",
         str(tmp_path / f"{table}.rejects"), *options]
    )  # fmt: skip
    assert code in (0, 3), err
    return code


ISO_VALUES = {
    "day": ["2024-01-31", "2024-02-29"],
    "at_space": ["2024-01-31 10:00:00", "2024-12-31 23:59:59"],
    "at_t": ["2024-01-31T10:00:00", "2024-02-01T00:00:00"],
    "at_z": ["2024-01-31T10:00:00Z", "2024-02-01T00:00:00Z"],
    "at_fraction": ["2024-01-31T10:00:00.123Z", "2024-01-31T10:00:00.5Z"],
    "at_offset": ["2024-01-31T10:00:00+02:00", "2024-01-31T10:00:00-05:30"],
    "at_fraction_offset": ["2024-01-31 10:00:00.250+01:00", "2024-01-31 10:00:00.1+00:00"],
    "mixed_zones": ["2024-01-31T10:00:00Z", "2024-01-31T10:00:00+01:00"],
    "not_a_day": ["2024-02-30", "2024-02-28"],
}


async def test_iso_dates_and_timestamps_get_the_format_they_are_written_in(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "iso.jsonl"
    data.write_bytes(
        b"".join(
            orjson.dumps({name: values[i] for name, values in ISO_VALUES.items()}) + b"\n"
            for i in range(2)
        )
    )
    columns = await infer(emulator, "iso", data)
    shapes = {name: (c["type"], c.get("dateFormat")) for name, c in columns.items()}
    assert shapes == {
        "day": ("date", None),
        "at_space": ("timestamp", None),
        "at_t": ("timestamp", 'YYYY-MM-DD"T"HH24:MI:SS'),
        "at_z": ("timestamp", 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        "at_fraction": ("timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.FF"Z"'),
        "at_offset": ("timestamp", 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'),
        "at_fraction_offset": ("timestamp", "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM"),
        "mixed_zones": ("string", None),  # no one format reads both
        "not_a_day": ("string", None),
    }
    # the proposal takes the very values it was inferred from
    assert await load(emulator, "iso", data, tmp_path) == 0


async def test_the_demo_data_infers_its_own_dates_and_timestamps(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "demo.jsonl"
    write_sample(data, 200)  # its first bad record (one per rule) is the 17th
    columns = await infer(emulator, "demo_inferred", data, "--sample", "16")
    assert columns["day"]["type"] == "date"
    assert (columns["seen_at"]["type"], columns["seen_at"]["dateFormat"]) == (
        "timestamp",
        'YYYY-MM-DD"T"HH24:MI:SS',
    )


async def test_numeric_columns_leave_headroom_beyond_the_sample(
    emulator: Any, tmp_path: Path
) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text("amount\n12.50\n9999.99\n")
    columns = await infer(emulator, "amounts", sample)
    assert (columns["amount"]["precision"], columns["amount"]["scale"]) == (
        4 + NUMERIC_HEADROOM_DIGITS + 2,
        2,
    )
    bigger = tmp_path / "full.csv"
    bigger.write_text("amount\n1234567.25\n")  # larger than anything sampled
    assert await load(emulator, "amounts", bigger, tmp_path) == 0


async def test_sample_all_reads_past_the_default_sample(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "late.csv"
    data.write_text("code\n" + "1\n" * 3 + "A7\n")
    assert (await infer(emulator, "first_three", data, "--sample", "3"))["code"]["type"] == (
        "integer"
    )
    assert (await infer(emulator, "every_row", data, "--sample", "all"))["code"]["type"] == (
        "string"
    )
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "create", "t", "--infer", str(data),
         "--sample", "some", *api(emulator)]
    )  # fmt: skip
    assert code == 2 and "'some' is not a number of records (1 or more) or 'all'" in err


async def test_infer_honours_delimiter_and_encoding(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    data.write_bytes("id;name;day\n1;José;2024-01-31\n".encode("latin-1"))
    columns = await infer(emulator, "export", data, "--delimiter", ";", "--encoding", "latin-1")
    assert {name: c["type"] for name, c in columns.items()} == {
        "id": "integer",
        "name": "string",
        "day": "date",
    }
    code = await load(
        emulator, "export", data, tmp_path, "--delimiter", ";", "--encoding", "latin-1"
    )
    assert code == 0
    assert emulator.rows("export")[0]["name"] == "José"
