"""Measured child processes and the emulator's process lifecycle (with a stand-in server)."""

from __future__ import annotations

import signal
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from benchmarks.processes import BenchmarkError, Emulator, redact, run_child, send_signal

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
    assert result.cpu_s > 0
    assert not result.timed_out


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
