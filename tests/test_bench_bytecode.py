"""The benchmark harness compiles every tree it runs to bytecode first (benchmarks.session):
a run must not pay for compiling source where bytecode is never written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks.processes import BenchmarkError
from benchmarks.session import compile_bytecode


def test_every_module_of_a_tree_gets_its_bytecode(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    modules = [package / "__init__.py", package / "a.py", package / "sub" / "b.py"]
    for module in modules:
        module.write_text("VALUE = 1\n", encoding="utf-8")

    compile_bytecode(package)

    for module in modules:
        assert Path(importlib.util.cache_from_source(str(module))).is_file(), module


def test_one_module_alone(tmp_path: Path) -> None:
    module = tmp_path / "naive.py"
    module.write_text("VALUE = 1\n", encoding="utf-8")

    compile_bytecode(module)

    assert Path(importlib.util.cache_from_source(str(module))).is_file()
    assert not list(tmp_path.glob("*.pyc"))  # only in __pycache__, nothing else written


def test_a_tree_that_does_not_compile_stops_the_session(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n", encoding="utf-8")

    with pytest.raises(BenchmarkError, match="could not compile"):
        compile_bytecode(tmp_path)


def test_a_tree_it_cannot_write_into_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tmp_path / "__pycache__").write_text(
        "a file where the cache folder should be", encoding="utf-8"
    )

    with pytest.raises(BenchmarkError, match="could not compile"):
        compile_bytecode(tmp_path)


def test_a_tree_that_is_not_there_is_an_error_not_an_empty_success(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        compile_bytecode(tmp_path / "baseline" / "bulkload")
