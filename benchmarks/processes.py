"""Child processes for the benchmarks: the emulator, and measured loader runs.

Each loader run is reaped with ``os.wait4``, which hands back that one child's resource
usage; ``RUSAGE_CHILDREN`` would mix every child reaped so far. On Linux that usage already
includes every descendant the child itself reaped (its worker processes, once joined): the
kernel adds a reaped child's times to its parent's, so wait4 has RUSAGE_BOTH semantics for
CPU (checked: a child that burns 0.3 s and waits for a grandchild burning 1.0 s reports
1.47 s; without the wait, 0.38 s). Its ``ru_maxrss`` is the largest single process, not the
tree's sum, so a ``TreeSampler`` thread reads /proc while the child runs: the summed RSS of
the child and every descendant, and each one's own CPU, so CPU a descendant spent without
being reaped by the tree (an orphan) is not lost either. Every wait has a timeout, and the
emulator is stopped however the benchmark ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

EMULATOR_READY_PREFIX = "bulkload emulator listening on "
EMULATOR_START_TIMEOUT_S = 30.0
EMULATOR_STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
_STDERR_TAIL_BYTES = 2000
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# (pid, started, finished) -> None: runs while the child runs and may signal it; ``started`` is
# the time.perf_counter() reading just before the child was started.
Watcher = Callable[[int, float, threading.Event], None]


class BenchmarkError(RuntimeError):
    """A benchmark step failed in a way that makes its figures meaningless."""


def bulkload_command(*args: str) -> list[str]:
    # Run from the directory holding the bulkload package to measure (see run.snapshot_code):
    # ``-m`` puts the working directory first on sys.path.
    return [sys.executable, "-m", "bulkload", *args]


def naive_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.naive", *args]


def redact(argv: Sequence[str]) -> str:
    """The command line as it may be printed or written: the API key's value hidden."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("$KEY")
            hide_next = False
            continue
        shown.append(arg)
        hide_next = arg == "--api-key"
    program = shown[0]
    if program == sys.executable:
        shown[0] = "python"
    return " ".join(shown)


def pin_to_core(pid: int, core: int | None) -> None:
    """Best effort: a machine with fewer cores, or no affinity support, runs unpinned."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        if core in os.sched_getaffinity(0):
            os.sched_setaffinity(pid, {core})
    except OSError:
        pass


_PROC = Path("/proc")
_TREE_SAMPLE_S = 0.05
# A full /proc scan (to find new descendants) costs ~3 ms of the harness's CPU on this machine,
# so it runs every few samples; in between only the processes already found are read.
_TREE_SCANS_EVERY = 10


def _ticks_per_s() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def _page_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 4096


@dataclass(frozen=True, slots=True)
class _ProcStat:
    ppid: int
    cpu_ticks: int  # utime + stime of the process itself (its reaped children not included)
    start_ticks: int  # tells a reused pid from the process seen before
    rss_pages: int


def _read_stat(pid: int) -> _ProcStat | None:
    try:
        with open(_PROC / str(pid) / "stat", "rb") as file:
            data = file.read()
    except OSError:  # gone, or no /proc
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    fields = data[data.rindex(b")") + 2 :].split()
    try:
        return _ProcStat(
            ppid=int(fields[1]),
            cpu_ticks=int(fields[11]) + int(fields[12]),
            start_ticks=int(fields[19]),
            rss_pages=int(fields[21]),
        )
    except (IndexError, ValueError):
        return None


class TreeSampler:
    """Peak summed RSS and per-process CPU of a process and all its descendants, from /proc.

    A thread samples every ``interval_s``; a process is known by (pid, start time), so a
    reused pid is never mistaken for one seen before, and a descendant whose parent died
    (re-parented to init) is still followed. Sums count shared pages once per process
    (plain RSS), which over-counts forked workers' shared pages: an upper bound.
    """

    def __init__(self, root_pid: int, interval_s: float = _TREE_SAMPLE_S) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self.available = (_PROC / str(root_pid) / "stat").exists()
        self.peak_rss_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._cpu_ticks: dict[tuple[int, int], int] = {}  # last seen own CPU of each process
        self._known: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the reaper takes a last sample beside the thread
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)
        self._page = _page_bytes()
        self._ticks = _ticks_per_s()

    def __enter__(self) -> TreeSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(EMULATOR_STOP_TIMEOUT_S)

    @property
    def cpu_s(self) -> float:
        """The tree's CPU as last sampled: a lower bound (the last moments are not seen)."""
        return sum(self._cpu_ticks.values()) / self._ticks

    def _descendants(self, stats: dict[int, _ProcStat]) -> set[int]:
        children: dict[int, list[int]] = {}
        for pid, stat in stats.items():
            children.setdefault(stat.ppid, []).append(pid)
        found, todo = set(), [self.root_pid]
        while todo:
            pid = todo.pop()
            if pid in found:
                continue
            found.add(pid)
            todo.extend(children.get(pid, ()))
        return found

    def _scan_all(self) -> dict[int, _ProcStat]:
        stats: dict[int, _ProcStat] = {}
        try:
            names = os.listdir(_PROC)
        except OSError:
            return stats
        for name in names:
            if name.isdigit():
                stat = _read_stat(int(name))
                if stat is not None:
                    stats[int(name)] = stat
        return stats

    def sample(self, full_scan: bool) -> None:
        with self._lock:
            self._sample(full_scan)

    def _sample(self, full_scan: bool) -> None:
        if full_scan:
            every = self._scan_all()
            tree = {pid: every[pid] for pid in self._descendants(every) if pid in every}
            # Processes found before and still the same process (re-parented orphans too).
            for pid, start in self._known:
                if pid not in tree and pid in every and every[pid].start_ticks == start:
                    tree[pid] = every[pid]
        else:
            tree = {}
            for pid, start in self._known:
                stat = _read_stat(pid)
                if stat is not None and stat.start_ticks == start:
                    tree[pid] = stat
        if self.root_pid not in tree:
            return  # ended (or already reaped): nothing left to add
        self._known = {(pid, stat.start_ticks) for pid, stat in tree.items()}
        for pid, stat in tree.items():
            self._cpu_ticks[(pid, stat.start_ticks)] = stat.cpu_ticks
        self.samples += 1
        self.peak_rss_bytes = max(
            self.peak_rss_bytes, sum(stat.rss_pages for stat in tree.values()) * self._page
        )
        self.peak_processes = max(self.peak_processes, len(tree))

    def _run(self) -> None:
        tick = 0
        while True:
            self.sample(full_scan=tick % _TREE_SCANS_EVERY == 0)
            tick += 1
            if self._stop.wait(self.interval_s):
                return


@dataclass(frozen=True, slots=True)
class ChildResult:
    command: str
    exit_code: int
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    max_rss_mb: float
    timed_out: bool
    stderr_tail: str
    # From the TreeSampler (None where /proc is not there): the summed RSS of the child and
    # its descendants at their highest sample, how many processes the tree had at most, and
    # the tree's CPU as last sampled (a lower bound; see cpu_s).
    tree_peak_rss_mb: float | None = None
    tree_processes: int | None = None
    tree_cpu_sampled_s: float | None = None

    @property
    def wait4_cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s

    @property
    def cpu_escaped_wait4(self) -> bool:
        """Descendants spent CPU that wait4 does not include (they were never reaped)."""
        sampled = self.tree_cpu_sampled_s
        return sampled is not None and sampled > self.wait4_cpu_s * 1.01 + 0.05

    @property
    def cpu_s(self) -> float:
        """CPU of the child and every descendant: wait4's (which includes every reaped
        descendant), unless the /proc samples saw more (descendants never reaped)."""
        if self.cpu_escaped_wait4:
            assert self.tree_cpu_sampled_s is not None
            return self.tree_cpu_sampled_s
        return self.wait4_cpu_s


def run_child(
    argv: Sequence[str],
    *,
    timeout_s: float,
    core: int | None = None,
    env: Mapping[str, str] | None = None,
    watch: Watcher | None = None,
    cwd: Path | None = None,
) -> ChildResult:
    """Run ``argv`` to its end (or ``timeout_s``, then SIGKILL) and measure it."""
    child_env = dict(os.environ if env is None else env)
    with tempfile.TemporaryFile() as stderr_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            env=child_env,
            cwd=cwd,
        )
        pin_to_core(process.pid, core)
        sampler = TreeSampler(process.pid)
        sampler.__enter__()
        finished = threading.Event()
        outcome: dict[str, Any] = {}

        def reap() -> None:
            # Wait without reaping first, so the sampler's last look sees the whole tree.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            sampler.sample(full_scan=True)
            _, status, usage = os.wait4(process.pid, 0)
            outcome["ended"] = time.perf_counter()
            outcome["status"] = status
            outcome["usage"] = usage
            finished.set()

        reaper = threading.Thread(target=reap, name="reaper", daemon=True)
        reaper.start()
        try:
            if watch is not None:
                watch(process.pid, started, finished)
        finally:
            remaining_s = max(0.0, timeout_s - (time.perf_counter() - started))
            timed_out = not finished.wait(remaining_s)
            if timed_out:
                send_signal(process.pid, signal.SIGKILL)
                finished.wait(EMULATOR_STOP_TIMEOUT_S)
            reaper.join(EMULATOR_STOP_TIMEOUT_S)
            sampler.__exit__(None, None, None)
        if "status" not in outcome:
            raise BenchmarkError(f"could not reap {redact(argv)}")
        exit_code = os.waitstatus_to_exitcode(outcome["status"])
        process.returncode = exit_code  # reaped by wait4; keep Popen from waiting again
        stderr_file.seek(0, os.SEEK_END)
        size = stderr_file.tell()
        stderr_file.seek(max(0, size - _STDERR_TAIL_BYTES))
        stderr_tail = stderr_file.read().decode("utf-8", "replace")
    usage = outcome["usage"]
    return ChildResult(
        command=redact(argv),
        exit_code=exit_code,
        wall_s=outcome["ended"] - started,
        cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        timed_out=timed_out,
        stderr_tail=stderr_tail,
        tree_peak_rss_mb=sampler.peak_rss_bytes / 1024**2 if sampler.samples else None,
        tree_processes=sampler.peak_processes if sampler.samples else None,
        tree_cpu_sampled_s=sampler.cpu_s if sampler.samples else None,
    )


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
        os.kill(pid, signum)


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in _LOOPBACK_HOSTS:
        raise BenchmarkError(f"benchmark traffic stays on loopback; refusing {url}")


def http_json(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Any]:
    """A small stdlib request to the emulator: (status, parsed JSON body or None)."""
    _require_loopback(url)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


class Emulator:
    """``bulkload emulator`` in its own process, on loopback, for one benchmark phase."""

    def __init__(
        self,
        *,
        api_key: str,
        latency_ms: float = 0.0,
        store: bool = False,
        core: int | None = None,
        seed: int = 1,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._api_key = api_key
        args = ["emulator", "--port", "0", "--api-key", api_key, "--latency-ms", f"{latency_ms:g}"]
        args += ["--seed", str(seed)]
        if not store:
            args.append("--no-store")
        self.argv = list(command) if command is not None else bulkload_command(*args)
        self.latency_ms = latency_ms
        self._cwd = cwd
        self._core = core
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self.url = ""

    @property
    def command(self) -> str:
        return redact(self.argv)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        # Lives as long as the emulator, closed by stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=self._cwd,
        )
        pin_to_core(self._process.pid, self._core)
        try:
            self.url = self._read_url(self._process)
        except BaseException:
            self.stop()
            raise
        _require_loopback(self.url)

    def _read_url(self, process: subprocess.Popen[str]) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchmarkError(
                    f"the emulator did not report ready within {EMULATOR_START_TIMEOUT_S:g} s"
                )
            readable, _, _ = select.select([process.stdout], [], [], remaining)
            if not readable:
                continue
            line = process.stdout.readline()
            if not line:
                raise BenchmarkError(
                    f"the emulator exited before it was ready: {self.stderr_tail()}"
                )
            if line.startswith(EMULATOR_READY_PREFIX):
                # Keep draining stdout, so a chatty emulator never blocks on a full pipe.
                threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
                return line.removeprefix(EMULATOR_READY_PREFIX).strip().rstrip("/")

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(EMULATOR_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(EMULATOR_STOP_TIMEOUT_S)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise BenchmarkError("the emulator is not running")
        return self._process.pid

    def cpu_s(self) -> float | None:
        """The emulator's CPU seconds so far (from /proc; None where there is none)."""
        stat = _read_stat(self.pid)
        return None if stat is None else stat.cpu_ticks / _ticks_per_s()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": self._api_key}

    def create_table(self, definition: Mapping[str, Any]) -> None:
        status, body = http_json("POST", f"{self.url}/api/v1/tables", definition, self._auth())
        if status not in (201, 409):
            raise BenchmarkError(
                f"creating table {definition.get('tableName')!r} answered {status}: {body}"
            )

    def stats(self) -> dict[str, Any]:
        status, body = http_json("GET", f"{self.url}/_emulator/stats", headers=self._auth())
        if status != 200 or not isinstance(body, dict):
            raise BenchmarkError(f"GET /_emulator/stats answered {status}")
        return body

    def reset_stats(self) -> bool:
        """Zero the emulator's counters; False when this emulator has no way to."""
        for method, path in (("POST", "/_emulator/stats/reset"), ("POST", "/_emulator/reset")):
            status, _ = http_json(method, f"{self.url}{path}", {}, self._auth())
            if 200 <= status < 300:
                return True
        return False


def _drain(stream: IO[str]) -> None:
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):
        pass  # closed by stop()
