"""The harness's guard against a changing tree: a snapshot of bulkload/ and its fingerprint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.measurements import BULKLOAD, DRY_RUN
from benchmarks.plans import FULL, QUICK, estimate_s
from benchmarks.processes import bulkload_command, run_child
from benchmarks.run import SCENARIOS, Loader
from benchmarks.session import (
    baseline_from_commit,
    cores,
    loader_has_workers_flag,
    snapshot_code,
    source_fingerprint,
)


def test_fingerprint_changes_with_any_source_file(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    before = source_fingerprint(package)
    assert source_fingerprint(package) == before
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert source_fingerprint(package) != before


def test_loaders_run_the_snapshot_not_the_tree(tmp_path: Path) -> None:
    code_dir = snapshot_code(tmp_path)
    assert source_fingerprint(code_dir / "bulkload") == source_fingerprint(
        Path(__file__).resolve().parents[2] / "bulkload"
    )
    probe = "import bulkload, sys; sys.stderr.write(bulkload.__file__)"
    result = run_child([sys.executable, "-c", probe], timeout_s=60, cwd=code_dir)
    assert result.stderr_tail.startswith(str(code_dir))
    assert bulkload_command("--help")[1:3] == ["-m", "bulkload"]


def test_the_workers_flag_is_found_in_the_loaders_help(tmp_path: Path) -> None:
    for name, has_flag in (("with", True), ("without", False)):
        package = tmp_path / name / "bulkload"
        package.mkdir(parents=True)
        flag = "  --workers N  worker processes\n" if has_flag else ""
        (package / "__main__.py").write_text(
            f"print({'Usage: load [OPTIONS]' + chr(10) + flag!r})\n"
        )
        assert loader_has_workers_flag(tmp_path / name) is has_flag


def test_loader_arguments() -> None:
    assert Loader(BULKLOAD).extra_args == []
    assert Loader(DRY_RUN).extra_args == ["--dry-run"]
    assert Loader(BULKLOAD, workers="2").extra_args == ["--workers", "2"]


def test_plans_fit_their_time_budgets() -> None:
    # make bench-quick under ~2 minutes, make bench under ~15, by the nominal rates.
    assert estimate_s(QUICK, SCENARIOS, baseline=False, workers=True) < 2 * 60
    assert estimate_s(FULL, SCENARIOS, baseline=True, workers=True) < 15 * 60
    assert FULL.cpu_records_of("parquet") < FULL.cpu_records_of("jsonl")


def test_emulator_is_pinned_and_the_loader_only_when_asked() -> None:
    loader, emulator = cores(pin_loader=False)
    pinned_loader, same_emulator = cores(pin_loader=True)
    assert loader is None and same_emulator == emulator
    if emulator is not None:  # two or more cores
        assert pinned_loader is not None and pinned_loader != emulator


def test_a_baseline_tree_is_extracted_from_a_commit(tmp_path: Path) -> None:
    head = baseline_from_commit(tmp_path, "HEAD")
    assert (head / "bulkload" / "__main__.py").exists()
    assert baseline_from_commit(tmp_path, "HEAD") == head  # reused, not extracted again
    with pytest.raises(ValueError, match="git archive no-such-commit-here failed"):
        baseline_from_commit(tmp_path, "no-such-commit-here")
    with pytest.raises(ValueError, match="not a commit name"):
        baseline_from_commit(tmp_path, "--output=/tmp/x")
