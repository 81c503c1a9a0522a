"""Hostile world, the load's own state (issue 9, items 1, 2 and 5): what a checkpoint is bound
to, where it lives, two runs of one load at once, and what --restart says before it loads
everything again. Real CLI runs against in-process emulators on loopback."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loadkit import events_emulator, landed_ids, load_args, write_events

from bulkload.config import LoadConfig, default_state_dir
from bulkload.errors import CheckpointInUse, CheckpointMismatch
from bulkload.pipeline.checkpoint import (
    Checkpoint,
    checkpoint_path_for,
    normalize_base_url,
    read_earlier_run,
)

KEY = "hostile-state-key"
RECORDS = 1_000


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Any]:
    (tmp_path / "emu-a").mkdir()
    async with events_emulator(tmp_path / "emu-a", KEY) as handle:
        yield handle


async def run_in(
    args: list[str], cwd: Path | None = None, *, stdin: Any = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def checkpoint_line(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("checkpoint:")]
    assert len(lines) == 1, out
    return lines[0].removeprefix("checkpoint:").strip()


# ---- item 1: the checkpoint's identity and where it lives ---------------------------------


async def test_the_same_load_to_another_server_is_another_load(
    emu: Any, tmp_path: Path, state_dir: Path
) -> None:
    (tmp_path / "emu-b").mkdir()
    data = write_events(tmp_path / "d.jsonl", RECORDS)
    async with events_emulator(tmp_path / "emu-b", KEY) as other:
        code, out_a, err = await run_in(load_args(emu, KEY, data))
        assert code == 0, err
        code, out_b, err = await run_in(load_args(other, KEY, data))
        assert code == 0, err
        # the second server got every record; nothing was "done in an earlier run"
        assert landed_ids(other) == Counter(range(RECORDS))
        assert f"{RECORDS:,} ingested" in out_b and "0 skipped" in out_b
    assert landed_ids(emu) == Counter(range(RECORDS))
    # each summary names its checkpoint, both in the per-user state directory, and apart
    first, second = checkpoint_line(out_a), checkpoint_line(out_b)
    assert first != second
    assert Path(first).parent == Path(second).parent == state_dir


async def test_a_load_resumes_from_any_working_directory(emu: Any, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    data = write_events(tmp_path / "data" / "d.jsonl", RECORDS)
    code, out, err = await run_in(load_args(emu, KEY, Path("../data/d.jsonl")), cwd=tmp_path / "a")
    assert code == 0, err
    batches = emu.stats()["batches_ingested"]
    # the same command from elsewhere, naming the same file another way: the same load
    code, out2, err = await run_in(load_args(emu, KEY, data), cwd=tmp_path / "b")
    assert code == 0, err
    assert emu.stats()["batches_ingested"] == batches
    assert f"{RECORDS:,} skipped" in out2
    assert landed_ids(emu) == Counter(range(RECORDS))
    assert checkpoint_line(out) == checkpoint_line(out2)
    assert not (tmp_path / "a" / ".bulkload").exists()


async def test_an_explicit_checkpoint_for_another_server_is_refused_naming_the_url(
    emu: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "d.jsonl", 10)
    cp = ("--checkpoint", str(tmp_path / "cp.jsonl"))
    code, _out, err = await run_in(load_args(emu, KEY, data, *cp))
    assert code == 0, err
    other_url = emu.url.replace("127.0.0.1", "localhost")
    args = load_args(emu, KEY, data, *cp)
    args[args.index(emu.url)] = other_url
    code, _out, err = await run_in(args)
    assert code == 2
    assert "base URL changed" in err and "localhost" in err and "Traceback" not in err


def test_the_base_url_is_normalized_before_it_names_a_load() -> None:
    same = {
        normalize_base_url(url)
        for url in ("http://127.0.0.1:18601", "HTTP://127.0.0.1:18601/", "http://127.0.0.1:18601//")
    }
    assert same == {"http://127.0.0.1:18601"}
    assert normalize_base_url("https://Ingestion.Peak.AI:443/") == "https://ingestion.peak.ai"
    assert normalize_base_url("http://h:80/v1/") == "http://h/v1"
    assert normalize_base_url("http://[::1]:8080") == "http://[::1]:8080"
    assert normalize_base_url("http://127.0.0.1:18602") != "http://127.0.0.1:18601"


def test_the_state_directory_is_per_user(tmp_path: Path) -> None:
    assert default_state_dir({"BULKLOAD_STATE_DIR": str(tmp_path / "s")}) == tmp_path / "s"
    assert default_state_dir({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == Path(
        "/x/state/bulkload"
    )
    # a relative XDG_STATE_HOME is invalid by the spec and ignored
    assert default_state_dir({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/state/bulkload"
    )
    assert default_state_dir({"HOME": "/h"}) == Path("/h/.local/state/bulkload")
    # the same load, whatever the working directory; another table or server: another file
    config = LoadConfig(state_dir=tmp_path / "s")
    data = str(tmp_path / "d.jsonl")
    here = checkpoint_path_for("t", [data], base_url="http://h:1", config=config, cwd=tmp_path)
    there = checkpoint_path_for("t", [data], base_url="http://h:1/", config=config, cwd=Path("/"))
    assert here == there and here.parent == tmp_path / "s"
    assert here != checkpoint_path_for(
        "u", [data], base_url="http://h:1", config=config, cwd=Path("/")
    )
    assert here != checkpoint_path_for(
        "t", [data], base_url="http://h:2", config=config, cwd=Path("/")
    )


async def test_without_state_dir_the_default_is_under_xdg_state_home(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BULKLOAD_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    data = write_events(tmp_path / "d.jsonl", 10)
    code, out, err = await run_in(load_args(emu, KEY, data), cwd=tmp_path)
    assert code == 0, err
    assert Path(checkpoint_line(out)).parent == tmp_path / "xdg" / "bulkload"


# ---- item 2: two runs of one load at once ---------------------------------------------------


def _open_at_the_gate(
    path: Path, gate: Any, arrived: Any, finished: Any, outcomes: Any, index: int
) -> None:
    """In a forked child: open the checkpoint, its first fsync held at the gate. The first
    run to get there waits until the other has got as far (or was refused); the second
    waits until the first is done: the worst interleaving of two runs started at once."""
    real_fsync = os.fsync
    waited = False

    def gated_fsync(fd: int) -> None:
        nonlocal waited
        if not waited:
            waited = True
            with gate:
                arrived.value += 1
                first = arrived.value == 1
                gate.notify_all()
                if first:
                    gate.wait_for(lambda: arrived.value + finished.value >= 2)
                else:
                    gate.wait_for(lambda: finished.value >= 1)
        real_fsync(fd)

    os.fsync = gated_fsync  # this child's only
    outcome = b"?"
    checkpoint: Checkpoint | None = None
    try:
        checkpoint = Checkpoint.open(path, {"table": "t", "inputs": []})
        outcome = b"o"
    except CheckpointInUse as exc:
        outcome = b"r" if "--checkpoint" not in str(exc) else b"!"
    except BaseException:
        outcome = b"e"
    finally:
        with gate:
            finished.value += 1
            gate.notify_all()
        outcomes[index] = outcome
    with gate:  # hold the checkpoint open until both are done, as two live runs would
        gate.wait_for(lambda: finished.value >= 2)
    if checkpoint is not None:
        checkpoint.close()
    os._exit(0)


def test_concurrent_opens_of_one_checkpoint_let_exactly_one_in(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(4):
        path = tmp_path / f"trial{trial}" / "cp.jsonl"
        gate = context.Condition()
        arrived = context.Value("i", 0, lock=False)  # guarded by the gate
        finished = context.Value("i", 0, lock=False)
        outcomes = context.Array("c", 2)
        children = [
            context.Process(
                target=_open_at_the_gate, args=(path, gate, arrived, finished, outcomes, i)
            )
            for i in range(2)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=60)
            assert child.exitcode == 0
        # one opened ("o"), one refused ("r") with advice that does not say --checkpoint
        assert sorted(outcomes.raw) == sorted(b"or"), f"trial {trial}: {outcomes.raw!r}"


# A child that imports everything, says it is ready, then waits at a FIFO for the word to
# go: both runs leave the gate at the same instant, already past Python's start-up.
_GATED_CLI = """
import os, select, sys
import bulkload.cli.load, bulkload.pipeline.run
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print("ready", flush=True)
poller = select.poll()
poller.register(fd, select.POLLIN)
poller.poll()
sys.argv = ["bulkload", *sys.argv[2:]]
from bulkload.cli import main
main()
"""


async def test_two_identical_loads_started_together_load_once(tmp_path: Path) -> None:
    data = write_events(tmp_path / "d.jsonl", 400)
    for trial in range(3):
        (tmp_path / f"emu{trial}").mkdir()
        # Slow enough (a 50 ms answer, one request at a time) that the two runs overlap.
        async with events_emulator(tmp_path / f"emu{trial}", KEY, latency_ms=50) as emu:
            gate = tmp_path / f"gate{trial}"
            os.mkfifo(gate)
            args = load_args(emu, KEY, data, "--concurrency", "1")[3:]  # after python -m bulkload
            processes = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    _GATED_CLI,
                    str(gate),
                    *args,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                for _ in range(2)
            ]
            for process in processes:
                assert process.stdout is not None
                assert (await process.stdout.readline()).strip() == b"ready"
            writer = os.open(gate, os.O_WRONLY)
            os.write(writer, b"go")
            os.close(writer)
            results = []
            for process in processes:
                out, err = await asyncio.wait_for(process.communicate(), timeout=180)
                results.append((process.returncode, out.decode(), err.decode()))
            loaded = [r for r in results if r[0] == 0 and "400 ingested" in r[1]]
            others = [r for r in results if r not in loaded]
            assert len(loaded) == 1 and len(others) == 1, f"trial {trial}: {results}"
            code, out, err = others[0]
            assert "Traceback" not in err
            if code == 0:  # scheduled so late that the first run had finished: nothing to do
                assert "0 ingested" in out and "400 skipped" in out, f"trial {trial}: {results}"
            else:
                assert code == 2 and "already running" in err and "--checkpoint" not in err
            assert landed_ids(emu) == Counter(range(400)), f"trial {trial}"


# ---- item 5: --restart says what it will do ---------------------------------------------


async def test_restart_says_how_many_records_will_be_stored_again(emu: Any, tmp_path: Path) -> None:
    data = write_events(tmp_path / "d.jsonl", RECORDS)
    code, out, err = await run_in(load_args(emu, KEY, data))
    assert code == 0, err
    assert read_earlier_run(Path(checkpoint_line(out))) is not None
    code, _out, err = await run_in(load_args(emu, KEY, data, "--restart"))
    assert code == 0, err
    # not a terminal: no question, but the warning says what happened
    assert f"{RECORDS:,} records are stored" in err and "stored twice" in err
    assert landed_ids(emu) == Counter({i: 2 for i in range(RECORDS)})


async def test_restart_on_a_terminal_asks_first(emu: Any, tmp_path: Path) -> None:
    data = write_events(tmp_path / "d.jsonl", RECORDS)
    code, _out, err = await run_in(load_args(emu, KEY, data))
    assert code == 0, err
    batches = emu.stats()["batches_ingested"]

    async def on_terminal(answer: bytes, *options: str) -> tuple[int, str, str]:
        controller, terminal = os.openpty()
        try:
            os.write(controller, answer)
            return await run_in(load_args(emu, KEY, data, *options), stdin=terminal)
        finally:
            os.close(terminal)
            os.close(controller)

    code, _out, err = await on_terminal(b"n\n", "--restart")
    assert code == 2, err
    assert f"{RECORDS:,} records are stored" in err and "Restart anyway?" in err
    assert "not restarted" in err
    assert emu.stats()["batches_ingested"] == batches  # nothing sent
    # the checkpoint is kept: a plain rerun still knows the load is done
    code, out, err = await run_in(load_args(emu, KEY, data))
    assert code == 0 and f"{RECORDS:,} skipped" in out, err

    # --yes on a terminal: no question (nothing would answer it), the warning still says it
    code, _out, err = await on_terminal(b"", "--restart", "--yes")
    assert code == 0, err
    assert "Restart anyway?" not in err and "stored twice" in err
    assert landed_ids(emu) == Counter({i: 2 for i in range(RECORDS)})


async def test_restart_of_a_load_that_never_stored_anything_asks_nothing(
    emu: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "d.jsonl", 10)
    controller, terminal = os.openpty()
    try:
        code, _out, err = await run_in(load_args(emu, KEY, data, "--restart"), stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert code == 0, err
    assert "Restart anyway?" not in err and "stored twice" not in err


def test_a_refused_second_open_never_touches_the_first_runs_log(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    identity = {"table": "t", "inputs": []}
    with Checkpoint.open(path, identity) as first:
        before = path.read_bytes()
        with pytest.raises(CheckpointInUse):
            Checkpoint.open(path, {"table": "other", "inputs": []}, restart=True)
        with pytest.raises(CheckpointInUse):
            Checkpoint.open(path, identity)
        assert path.read_bytes() == before
        assert first.plan.next_seq == 0
    with pytest.raises(CheckpointMismatch):
        Checkpoint.open(path, {"table": "other", "inputs": []})
