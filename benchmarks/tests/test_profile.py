"""Summing py-spy's collapsed stacks into self time by module and by function."""

from __future__ import annotations

from benchmarks.profile import summarize

RAW = [
    "<module> (/work/main/bulkload/__main__.py:1);run (/work/main/bulkload/pipeline/run.py:40);"
    "encode (/work/main/bulkload/pipeline/batcher.py:12) 60",
    "<module> (/work/main/bulkload/__main__.py:1);post (/x/.venv/lib/python3.11/site-packages/aiohttp/client.py:500) 30",
    "<module> (/work/main/bulkload/__main__.py:1);readline (/work/main/bulkload/pipeline/readers.py:9) 6",
    "<module> (/work/main/bulkload/__main__.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 4",
    "not a sample line",
]


def test_self_time_is_attributed_to_the_innermost_frame() -> None:
    text = summarize(RAW)
    assert text.startswith("100 samples.")
    module_part, function_part = text.split("Self time by function:")
    assert "60.0%  bulkload/pipeline/batcher.py" in module_part
    assert "30.0%  aiohttp" in module_part
    assert "6.0%  bulkload/pipeline/readers.py" in module_part
    assert "4.0%  imports (interpreter start-up)" in module_part
    assert "60.0%  encode (batcher.py)" in function_part


def test_no_samples_is_said_plainly() -> None:
    assert summarize([]) == "py-spy collected no samples."
