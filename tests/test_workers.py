"""--workers: worker processes check the chunks, the loader cuts the batches.

What must hold: the batches are the same bytes whatever the number of workers (so resume,
the checkpoint and its kill -9 bound do not depend on it), rejects keep their file and
line, a dead worker fails the run in one line and the rerun finishes the job, a stop
signal sent to the whole process group stops the load gracefully, and no worker outlives
the loader.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import bulkload.pipeline.workers as pool_module
from bulkload.cli import cli
from bulkload.config import LoadConfig
from bulkload.contract.schema import TableSchema
from bulkload.errors import TooManyBadRecords
from bulkload.pipeline.producer import Handover, Producer
from bulkload.pipeline.readers import discover_inputs
from bulkload.pipeline.workers import AUTO_MAX_WORKERS, ChunkPool, auto_workers
from tests.loadkit import events_emulator, landed_ids, load_args, run_cli, write_events

KEY = "workers-key"

SCHEMA = TableSchema.from_json(
    {
        "tableName": "mixed",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 8, "scale": 2},
            {"name": "note", "type": "string"},
            {"name": "day", "type": "date"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)


def _jsonl_line(rng: random.Random, i: int) -> bytes:
    roll = rng.random()
    if roll < 0.01:
        return b'{"id": ' + str(i).encode() + b', "amount": '  # not JSON
    if roll < 0.02:
        return orjson.dumps({"id": i, "amount": "12345678.9"})  # too many digits
    if roll < 0.03:
        return orjson.dumps({"id": i, "nope": 1})  # an unknown field
    if roll < 0.035:
        return b""  # a blank line holds no record
    if roll < 0.04:
        return orjson.dumps({"id": i, "note": "x" * rng.randint(20_000, 90_000)})  # long
    if roll < 0.05:
        return orjson.dumps({"id": str(i), "amount": "1.5"})  # coercible with --coerce
    return orjson.dumps(
        {
            "id": i,
            "amount": f"{rng.randint(0, 999999)}.{rng.randint(0, 99):02d}",
            "note": rng.choice(["a", "é", "日本", 'q"uote', "back\\slash"]),
            "day": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "meta": {"k": rng.randint(0, 9), "l": [1, 2]},
        }
    )


def _csv_line(rng: random.Random, i: int) -> str:
    roll = rng.random()
    if roll < 0.01:
        return f"{i},abc,n,2024-01-01"  # amount is no number
    if roll < 0.02:
        return f"{i},1.5,n,2024-02-30"  # no such day
    if roll < 0.03:
        return f'{i},1.5,"open quote'  # malformed (and it may swallow lines after it)
    if roll < 0.035:
        return f"{i},1.5"  # too few fields
    note = rng.choice(["plain", '"with, comma"', '"with ""quotes"""', "ü"])
    return f"{i},{rng.randint(0, 99999)}.{rng.randint(0, 99):02d},{note},2024-03-{rng.randint(1, 28):02d}"


def _write_inputs(tmp_path: Path, seed: int) -> list[Path]:
    rng = random.Random(seed)
    first = tmp_path / f"a-{seed}.jsonl"
    first.write_bytes(b"\n".join(_jsonl_line(rng, i) for i in range(9_000)) + b"\n")
    table = tmp_path / f"b-{seed}.csv"
    rows = [_csv_line(rng, i) for i in range(7_000)]
    table.write_text("id,amount,note,day\n" + "\n".join(rows) + "\n", encoding="utf-8")
    last = tmp_path / f"c-{seed}.jsonl"
    last.write_bytes(b"\n".join(_jsonl_line(rng, i) for i in range(300)))  # no final newline
    return [first, table, last]


def _produce(paths: list[Path], workers: int | None, **options: Any) -> list[Any]:
    """Everything the producer hands over, in order, in a comparable form."""
    config = LoadConfig(workers=workers, max_batch_records=137, max_batch_bytes=150_000, **options)
    seen: list[Any] = []
    final: list[Handover] = []

    def hand_over(handover: Handover) -> None:
        for work in handover.works:
            rejects = [(r.source, r.line, r.reason) for r in work.read_rejects]
            seen.append((work.batch.seq, work.batch.body, work.batch.tags, rejects))
        if handover.loose_rejects:
            seen.append(("loose", [(r.source, r.line) for r in handover.loose_rejects]))
        final[:] = [handover]

    inputs = discover_inputs([str(path) for path in paths])
    try:
        Producer("mixed", inputs, SCHEMA, config, plan=None, hand_over=hand_over).produce()
    except TooManyBadRecords as stopped:
        seen.append(("stopped", stopped.message))
        return seen
    end = final[0]
    seen.append(
        ("end", end.end, end.records_read, end.bytes_read, end.files_read, end.records_coerced)
    )
    return seen


@pytest.mark.parametrize("seed", [1, 2])
def test_any_number_of_workers_cuts_byte_identical_batches(tmp_path: Path, seed: int) -> None:
    paths = _write_inputs(tmp_path, seed)
    alone = _produce(paths, 0)
    assert len(alone) > 100  # many batches, several chunks of each file
    assert any(entry[3] for entry in alone if entry[0] != "end" and entry[0] != "loose")
    assert _produce(paths, 1) == alone
    assert _produce(paths, 3) == alone


def test_counts_of_the_options_add_up_across_workers(tmp_path: Path) -> None:
    paths = _write_inputs(tmp_path, 3)
    alone = _produce(paths, 0, coerce=True)
    assert alone[-1][-1] > 0  # some records were coerced
    assert _produce(paths, 2, coerce=True) == alone


def test_a_chunk_pool_checks_in_order_whatever_finishes_first() -> None:
    from bulkload.contract.validate import RecordValidator
    from bulkload.pipeline.chunkcheck import ChunkChecker
    from bulkload.pipeline.readers.chunks import ChunkKind

    checker = ChunkChecker(RecordValidator(SCHEMA))
    # chunks of very different cost, so a later one is done before an earlier one
    chunks = [
        [orjson.dumps({"id": i, "note": "n" * (size % 7)}) for i in range(size)]
        for size in (5_000, 3, 2_000, 1, 40, 7_000, 2)
    ]
    chunks[3] = [b'{"id": "x"}']  # refused
    with ChunkPool(checker, 2) as pool:
        tickets = [pool.submit(ChunkKind.RAW_JSON, None, False, items) for items in chunks]
        verdicts = [ticket.verdict(lambda: None) for ticket in tickets]
    expected = [checker.check(ChunkKind.RAW_JSON, None, False, items) for items in chunks]
    assert [v.all_bytes for v in verdicts] == [v.all_bytes for v in expected]
    assert [None if v.outcomes is None else [str(o) for o in v.outcomes] for v in verdicts] == [
        None if v.outcomes is None else [str(o) for o in v.outcomes] for v in expected
    ]
    refused = verdicts[3].outcomes
    assert refused is not None and refused[0].problems == expected[3].outcomes[0].problems  # type: ignore[union-attr,index]


def test_auto_leaves_a_core_for_the_loader_and_needs_a_big_input() -> None:
    assert auto_workers() == min(AUTO_MAX_WORKERS, max(1, len(os.sched_getaffinity(0)) - 1))
    assert ChunkPool(None, None).window == 0  # type: ignore[arg-type]  # nothing started yet
    # an input of unknown size waits for proof: the chunk rule (auto_start has the others)
    stdin = discover_inputs(["-"])
    assert pool_module.auto_start(stdin, csv_blocks=False) is pool_module.AutoStart.PROVEN


@pytest.mark.parametrize("value", ["-1", "many", "65"])
def test_a_bad_worker_count_is_a_one_line_usage_error(value: str) -> None:
    result = CliRunner().invoke(cli, ["load", "t", "x.jsonl", "--workers", value])
    assert result.exit_code == 2
    assert "--workers" in result.output and "'auto'" in result.output
    assert "Traceback" not in result.output


# ---- the real CLI ---------------------------------------------------------------------------

RECORDS = 30_000


def _args(emu: Any, data: Path, tmp_path: Path, *options: str, batch: int = 500) -> list[str]:
    return load_args(
        emu, KEY, data, "--checkpoint", str(tmp_path / "cp.jsonl"),
        "--rejects", str(tmp_path / "rejects.jsonl"), *options, batch=batch,
    )  # fmt: skip


async def test_a_load_with_workers_stores_every_record_once(tmp_path: Path) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS, extra=[b'{"id": "bad"}'])
    async with events_emulator(tmp_path, KEY) as emu:
        code, _out, err = await run_cli(_args(emu, data, tmp_path, "--workers", "2"))
        assert code == 3, err  # one reject
        assert landed_ids(emu) == Counter(range(RECORDS))
    rejects = [
        orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert [(r["source"], r["line"]) for r in rejects] == [(str(data), RECORDS + 1)]
    assert "Traceback" not in err


async def test_a_killed_worker_fails_the_run_in_one_line_and_the_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    async with events_emulator(tmp_path, KEY) as emu:
        args = _args(emu, data, tmp_path, "--workers", "2")
        # each worker's second chunk: the first four chunks go to the two workers whatever
        # the timing (later ones may be checked in the loader while both are busy), so one
        # of them surely gets a second
        monkeypatch.setenv("BULKLOAD_FAILPOINT", "worker:2")
        code, _out, err = await run_cli(args)
        assert code == 1, err
        assert "worker process (--workers) ended abruptly" in err
        assert "rerun the same command" in err
        assert "Traceback" not in err
        assert len(landed_ids(emu)) < RECORDS
        monkeypatch.delenv("BULKLOAD_FAILPOINT")
        # the batches do not depend on N, so the rerun may use another number of workers
        code, out, err = await run_cli([*args[:-1], "0"])
        assert code == 0, err
        assert "skipped (done in an earlier run)" in out
        assert landed_ids(emu) == Counter(range(RECORDS))


async def test_a_worker_that_raises_is_checked_again_in_the_loader_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    async with events_emulator(tmp_path, KEY) as emu:
        monkeypatch.setenv("BULKLOAD_FAILPOINT", "worker-bug:2")
        args = _args(emu, data, tmp_path, "--ignore-unknown-columns", "--workers", "1")
        code, _out, err = await run_cli(args)
        assert code == 0, err
        assert "a worker process failed on a chunk (InjectedFault" in err
        assert landed_ids(emu) == Counter(range(RECORDS))


async def test_a_record_of_no_known_field_stops_the_run_as_without_workers(
    tmp_path: Path,
) -> None:
    data = write_events(tmp_path / "events.jsonl", 50, extra=[b'{"nothing": 1}'])
    async with events_emulator(tmp_path, KEY) as emu:
        results = []
        for workers in ("0", "1"):
            (tmp_path / "cp.jsonl").unlink(missing_ok=True)
            code, _out, err = await run_cli(_args(emu, data, tmp_path, "--workers", workers))
            results.append((code, err.strip().splitlines()[-1]))
        assert results[0] == results[1]
        assert results[0][0] == 2 and "no field" in results[0][1].lower()
        assert "worker process failed" not in err


def _worker_processes(pid: int) -> set[int]:
    """The loader's worker processes (not multiprocessing's resource tracker, which ends
    on its own once the loader has)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.add(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_ctrl_c_to_the_process_group_stops_gracefully_and_no_worker_outlives_it(
    tmp_path: Path,
) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    async with events_emulator(tmp_path, KEY, latency_ms=300) as slow:
        # 300 batches: more than the queue holds, so the reading (and the pool) is still on
        args = _args(slow, data, tmp_path, "--workers", "2", batch=100)
        process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, as a shell job has
        )
        assert process.stderr is not None
        await asyncio.wait_for(slow.wait_for_records_ingested(500), timeout=120)
        workers = _worker_processes(process.pid)
        assert len(workers) == 2
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        err = await asyncio.wait_for(process.stderr.read(), timeout=120)
        code = await asyncio.wait_for(process.wait(), timeout=120)
        assert code == 130, err
        assert b"stopping (SIGINT)" in err
        assert b"ended abruptly" not in err and b"Traceback" not in err
        assert not [pid for pid in workers if _alive(pid)]
        code, _out, text = await run_cli(args)
        assert code == 0, text
        counts = landed_ids(slow)
        assert set(counts) == set(range(RECORDS))


# ---- every input kind, and Peak v2, through the workers ----------------------------------------


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "amount": f"{i % 997}.25", "note": f'n{i}, "q"\nx', "day": "2024-05-06"}
        for i in range(count)
    ]


@pytest.mark.parametrize("kind", ["json", "jsonl.gz", "parquet"])
def test_every_input_kind_cuts_the_same_batches_with_workers(tmp_path: Path, kind: str) -> None:
    import gzip

    rows = _records(6_000)
    rows[77]["amount"] = "1234567.891"  # refused: too many digits
    path = tmp_path / f"in.{kind}"
    if kind == "json":
        path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    elif kind == "jsonl.gz":
        path.write_bytes(gzip.compress(b"\n".join(map(orjson.dumps, rows)) + b"\n"))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=1_000)
    alone = _produce([path], 0)
    assert any(entry[3] for entry in alone if entry[0] not in ("end", "loose"))  # the reject
    assert _produce([path], 2) == alone


async def test_standard_input_is_read_once_and_fanned_out_to_the_workers(tmp_path: Path) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    async with events_emulator(tmp_path, KEY) as emu:
        args = load_args(emu, KEY, Path("-"), "--workers", "2", batch=500)
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "BULKLOAD_STATE_DIR": str(tmp_path / "state")},
        )
        _out, err = await asyncio.wait_for(process.communicate(data.read_bytes()), timeout=180)
        assert process.returncode == 0, err.decode()
        assert landed_ids(emu) == Counter(range(RECORDS))


async def test_a_peak_v2_load_with_workers_upserts_every_row_once(tmp_path: Path) -> None:
    from tests.test_v2_load import KEY as V2_KEY
    from tests.test_v2_load import v2_load, write_rows
    from tests.v2kit import CUSTOMER_TABLE, customer, v2_emulator

    count = 9_000
    data = write_rows(tmp_path / "c.jsonl", [customer(i) for i in range(count)])
    async with v2_emulator(tmp_path, V2_KEY) as emu:
        code, _out, err = await run_cli(
            v2_load(emu.url, "CUSTOMER", data, tmp_path, "--workers", "2")
        )
        assert code == 0, err
        stored = sorted(r["CUSTOMER_ID"] for r in emu.rows(CUSTOMER_TABLE))
        assert stored == sorted(f"C{i}" for i in range(count))


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """Whether process ``pid`` (not our child) has ended within ``timeout_s``: waits on a
    pidfd, which becomes readable when the process exits."""
    import select

    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout_s)
        return bool(readable)
    finally:
        os.close(descriptor)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux 5.3+)")
async def test_kill_9_of_the_loader_ends_its_workers_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    data = write_events(tmp_path / "events.jsonl", RECORDS)
    async with events_emulator(tmp_path, KEY, latency_ms=100) as slow:
        args = _args(slow, data, tmp_path, "--workers", "2", batch=100)
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await asyncio.wait_for(slow.wait_for_records_ingested(2_000), timeout=120)
        workers = _worker_processes(process.pid)
        assert len(workers) == 2
        process.send_signal(signal.SIGKILL)
        await process.wait()
        # a worker sees its pipe close and ends: none is left behind, orphaned
        assert all([_wait_gone(pid, 60) for pid in workers])
        landed_before = sum(landed_ids(slow).values())
        assert landed_before < RECORDS
        code, out, err = await run_cli(args)
        assert code == 0, err
        counts = landed_ids(slow)
        assert set(counts) == set(range(RECORDS))
        assert "skipped (done in an earlier run)" in out
        # the batches re-cut on resume are the same: at most what was in flight is doubled
        assert sum(counts.values()) - RECORDS <= 30 * 100


def test_the_bad_record_limit_stops_at_the_same_record_with_workers(tmp_path: Path) -> None:
    paths = _write_inputs(tmp_path, 4)
    alone = _produce(paths, 0, max_bad_records=40)
    assert alone[-1][0] == "stopped"
    handed = [entry for entry in alone if entry[0] == "loose" or isinstance(entry[0], int)]
    rejects = sum(len(entry[1] if entry[0] == "loose" else entry[3]) for entry in handed)
    assert rejects == 41  # exactly the limit + 1, all handed over to be listed
    assert _produce(paths, 2, max_bad_records=40) == alone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_starts_with_the_stop_signals_blocked_so_ctrl_c_cannot_kill_it_while_it_imports() -> (
    None
):
    import multiprocessing

    from bulkload.contract.validate import RecordValidator
    from bulkload.pipeline.chunkcheck import ChunkChecker
    from bulkload.pipeline.readers.chunks import ChunkKind

    with ChunkPool(ChunkChecker(RecordValidator(SCHEMA)), 1) as pool:
        pool.submit(ChunkKind.RAW_JSON, None, False, [b'{"id": 1}']).verdict(lambda: None)
        (worker,) = [
            child
            for child in multiprocessing.active_children()
            if "resource_tracker" not in " ".join(Path(f"/proc/{child.pid}/cmdline").read_text())
        ]
        status = Path(f"/proc/{worker.pid}/status").read_text()
    blocked = int(status.split("SigBlk:")[1].split()[0], 16)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        assert blocked & (1 << (signum - 1)), signal.Signals(signum).name


# ---- CSV: raw blocks parsed in the workers -----------------------------------------------------


def _csv_as(monkeypatch: pytest.MonkeyPatch, *, blocks: bool) -> None:
    """Have the pool read CSV as raw blocks parsed where they are checked (in the loader
    with --workers 0), or as read_csv's rows converted in the loader, whatever the cores."""
    import bulkload.pipeline.workers as workers

    monkeypatch.setattr(workers, "csv_in_workers", lambda count: blocks)


def _rejects_in_full(
    seen: list[Any], paths: list[Path], workers: int | None, **options: Any
) -> Any:
    """_produce's figures, each reject with everything the rejects file says of it."""
    from bulkload.pipeline.messages import NO_VALUE

    config = LoadConfig(workers=workers, max_batch_records=137, max_batch_bytes=150_000, **options)
    out: list[Any] = []

    def described(reject: Any) -> tuple[Any, ...]:
        value = None if reject.value is NO_VALUE else orjson.dumps(reject.value)
        return (
            reject.source, reject.line, reject.reason, reject.record, value, reject.csv_row,
            reject.csv_header, reject.problems,
        )  # fmt: skip

    def hand_over(handover: Handover) -> None:
        for work in handover.works:
            out.append((work.batch.seq, work.batch.body, list(work.batch.tags)))
            out.append([described(r) for r in work.read_rejects])
        if handover.loose_rejects:  # (when hand-overs happen depends on time)
            out.append([described(r) for r in handover.loose_rejects])
        if handover.end is not None:
            out.append((handover.end, handover.records_read, handover.bytes_read))
            out.append((handover.records_coerced, handover.fields_dropped))

    inputs = discover_inputs([str(path) for path in paths], input_format="csv")
    try:
        Producer("mixed", inputs, SCHEMA, config, plan=None, hand_over=hand_over).produce()
    except TooManyBadRecords as stopped:
        out.append(("stopped", stopped.message))
    seen.append(out)
    return out


# Field values from the edges: quoting, line breaks in fields, NULL markers, values --coerce
# converts, and rows the reader or the validator refuses.
_NOTES = ["plain", "with, comma", 'say "hi"', "two\nlines", "cr\r\nlf", "é ü", "", "NULL", " x"]


def _quoted(field: str, delimiter: str, quote: str) -> str:
    if quote and (any(c in field for c in (delimiter, quote, "\n", "\r")) or field[:1] == " "):
        return quote + field.replace(quote, quote * 2) + quote
    return field


def _csv_table(
    rng: random.Random, count: int, *, delimiter: str, quote: str, crlf: bool
) -> tuple[str, dict[int, str]]:
    """Rows of (id, amount, note, day, meta) as text, and the first line of some rows that
    must come back as rejects, with what is wrong with them."""
    lines: list[str] = []
    bad: dict[int, str] = {}
    line_no = 1  # the header (or the first line without one) is line 1
    for i in range(count):
        roll = rng.random()
        note = rng.choice(_NOTES if quote else ["plain", "é ü", "", "NULL"])
        day = f"2024-03-{rng.randint(1, 28):02d}"
        amount = f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"
        ident = str(i)
        meta = '{"k": [1, 2], "s": "v"}'
        if roll < 0.02:
            amount = "abc"  # no number
            bad[line_no + 1] = "amount"
        elif roll < 0.04:
            day = "2024-02-30"  # no such day
            bad[line_no + 1] = "day"
        elif roll < 0.05:
            ident = f" {i} "  # --coerce strips it
        elif roll < 0.06:
            day = "2024-03-01T00:00:00Z"  # --coerce takes the date
        elif roll < 0.07 and quote:
            note = "long\n" + "y" * rng.randint(500, 3000) + "\nfield"  # spans blocks
        elif roll < 0.075:
            lines.append("")  # a blank line holds no row
            line_no += 1
        elif roll < 0.08:
            lines.append(delimiter.join([ident, amount]))  # too few fields
            line_no += 1
            bad[line_no] = "fields"
            continue
        elif roll < 0.085 and quote:
            lines.append(f"{ident}{delimiter}1.5{delimiter}{quote}x{quote}y")  # malformed
            line_no += 1
            bad[line_no] = "malformed"
            continue
        fields = [ident, amount, note, day, meta]
        text = delimiter.join(_quoted(field, delimiter, quote) for field in fields)
        if not quote:
            text = text.replace(delimiter + meta, delimiter + meta.replace(delimiter, ";"))
        lines.append(text)
        line_no += 1 + note.count("\n")  # (without quoting, no note holds one)
    newline = "\r\n" if crlf else "\n"
    return newline.join(lines) + newline, bad


_CSV_CASES = {
    # name: (dialect options, header, encoding to write, BOM, CRLF, raw bytes to add)
    "utf8-bom-crlf-nulls": (
        {"null_markers": ("NULL",)}, True, "utf-8", True, True, [b"7,1.5,\xff\xfe bad,2024-01-01,1"],
    ),
    "semicolon-apostrophe-cp1252": (
        {"delimiter": ";", "quote_char": "'", "encoding": "cp1252"}, True, "cp1252", False, True,
        [b"8;1.5;undefined \x81 byte;2024-01-01;1"],
    ),
    "tab-no-header-utf16": (
        {
            "delimiter": "tab", "encoding": "utf-16", "has_header": False,
            "column_names": ("id", "amount", "note", "day", "meta"),
        },
        False, "utf-16", False, False, [],
    ),
    "pipe-no-quoting": ({"delimiter": "|", "quote_char": ""}, True, "utf-8", False, False, []),
}  # fmt: skip


def _write_csv_case(
    tmp_path: Path, name: str, seed: int
) -> tuple[Path, dict[str, Any], dict[int, str]]:
    from bulkload.config import CsvDialect

    options, header, encoding, bom, crlf, raw = _CSV_CASES[name]
    dialect = CsvDialect(**options)
    rng = random.Random(seed)
    text, bad = _csv_table(
        rng, 2_500, delimiter=dialect.delimiter, quote=dialect.quote_char, crlf=crlf
    )
    newline = "\r\n" if crlf else "\n"
    if header:
        text = dialect.delimiter.join(["id", "amount", "note", "day", "meta"]) + newline + text
    else:
        bad = {line - 1: why for line, why in bad.items()}
    data = text.encode(encoding)
    if raw:  # rows holding bytes the encoding cannot decode: rejected, kept as they are
        data += b"\n".join(raw) + newline.encode()
    if bom:
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / f"{name}-{seed}.csv"
    path.write_bytes(data)
    return path, {"csv_dialect": dialect}, bad


@pytest.mark.parametrize("name", list(_CSV_CASES))
def test_csv_parsed_in_workers_cuts_the_batches_and_rejects_read_in_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Raw blocks parsed where they are checked, with 0 or 2 workers, at block sizes that cut
    rows and quoted fields: the same batches, rejects (file, line, fields, reason) and counts
    as read_csv's rows converted in the loader, for every dialect, encoding and option."""

    path, options, bad = _write_csv_case(tmp_path, name, 11)
    options = {**options, "coerce": True}
    seen: list[Any] = []
    cut_rows = _count_reparsed_rows(monkeypatch)
    for buffer_bytes in (1 << 20, 700):
        _csv_as(monkeypatch, blocks=False)
        expected = _rejects_in_full(seen, [path], 0, read_buffer_bytes=buffer_bytes, **options)
        _csv_as(monkeypatch, blocks=True)
        assert _rejects_in_full(seen, [path], 0, read_buffer_bytes=buffer_bytes, **options) == (
            expected
        )
    assert _rejects_in_full(seen, [path], 2, read_buffer_bytes=700, **options) == expected
    # the rows refused are named by their file and first line
    lines = {r[1] for entry in expected if isinstance(entry, list) for r in entry}
    assert all(r[0] == str(path) for entry in expected if isinstance(entry, list) for r in entry)
    assert set(bad) <= lines, sorted(set(bad) - lines)
    assert len(lines) > len(bad) or name != "utf8-bom-crlf-nulls"  # + the undecodable row
    if _CSV_CASES[name][0].get("quote_char", '"'):
        assert cut_rows  # a 700-byte block did end inside a quoted field
    assert expected[-1][0] > 0  # --coerce converted some


def test_a_csv_file_that_stops_at_the_bad_record_limit_stops_alike_with_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, options, _bad = _write_csv_case(tmp_path, "utf8-bom-crlf-nulls", 5)
    seen: list[Any] = []
    _csv_as(monkeypatch, blocks=False)
    expected = _rejects_in_full(seen, [path], 0, max_bad_records=30, **options)
    assert expected[-1][0] == "stopped"
    _csv_as(monkeypatch, blocks=True)
    assert _rejects_in_full(seen, [path], 2, max_bad_records=30, **options) == expected


def _write_csv_events(path: Path, count: int, note: str = '"a note, ""quoted"""') -> Path:
    """Events 0..count-1 as CSV, a few MiB of them: several raw blocks for the workers."""
    note += "," + "x" * 150
    path.write_text(
        "id,note,pad\n" + "".join(f"{i},{note}\n" for i in range(count)), encoding="utf-8"
    )
    return path


def test_raw_blocks_end_where_rows_do_when_quotes_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block is cut at a line break after an even number of quotes, so a quoted line
    break does not make the loader parse the row (and the next block) again."""

    data = _write_csv_events(tmp_path / "e.csv", 3_000, note='"two\nlines, ""quoted"""')
    cut_rows = _count_reparsed_rows(monkeypatch)
    seen: list[Any] = []
    _csv_as(monkeypatch, blocks=True)
    got = _rejects_in_full(seen, [data], 0, read_buffer_bytes=4096, ignore_unknown_columns=True)
    assert not cut_rows
    assert got[-2][1] == 3_000  # records read
    _csv_as(monkeypatch, blocks=False)
    assert got == _rejects_in_full(
        seen, [data], 0, read_buffer_bytes=4096, ignore_unknown_columns=True
    )


def test_a_killed_worker_parsing_csv_fails_the_run_as_a_dead_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bulkload.errors import WorkerFailed

    data = _write_csv_events(tmp_path / "events.csv", RECORDS)
    _csv_as(monkeypatch, blocks=True)
    # the worker's second block: the window's first two surely go to it
    monkeypatch.setenv("BULKLOAD_FAILPOINT", "worker:2")
    with pytest.raises(WorkerFailed, match="rerun the same command"):
        _rejects_in_full([], [data], 1, ignore_unknown_columns=True)


def test_a_worker_that_raises_on_a_csv_block_has_it_parsed_in_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = _write_csv_events(tmp_path / "events.csv", RECORDS)
    _csv_as(monkeypatch, blocks=True)
    expected = _rejects_in_full([], [data], 0, ignore_unknown_columns=True)
    monkeypatch.setenv("BULKLOAD_FAILPOINT", "worker-bug:2")
    assert _rejects_in_full([], [data], 1, ignore_unknown_columns=True) == expected
    assert "a worker process failed on a chunk (InjectedFault" in caplog.text
    assert expected[-2][1] == RECORDS


@pytest.mark.parametrize(
    ("cores", "workers", "blocks"),
    [(2, 1, False), (2, 2, False), (3, 1, True), (3, 2, True), (3, 3, False), (4, 3, True)],
)
def test_csv_goes_to_the_workers_only_where_each_has_a_core_besides_the_loaders(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, blocks: bool
) -> None:
    import bulkload.pipeline.workers as pool_module

    monkeypatch.setattr(pool_module, "usable_cores", lambda: cores)
    assert pool_module.csv_in_workers(workers) is blocks
    assert pool_module.csv_in_workers(0) is False
    assert ChunkPool(None, workers).csv_blocks is blocks  # type: ignore[arg-type]


def _count_reparsed_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the loader parses a row cut by a block's end."""
    import bulkload.pipeline.readers.csv as csv_reader

    cut_rows: list[int] = []
    from_row = csv_reader.CsvBlock.from_row

    def counted(self: Any, *args: Any) -> Any:
        cut_rows.append(1)
        return from_row(self, *args)

    monkeypatch.setattr(csv_reader.CsvBlock, "from_row", counted)
    return cut_rows
