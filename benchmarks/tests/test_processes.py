"""Measured child processes and the emulator's process lifecycle (with a stand-in server)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from benchmarks.processes import (
    BenchmarkError,
    ChildResult,
    Emulator,
    TreeSampler,
    redact,
    run_child,
    send_signal,
)

FAKE_EMULATOR = textwrap.dedent(
    """
    import json, signal, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"requests_by_status": {"200": 3}, "max_in_flight_seen": 2}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = 201 if self.path == "/api/v1/tables" else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"bulkload emulator listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
    """
)


def test_child_cpu_memory_and_exit_code_are_its_own() -> None:
    code = (
        "b = bytearray(150 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); raise SystemExit(3)"
    )
    result = run_child([sys.executable, "-c", code], timeout_s=60)
    assert result.exit_code == 3
    assert result.max_rss_mb >= 150
    assert result.tree_peak_rss_mb is None or result.tree_processes == 1
    assert result.cpu_s > 0
    assert not result.timed_out


SPIN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {s}: pass\n"


def test_wait4_cpu_includes_a_grandchild_the_child_reaped() -> None:
    # The loader's worker processes are counted this way: Linux adds a reaped child's CPU to
    # its parent's, and wait4 of the parent reports both.
    grandchild = SPIN.format(s=0.5)
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    result = run_child([sys.executable, "-c", code], timeout_s=60)
    assert result.exit_code == 0
    assert result.wait4_cpu_s >= 0.5  # the grandchild alone spun 0.5 s of CPU
    assert result.cpu_s == result.wait4_cpu_s and not result.cpu_escaped_wait4


def test_cpu_a_descendant_spent_unreaped_comes_from_the_samples() -> None:
    reaped = ChildResult("x", 0, 1.0, 0.5, 0.1, 50.0, False, "", 90.0, 2, 0.55)
    assert reaped.cpu_s == pytest.approx(0.6) and not reaped.cpu_escaped_wait4
    orphaned = ChildResult("x", 0, 1.0, 0.2, 0.1, 50.0, False, "", 90.0, 2, 1.5)
    assert orphaned.cpu_s == 1.5 and orphaned.cpu_escaped_wait4
    unsampled = ChildResult("x", 0, 1.0, 0.2, 0.1, 50.0, False, "")
    assert unsampled.cpu_s == pytest.approx(0.3)


def test_tree_sampler_sums_rss_and_cpu_of_every_descendant() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    # Two grandchildren each hold 100 MB and have spun 0.3 s, then wait on stdin (inherited
    # from this test), so the tree is all there while it is sampled.
    grandchild = (
        "import sys\nb = bytearray(100 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])\n"
        + SPIN.format(s=0.3)
        + "print('ready', flush=True)\nsys.stdin.read()\n"
    )
    child = (
        "import subprocess, sys\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', {grandchild!r}]) for _ in range(2)]\n"
        "for kid in kids: kid.wait()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert [process.stdout.readline(), process.stdout.readline()] == ["ready\n"] * 2
        sampler = TreeSampler(process.pid)
        sampler.sample(full_scan=True)
        sampler.sample(full_scan=False)  # only the processes already found
        assert sampler.peak_processes == 3
        assert sampler.peak_rss_bytes >= 200 * 1024 * 1024
        assert sampler.cpu_s >= 0.6
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(60)


def test_a_child_past_its_timeout_is_killed() -> None:
    result = run_child([sys.executable, "-c", "import time; time.sleep(600)"], timeout_s=0.5)
    assert result.timed_out
    assert result.exit_code == -signal.SIGKILL


def test_a_watcher_can_kill_the_child_midway() -> None:
    seen: list[int] = []

    def kill(pid: int, started: float, finished: threading.Event) -> None:
        seen.append(pid)
        send_signal(pid, signal.SIGKILL)

    result = run_child(
        [sys.executable, "-c", "import time; time.sleep(600)"], timeout_s=60, watch=kill
    )
    assert seen and result.exit_code == -signal.SIGKILL
    assert not result.timed_out


def test_stderr_tail_is_kept() -> None:
    result = run_child(
        [sys.executable, "-c", "import sys; sys.exit('boom: table missing')"], timeout_s=60
    )
    assert result.exit_code == 1
    assert "boom: table missing" in result.stderr_tail


def test_api_key_is_hidden_in_printed_commands() -> None:
    shown = redact(
        ["prog", "load", "--api-key", "s3cret-value", "--base-url", "http://127.0.0.1:1"]
    )
    assert "s3cret-value" not in shown
    assert "--api-key $KEY" in shown


def test_emulator_is_started_read_and_stopped(tmp_path: Path) -> None:
    script = tmp_path / "fake_emulator.py"
    script.write_text(FAKE_EMULATOR, encoding="utf-8")
    emulator = Emulator(api_key="k", command=[sys.executable, str(script)])
    with emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.stats()["max_in_flight_seen"] == 2
        emulator.create_table({"tableName": "t", "columns": [{"name": "a", "type": "string"}]})
        assert emulator.reset_stats()
        pid = emulator.pid
        if Path("/proc/self/stat").exists():
            cpu = emulator.cpu_s()
            assert cpu is not None and cpu > 0  # it started an interpreter and answered
    with pytest.raises(BenchmarkError):
        emulator.pid  # noqa: B018
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_an_emulator_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    emulator = Emulator(
        api_key="k", command=[sys.executable, "-c", "import sys; sys.exit('no port')"]
    )
    with pytest.raises(BenchmarkError, match="exited before it was ready"):
        emulator.start()
