"""How a load ends when the world or the code misbehaves: hostile hints, an unexpected
exception in any stage, short counts, early stops. Real CLI runs against loopback servers
(the emulator, a hostile proxy in front of it), and the library in process."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli, virtual_time, write_events
from proxykit import POISON, ProxyKnobs, hostile_proxy

from bulkload.config import ApiConfig, LoadConfig, Secret
from bulkload.errors import TooManyBadRecords
from bulkload.pipeline.failpoints import ENV_VAR
from bulkload.pipeline.run import load

KEY = "failures-test-key"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


def state(tmp_path: Path) -> tuple[str, ...]:
    return ("--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rej.jsonl"))


def with_url(args: list[str], url: str) -> list[str]:
    args = list(args)
    args[args.index("--base-url") + 1] = url
    return args


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def checkpoint_finished(tmp_path: Path) -> bool:
    lines = (tmp_path / "cp.jsonl").read_bytes().splitlines()
    return any(orjson.loads(line).get("t") == "finished" for line in lines)


@pytest.mark.parametrize("hints", ["one_based", "always_zero", "out_of_range", "every_index"])
async def test_hostile_hints_store_every_good_record_once_and_reject_the_bad(
    emulator: Any, tmp_path: Path, hints: str
) -> None:
    poisoned = {7, 499, 500, 999}
    data = write_events(tmp_path / "events.jsonl", 1000)
    lines = data.read_bytes().splitlines()
    for i in poisoned:
        lines[i] = orjson.dumps({"id": i, "note": POISON})
    data.write_bytes(b"\n".join(lines) + b"\n")
    summary_path = tmp_path / "summary.json"
    async with hostile_proxy(emulator.url, ProxyKnobs(hints=hints)) as url:
        args = load_args(emulator, KEY, data, *state(tmp_path), "--summary-json",
                         str(summary_path), batch=500)  # fmt: skip
        code, _out, err = await run_cli(with_url(args, url))
    assert code == 3, err
    assert "Traceback" not in err
    assert landed_ids(emulator) == Counter(i for i in range(1000) if i not in poisoned)
    rejects = [orjson.loads(line) for line in (tmp_path / "rej.jsonl").read_bytes().splitlines()]
    assert sorted(r["record"]["id"] for r in rejects) == sorted(poisoned)
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["finished"] and summary["balanced"]
    assert (summary["records_ingested"], summary["records_rejected"]) == (996, 4)
    # bounded work: a few dozen requests for two batches, not hundreds
    assert summary["requests"] <= 2 * 4 * 12 + 2


@pytest.mark.parametrize("stage", ["producer", "sender", "committer"])
async def test_an_unexpected_exception_in_any_stage_fails_the_run_and_the_rerun_completes(
    emulator: Any, tmp_path: Path, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, batch = 5000, 100  # 50 batches: a commit group holds at most 30
    data = write_events(tmp_path / "events.jsonl", records)
    args = load_args(emulator, KEY, data, *state(tmp_path), batch=batch)
    summary_path = tmp_path / "summary.json"
    monkeypatch.setenv(ENV_VAR, f"{stage}:2")
    code, _out, err = await run_cli([*args, "--summary-json", str(summary_path)])
    monkeypatch.delenv(ENV_VAR)
    assert code == 1, err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "internal error" in line]
    assert line.startswith("bulkload: internal error: InjectedFault: failpoint " + stage)
    details_path = line.rsplit("(details in ", 1)[1].rstrip(")")
    details = read_text(details_path)
    assert Path(details_path).parent == tmp_path and "Traceback" in details
    assert KEY not in details and KEY not in err
    assert not checkpoint_finished(tmp_path)
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["finished"] is False and "InjectedFault" in summary["error"]

    code, _out, err = await run_cli(args)
    assert code == 0, err
    assert checkpoint_finished(tmp_path)
    counts = landed_ids(emulator)
    assert set(counts) == set(range(records)), "a record went missing"
    # requests cancelled in flight by the failure may have been stored: whole batches
    assert (sum(counts.values()) - records) % batch == 0
    assert sum(counts.values()) - records <= 30 * batch


async def test_a_200_counting_fewer_records_leaves_them_unconfirmed_and_exits_3(
    emulator: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "events.jsonl", 1000)
    summary_path = tmp_path / "summary.json"
    async with hostile_proxy(emulator.url, ProxyKnobs(short_count_by=3)) as url:
        args = load_args(emulator, KEY, data, *state(tmp_path), "--summary-json",
                         str(summary_path), batch=500)  # fmt: skip
        code, _out, err = await run_cli(with_url(args, url))
    assert code == 3, err
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["records_unconfirmed"] == 6 and summary["unconfirmed_requests"] == 2
    assert summary["records_ingested"] == 994 and summary["balanced"] and summary["finished"]
    assert "6 records unconfirmed" in err and "not sent again" in err


async def test_a_401_mid_load_counts_what_remains_and_writes_the_summary(
    emulator: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "events.jsonl", 40_000, note="n" * 100)  # ~5 MB
    summary_path = tmp_path / "summary.json"
    async with hostile_proxy(emulator.url, ProxyKnobs(unauthorized_after_batches=3)) as url:
        args = load_args(emulator, KEY, data, *state(tmp_path), "--summary-json",
                         str(summary_path), "--concurrency", "1")  # fmt: skip
        code, _out, err = await run_cli(with_url(args, url))
    assert code == 1, err
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["records_ingested"] == 300 and summary["balanced"]
    assert summary["finished"] is False and "401" in summary["error"]
    # what remains is the whole rest of the input, not only what happened to be read
    assert summary["bytes_unread"] + summary["bytes_read"] == data.stat().st_size
    assert summary["bytes_unread"] > 0  # read ahead is bounded: most of 5 MB is never read
    estimate = summary["records_unread_estimate"]
    assert 0 < estimate <= 40_000 - summary["records_read"] + 1_000
    assert "not yet loaded" in err


async def test_a_failure_before_sending_still_writes_the_summary(
    emulator: Any, tmp_path: Path
) -> None:
    data = write_events(tmp_path / "events.jsonl", 100)
    summary_path = tmp_path / "summary.json"
    args = load_args(emulator, "wrong-key-1234", data, *state(tmp_path), "--summary-json",
                     str(summary_path))  # fmt: skip
    code, _out, err = await run_cli(args)
    assert code == 1, err
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["finished"] is False and summary["records_ingested"] == 0
    assert summary["bytes_unread"] == data.stat().st_size and summary["error"]
    assert "wrong-key-1234" not in summary_path.read_text()


@pytest.mark.parametrize("limit", [0, 2, 17])
async def test_max_bad_records_stops_with_exactly_one_more_reject_than_the_limit(
    emulator: Any, tmp_path: Path, limit: int
) -> None:
    bad = [b'{"id": "x%d"}' % i for i in range(3000)]
    data = write_events(tmp_path / "events.jsonl", 50, extra=bad)
    config = LoadConfig(
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "rej.jsonl",
        max_bad_records=limit,
        max_batch_records=10,
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    with pytest.raises(TooManyBadRecords) as stopped:
        await load("events", [data], api=api, config=config, **virtual_time())
    summary = stopped.value.summary  # type: ignore[attr-defined]
    assert summary.records_rejected == limit + 1 and summary.balanced
    assert len((tmp_path / "rej.jsonl").read_bytes().splitlines()) == limit + 1


async def test_the_library_prints_nothing_and_logs_its_warnings(
    emulator: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: Any
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    config = LoadConfig(checkpoint_path=tmp_path / "cp.jsonl", rejects_path=tmp_path / "r.jsonl")
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    with caplog.at_level("WARNING", logger="bulkload"):
        summary = await load("events", [empty], api=api, config=config)
    assert summary.finished
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert any("holds no records" in record.getMessage() for record in caplog.records)


class _HangingApi:
    """Answers the first ``answered`` requests at once, then never answers."""

    def __init__(self, client: Any, answered: int) -> None:
        self._client = client
        self._answered = answered
        self.hanging = anyio.Event()

    async def get_table(self, name: str) -> Any:
        return await self._client.get_table(name)

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Any:
        if self._answered <= 0:
            self.hanging.set()
            await anyio.sleep_forever()
        self._answered -= 1
        return await self._client.ingest(table, body, timeout_s=timeout_s)


async def test_requests_abandoned_after_the_drain_time_are_named_in_doubt(
    emulator: Any, tmp_path: Path
) -> None:
    from bulkload.client.http import PeakClient
    from bulkload.pipeline.stopping import LoadControl

    data = write_events(tmp_path / "events.jsonl", 2000)
    config = LoadConfig(
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "r.jsonl",
        max_batch_records=100,
        concurrency=1,
        drain_timeout_s=0.05,
    )
    control = LoadControl()
    async with PeakClient(ApiConfig(base_url=emulator.url, api_key=Secret(KEY))) as client:
        api = _HangingApi(client, answered=3)

        async def stop_when_hanging() -> None:
            await api.hanging.wait()
            control.request_stop("interrupted")

        async with anyio.create_task_group() as group:
            group.start_soon(stop_when_hanging)
            summary = await load("events", [data], client=api, config=config, control=control)
    assert summary.stopped_reason == "interrupted" and not summary.finished
    assert (summary.requests_abandoned, summary.records_abandoned) == (1, 100)
    assert summary.abandoned_batches == (3,)
    assert summary.records_ingested == 300 and summary.balanced
    assert any("may have been stored" in warning for warning in summary.warnings)


async def test_the_checkpoint_is_not_marked_finished_unless_every_batch_is_accounted_for(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bulkload.errors import BooksDoNotBalance
    from bulkload.pipeline.committer import Committer

    data = write_events(tmp_path / "events.jsonl", 1000)
    config = LoadConfig(
        checkpoint_path=tmp_path / "cp.jsonl",
        rejects_path=tmp_path / "r.jsonl",
        max_batch_records=100,
    )
    api = ApiConfig(base_url=emulator.url, api_key=Secret(KEY))
    settle = Committer._settle

    def lose_batch_4(self: Committer, item: Any, done: list[Any]) -> None:
        # a bug that drops one acknowledgement on the floor: everything else looks fine
        if item.work.batch.seq != 4:
            settle(self, item, done)

    monkeypatch.setattr(Committer, "_settle", lose_batch_4)
    with pytest.raises(BooksDoNotBalance, match="10 batches cut, 9 acknowledged"):
        await load("events", [data], api=api, config=config, **virtual_time())
    assert not checkpoint_finished(tmp_path)
    monkeypatch.undo()
    summary = await load("events", [data], api=api, config=config, **virtual_time())
    assert summary.finished and summary.batches_sent == 1 and checkpoint_finished(tmp_path)
    assert set(landed_ids(emulator)) == set(range(1000))
