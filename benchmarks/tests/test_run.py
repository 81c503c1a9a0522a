"""The harness's guard against a changing tree: a snapshot of bulkload/ and its fingerprint."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.processes import bulkload_command, run_child
from benchmarks.run import snapshot_code, source_fingerprint


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
