"""Where the loader's CPU goes: a py-spy sample of one ``bulkload load`` run, as text.

py-spy samples the running process from outside (no instrumentation overhead inside it);
its ``raw`` output is one collapsed stack per line with a sample count, which is summed
here by the innermost frame (self time) and by the module that frame is in. ``--gil``
samples only the thread holding the GIL, so threads blocked in a pool or on a lock don't
show up as busy: the figures are where Python-level CPU goes.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.processes import BenchmarkError, run_child

_TOP = 15


def py_spy_path() -> str | None:
    beside_python = Path(sys.executable).with_name("py-spy")
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


def _frame_parts(frame: str) -> tuple[str, str]:
    """``function (path/to/file.py:123)`` -> (``function (file.py)``, module label)."""
    function, _, location = frame.rpartition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    module = _module_label(path)
    return f"{function or frame} ({Path(path).name})", module


def _module_label(path: str) -> str:
    if path.startswith("<frozen"):
        return "imports (interpreter start-up)"
    parts = Path(path).parts
    if "bulkload" in parts:
        index = len(parts) - 1 - parts[::-1].index("bulkload")
        return "/".join(parts[index:])
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    return "python stdlib" if path.startswith(("/usr", sys.base_prefix)) else Path(path).name


def summarize(raw_lines: Sequence[str], top: int = _TOP) -> str:
    by_function: Counter[str] = Counter()
    by_module: Counter[str] = Counter()
    total = 0
    for line in raw_lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        leaf = stack.split(";")[-1]
        function, module = _frame_parts(leaf)
        by_function[function] += count
        by_module[module] += count
        total += count
    if not total:
        return "py-spy collected no samples."
    lines = [f"{total} samples. Self time by module:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_module.most_common(top)]
    lines += ["", "Self time by function:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def profile_command(
    argv: Sequence[str], output: Path, timeout_s: float, core: int | None, cwd: Path | None = None
) -> str:
    """Run ``argv`` under ``py-spy record`` and summarize; raises when py-spy is unavailable."""
    py_spy = py_spy_path()
    if py_spy is None:
        raise BenchmarkError("py-spy is not installed; `.venv/bin/pip install py-spy` to profile")
    output.unlink(missing_ok=True)
    command = [
        py_spy,
        "record",
        "--format",
        "raw",
        "--full-filenames",
        "--gil",
        "--rate",
        "250",
        "-o",
        str(output),
        "--",
        *argv,
    ]
    result = run_child(command, timeout_s=timeout_s, core=core, cwd=cwd)
    if result.exit_code != 0 or not output.exists():
        raise BenchmarkError(
            f"py-spy failed (exit {result.exit_code}): {result.stderr_tail.strip()[-300:]}"
        )
    return summarize(output.read_text(encoding="utf-8").splitlines())
