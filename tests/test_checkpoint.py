from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkload.errors import (
    BulkloadError,
    CheckpointCorrupt,
    CheckpointInUse,
    CheckpointMismatch,
    ConfigError,
)
from bulkload.pipeline.checkpoint import (
    BatchDone,
    Checkpoint,
    Position,
    ResumePlan,
    default_checkpoint_path,
    default_rejects_path,
)

IDENTITY: dict[str, Any] = {
    "table": "orders",
    "schema": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}],
    "options": {"max_records": 500, "max_bytes": 1_000_000, "ignore_unknown_columns": False},
    "inputs": [
        {
            "name": "data.jsonl",
            "size": 1234,
            "mtime_ns": 1_700_000_000_000_000_000,
            "sha256": "a" * 64,
        },
        {
            "name": "more.jsonl",
            "size": 99,
            "mtime_ns": 1_700_000_000_000_000_001,
            "sha256": "b" * 64,
        },
    ],
}


def batch(
    seq: int, records: int = 10, span_rejected: int = 0, server_rejected: int = 0
) -> BatchDone:
    # Offsets/lines derived from seq so the expected resume position is checkable.
    return BatchDone(
        seq=seq,
        records=records,
        server_rejected=server_rejected,
        span_rejected=span_rejected,
        end=Position(file_index=seq // 100, offset=(seq + 1) * 1000, line=(seq + 1) * 10),
    )


def changed(**overrides: Any) -> dict[str, Any]:
    identity = {
        **IDENTITY,
        "options": dict(IDENTITY["options"]),
        "inputs": [dict(i) for i in IDENTITY["inputs"]],
    }
    for key, value in overrides.items():
        identity[key] = value
    return identity


def reopen(path: Path, identity: dict[str, Any] | None = None) -> Checkpoint:
    return Checkpoint.open(path, IDENTITY if identity is None else identity)


def written_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


# --- plans -------------------------------------------------------------------------------------


def test_fresh_checkpoint_plans_everything(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "c.checkpoint.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        assert cp.plan == ResumePlan(
            next_seq=0, start=None, done_beyond=frozenset(), skipped_records=0, finished=False
        )
        assert cp.warnings == []
    assert path.exists()


def test_in_order_acks_resume_after_the_last(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0, records=10, span_rejected=2), batch(1, records=7)])
        cp.record([batch(2, records=5, span_rejected=1)])
    with reopen(path) as cp:
        plan = cp.plan
    assert plan.next_seq == 3
    assert plan.start == batch(2).end
    assert plan.done_beyond == frozenset()
    assert plan.skipped_records == 10 + 2 + 7 + 5 + 1
    assert plan.in_doubt == 0
    assert not plan.finished


def test_out_of_order_acks_give_prefix_and_beyond(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(1, records=3), batch(0, records=4, span_rejected=1), batch(5), batch(3)])
    with reopen(path) as cp:
        plan = cp.plan
        assert plan.next_seq == 2
        assert plan.start == batch(1).end
        assert plan.done_beyond == frozenset({3, 5})
        assert plan.skipped_records == 3 + 4 + 1
        assert plan.in_doubt == 2  # 2 and 4 were in flight
        assert plan.recorded_batches == 4
        assert cp.done_info(5) == batch(5)
        assert cp.done_info(4) is None
        assert [seq for seq in range(7) if plan.is_pending(seq)] == [2, 4, 6]


def test_done_info_includes_batches_recorded_in_this_run(tmp_path: Path) -> None:
    with Checkpoint.open(tmp_path / "c.jsonl", IDENTITY) as cp:
        cp.record([batch(7, records=3, server_rejected=1)])
        assert cp.done_info(7) == batch(7, records=3, server_rejected=1)
        assert cp.plan.next_seq == 0  # the plan is what open() found


def test_record_writes_one_line_per_batch_and_syncs_once_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        syncs: list[int] = []
        real_fsync = os.fsync

        def counting_fsync(fd: int) -> None:
            syncs.append(fd)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", counting_fsync)
        cp.record([batch(seq) for seq in range(30)])
        assert len(syncs) == 1
    assert len(written_lines(path)) == 1 + 30 + 1  # header, batches, final empty piece


def test_finished_flag_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0)])
        cp.mark_finished({"loaded": 10, "rejected": 0})
        assert cp.finished
    with reopen(path) as cp:
        assert cp.plan.finished
        assert cp.plan.totals == {"loaded": 10, "rejected": 0}
        assert cp.plan.next_seq == 1


# --- crash property --------------------------------------------------------------------------


@st.composite
def interrupted_runs(draw: st.DrawFn) -> tuple[int, list[list[int]], int, bool]:
    total = draw(st.integers(min_value=1, max_value=40))
    order = draw(st.permutations(range(total)))
    acked = draw(st.integers(min_value=0, max_value=total))
    # Group the acknowledged prefix of the permutation into record() calls of random size.
    groups: list[list[int]] = []
    index = 0
    while index < acked:
        size = draw(st.integers(min_value=1, max_value=acked - index))
        groups.append(list(order[index : index + size]))
        index += size
    tear_bytes = draw(st.integers(min_value=0, max_value=60))
    torn_lines_fatal = draw(st.booleans())
    return total, groups, tear_bytes, torn_lines_fatal


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(run=interrupted_runs())
def test_any_interrupted_run_resumes_exactly_the_unacknowledged(
    tmp_path_factory: pytest.TempPathFactory, run: tuple[int, list[list[int]], int, bool]
) -> None:
    total, groups, tear_bytes, tear_inside_last_line = run
    path = tmp_path_factory.mktemp("crash") / "c.jsonl"
    cp = Checkpoint.open(path, IDENTITY)
    for group in groups:
        cp.record([batch(seq) for seq in group])
    del cp  # "crash": no close, no finish
    gc.collect()

    durable = {seq for group in groups for seq in group}
    if tear_bytes:
        data = path.read_bytes()
        last_line_length = len(data.split(b"\n")[-2]) + 1
        if groups and tear_inside_last_line:
            # The last append was cut short: its last batch is lost, and must be resent.
            cut = min(max(tear_bytes, 2), last_line_length - 1)
            path.write_bytes(data[:-cut])
            durable.discard(groups[-1][-1])
        else:
            # Garbage after the last complete line, as a crashed append can leave.
            path.write_bytes(data + b'{"t":"batch","seq":'[: max(1, tear_bytes % 19)])

    with reopen(path) as resumed:
        plan = resumed.plan
        assert len(resumed.warnings) == (1 if tear_bytes else 0)
        pending = {
            seq for seq in range(total) if not (seq < plan.next_seq or seq in plan.done_beyond)
        }
        assert pending == set(range(total)) - durable
        prefix = range(plan.next_seq)
        assert plan.skipped_records == sum(batch(seq).records for seq in prefix)
        assert plan.start == (batch(plan.next_seq - 1).end if plan.next_seq else None)
        # The repaired log takes appends, and they are readable after another reopen.
        resumed.record([batch(seq) for seq in sorted(pending)])
    with reopen(path) as final:
        assert final.plan.next_seq == total
        assert final.warnings == []


def test_last_line_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1)])
    path.write_bytes(path.read_bytes()[:-1])
    with reopen(path) as cp:
        assert cp.plan.next_seq == 2
        cp.record([batch(2)])
    with reopen(path) as cp:
        assert cp.plan.next_seq == 3
        assert cp.warnings == []


# --- corruption --------------------------------------------------------------------------------


def test_torn_last_line_is_dropped_with_a_warning_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1), batch(2)])
    intact = path.read_bytes()
    path.write_bytes(intact[:-25])
    with reopen(path) as cp:
        assert cp.plan.next_seq == 2
        assert len(cp.warnings) == 1
        assert str(path) in cp.warnings[0] and "sent again" in cp.warnings[0]
    assert path.read_bytes() == b"\n".join(intact.split(b"\n")[:3]) + b"\n"


def test_bad_checksum_on_complete_last_line_is_treated_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1)])
    path.write_bytes(path.read_bytes().replace(b'"seq":1', b'"seq":7'))
    with reopen(path) as cp:
        assert cp.plan.next_seq == 1
        assert cp.plan.done_beyond == frozenset()
        assert len(cp.warnings) == 1


def test_corrupted_middle_line_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1), batch(2)])
    path.write_bytes(path.read_bytes().replace(b'"records":10,"seq":1', b'"records":99,"seq":1'))
    with pytest.raises(CheckpointCorrupt) as info:
        reopen(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and "--restart" in message
    assert "\n" not in message


def test_non_json_line_in_the_middle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1)])
    lines = written_lines(path)
    lines.insert(1, b"hello")
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CheckpointCorrupt, match="line 2"):
        reopen(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json at all\n", b'{"t":"batch"}\n{"t":"batch"}\n'],
    ids=["empty", "garbage", "no-checksum"],
)
def test_bad_header_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(content)
    with pytest.raises(CheckpointCorrupt, match="line 1"):
        reopen(path)
    assert path.read_bytes() == content  # never repaired by guessing


def test_header_of_another_version_or_kind_is_refused(tmp_path: Path) -> None:
    from bulkload.pipeline.checkpoint import _line

    path = tmp_path / "c.jsonl"
    path.write_bytes(
        _line({"t": "header", "version": 99, "identity": IDENTITY}) + _line({"t": "x"})
    )
    with pytest.raises(CheckpointCorrupt, match="version 99"):
        reopen(path)
    path.write_bytes(_line({"t": "batch", "seq": 0}) + _line({"t": "x"}))
    with pytest.raises(CheckpointCorrupt, match="not a bulkload checkpoint header"):
        reopen(path)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [({"t": "batch", "seq": -1}, "seq"), ({"t": "mystery"}, "mystery")],
    ids=["invalid-batch", "unknown-type"],
)
def test_invalid_entry_in_the_middle_is_refused(
    tmp_path: Path, entry: dict[str, Any], problem: str
) -> None:
    from bulkload.pipeline.checkpoint import _line

    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0)])
    with path.open("ab") as out:
        out.write(_line(entry) + _line({"t": "batch", "seq": 1}))
    with pytest.raises(
        CheckpointCorrupt, match=f"line 3 is not a valid checkpoint entry.*{problem}"
    ):
        reopen(path)


# --- identity --------------------------------------------------------------------------------


def test_same_identity_in_another_key_order_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    Checkpoint.open(path, IDENTITY).close()
    shuffled = dict(reversed(list(IDENTITY.items())))
    shuffled["inputs"] = tuple(IDENTITY["inputs"])
    with Checkpoint.open(path, shuffled) as cp:
        assert cp.plan.next_seq == 0


def test_changed_input_file_is_named_with_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    Checkpoint.open(path, IDENTITY).close()
    identity = changed()
    identity["inputs"][0].update(size=1300, sha256="c" * 64)
    with pytest.raises(CheckpointMismatch) as info:
        reopen(path, identity)
    message = str(info.value)
    assert message.startswith("input 'data.jsonl' changed (size 1,234 -> 1,300; sha256 differs)")
    assert "--restart" in message and str(path) in message and "\n" not in message
    assert "a" * 64 not in message


def test_touched_input_and_changed_schema_are_described(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    Checkpoint.open(path, IDENTITY).close()
    identity = changed()
    identity["inputs"][1]["mtime_ns"] = 1_800_000_000_000_000_000
    with pytest.raises(
        CheckpointMismatch,
        match=r"^input 'more.jsonl' changed \(modified 2023-11-14T22:13:20Z -> 2027-01-15T08:00:00Z\)",
    ):
        reopen(path, identity)
    identity = changed(
        schema=[{"name": "id", "type": "string"}, {"name": "note", "type": "string"}]
    )
    with pytest.raises(CheckpointMismatch, match=r"^the table's column 'id' changed"):
        reopen(path, identity)
    identity = changed(schema=[{"name": "id", "type": "integer"}])
    with pytest.raises(
        CheckpointMismatch, match=r"^the table's columns changed \(\['id', 'note'\] -> \['id'\]\)"
    ):
        reopen(path, identity)


def test_changed_option_is_named_with_old_and_new_value(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    Checkpoint.open(path, IDENTITY).close()
    identity = changed()
    identity["options"]["max_bytes"] = 500_000
    with pytest.raises(
        CheckpointMismatch, match=r"^option max_bytes changed \(1,000,000 -> 500,000\)"
    ):
        reopen(path, identity)


def test_different_input_list_and_table_and_several_changes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    Checkpoint.open(path, IDENTITY).close()
    with pytest.raises(
        CheckpointMismatch,
        match=r"^inputs differ \(\['data.jsonl', 'more.jsonl'\] -> \['data.jsonl'\]\)",
    ):
        reopen(path, changed(inputs=IDENTITY["inputs"][:1]))
    identity = changed(table="customers")
    identity["options"]["max_records"] = 100
    with pytest.raises(
        CheckpointMismatch,
        match=r"^table changed \('orders' -> 'customers'\).*\(and 1 more change\)",
    ):
        reopen(path, identity)


def test_mismatch_leaves_the_checkpoint_untouched(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0)])
    before = path.read_bytes()
    with pytest.raises(CheckpointMismatch):
        reopen(path, changed(table="other"))
    assert path.read_bytes() == before


# --- restart, locking, unwritable -----------------------------------------------------------


def test_restart_starts_a_fresh_log_even_over_a_corrupt_one(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record([batch(0), batch(1)])
    path.write_bytes(b"garbage\n" + path.read_bytes())
    other = changed(table="other")
    with Checkpoint.open(path, other, restart=True) as cp:
        assert cp.plan.next_seq == 0 and cp.plan.recorded_batches == 0
        cp.record([batch(0)])
    with reopen(path, other) as cp:
        assert cp.plan.next_seq == 1
    # no temp file left behind; the lock file stays (it is never deleted, see _StateLock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "c.jsonl.lock"]


def test_second_concurrent_open_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY):
        with pytest.raises(CheckpointInUse, match="already running") as info:
            reopen(path)
        # the advice must not be "use another --checkpoint": that would load it twice
        assert "--checkpoint" not in str(info.value)
        with pytest.raises(CheckpointInUse, match="already running"):
            Checkpoint.open(path, IDENTITY, restart=True)
    reopen(path).close()


def test_unwritable_location_fails_at_open_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file where a directory should be")
    path = blocker / "x.checkpoint.jsonl"
    with pytest.raises(ConfigError) as info:
        Checkpoint.open(path, IDENTITY)
    assert str(path) in str(info.value) and "--checkpoint" in str(info.value)
    assert "\n" not in str(info.value)


def test_failed_append_is_cut_off_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.jsonl"
    cp = Checkpoint.open(path, IDENTITY)
    cp.record([batch(0)])
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(BulkloadError, match="No space left on device"):
        cp.record([batch(1)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    cp.close()


# --- paths and performance -------------------------------------------------------------------


def test_default_paths(tmp_path: Path) -> None:
    state, url = tmp_path / "state", "http://127.0.0.1:18601"
    first = default_checkpoint_path(state, url, "orders", ["a.jsonl", "b.jsonl"], tmp_path)
    assert first.parent == state
    assert first.name.startswith("orders-") and first.name.endswith(".checkpoint.jsonl")
    assert first == default_checkpoint_path(
        state, url, "orders", ["./a.jsonl", str(tmp_path / "b.jsonl")], tmp_path
    )
    assert first != default_checkpoint_path(state, url, "orders", ["b.jsonl", "a.jsonl"], tmp_path)
    assert first != default_checkpoint_path(state, url, "orders", ["a.jsonl"], tmp_path)
    assert default_rejects_path(first).name == first.name.replace(
        ".checkpoint.jsonl", ".rejects.jsonl"
    )
    assert default_rejects_path(Path("/x/my.ckpt")) == Path("/x/my.ckpt.rejects.jsonl")


def _many_batches(count: int) -> Sequence[BatchDone]:
    return [batch(seq, records=500) for seq in range(count)]


def test_a_large_log_reopens_whole(tmp_path: Path) -> None:
    # (its speed, ~0.2 s for 100k entries, is a benchmark figure, not asserted here)
    path = tmp_path / "c.jsonl"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.record(_many_batches(100_000))
    with reopen(path) as cp:
        assert cp.plan.next_seq == 100_000
        assert cp.plan.skipped_records == 100_000 * 500


_WRITER = """
import sys
from pathlib import Path
from bulkload.pipeline.checkpoint import BatchDone, Checkpoint, Position

identity = {"table": "orders"}
cp = Checkpoint.open(Path(sys.argv[1]), identity)
seq = 0
while True:
    group = []
    for _ in range(7):
        group.append(BatchDone(seq, 10, 0, 0, Position(0, (seq + 1) * 1000, (seq + 1) * 10)))
        seq += 1
    # Acknowledge out of order within the group, as the sender does.
    cp.record(group[::-1])
    print(seq, flush=True)
"""


def test_kill_9_mid_run_loses_no_recorded_batch(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    path = tmp_path / "c.jsonl"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout is not None
    acknowledged = 0
    try:
        for _ in range(40):
            acknowledged = int(writer.stdout.readline())
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with Checkpoint.open(path, {"table": "orders"}) as cp:
        # Everything record() returned for is durable; the writer may have got further.
        plan = cp.plan
        assert acknowledged == 40 * 7
        assert not any(plan.is_pending(seq) for seq in range(acknowledged))
        assert plan.start == Position(0, plan.next_seq * 1000, plan.next_seq * 10)
