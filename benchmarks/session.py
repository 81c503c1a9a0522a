"""What a session measures on and with: the machine, its cores, the code (a snapshot of
bulkload/ taken at the start, so edits landing mid-session can't mix two versions into one
report) and whether the loader has --workers."""

from __future__ import annotations

import compileall
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from benchmarks.processes import BenchmarkError, bulkload_command

BENCH_DIR = Path(__file__).resolve().parent


def cores(*, pin_loader: bool) -> tuple[int | None, int | None]:
    """(loader core, emulator core): the emulator on the last core when there are two or
    more; the loader on the first only when asked (else None: free to use every core)."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return (available[0] if pin_loader else None), available[-1]


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_description() -> dict[str, str]:
    def first_match(path: str, pattern: str) -> str:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "unknown"
        found = re.search(pattern, text, re.MULTILINE)
        return found.group(1).strip() if found else "unknown"

    mem_kb = first_match("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    ram = f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown"
    load = load_average()
    return {
        "CPUs (nproc)": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "CPU model": first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$"),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "Load average at start (1, 5, 15 min)": load,
    }


def code_version() -> str:
    """The commit measured; the tree is shared and changing, so say when it was not clean."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bulkload"],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes in bulkload/" if dirty else head


def source_fingerprint(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_code(scratch: Path) -> Path:
    """Copy bulkload/ so every run of a session measures the same code.

    The working tree is shared with people editing it; without a snapshot, one session
    could measure two versions of the loader. Returns the directory to run loaders from.
    """
    root = scratch / "code"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(
        BENCH_DIR.parent / "bulkload",
        root / "bulkload",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def compile_bytecode(package: Path) -> None:
    """Compile ``package`` (a directory, or one module) to bytecode once, as pip does when it
    installs a wheel.

    Without it every run would compile bulkload's ~60 modules from source again wherever
    bytecode is not written (PYTHONDONTWRITEBYTECODE=1, set on this machine): 50-70 ms of
    CPU per process, the loader's and each worker's, which no installed copy pays. Every tree a
    session runs gets the same treatment, so the comparisons stay fair.
    """
    # compileall reports a file it cannot read, parse or write (a read-only --baseline-tree)
    # by printing it and returning false, but a directory it cannot list as an empty success.
    if not package.exists():
        raise BenchmarkError(f"could not compile {package} to bytecode: it does not exist")
    compile_one = compileall.compile_file if package.is_file() else compileall.compile_dir
    if not compile_one(package, quiet=1):
        raise BenchmarkError(f"could not compile {package} to bytecode (see the errors above)")


def loader_has_workers_flag(tree: Path) -> bool:
    """Whether ``bulkload load`` of ``tree`` takes --workers (asked once per session)."""
    result = subprocess.run(
        bulkload_command("load", "--help"),
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode == 0 and "--workers" in result.stdout


# The code of the issue's figures (main before the anyio pipeline, issue 8's A/B baseline):
# --full runs it beside the current code unless told otherwise, for the calibration.
DEFAULT_BASELINE_COMMIT = "e2239ed"


def baseline_from_commit(scratch: Path, commit: str) -> Path:
    """``bulkload/`` of ``commit`` extracted under scratch/ (reused when already there)."""
    if not re.fullmatch(r"[0-9A-Za-z._/-]{1,100}", commit) or commit.startswith("-"):
        raise ValueError(f"not a commit name: {commit!r}")
    root = scratch / f"baseline-{commit.replace('/', '_')}"
    if (root / "bulkload" / "__main__.py").exists():
        return root
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "bulkload"],
        cwd=BENCH_DIR.parent,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if archive.returncode != 0:
        reason = archive.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(f"git archive {commit} failed: {reason[-1] if reason else 'no output'}")
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(partial, filter="data")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return root
