"""The README runs as written: its shell blocks and Python snippets, executed in order.

A doc test: it fails when the README drifts from the code (a renamed option, a missing file,
a command that no longer succeeds). The conventions, kept few:

- A fence tagged ``sh``, ``bash`` or ``shell`` is shell; ``python`` is Python. Other fences
  (``json``, none) are not code and are not run.
- ``<!-- readme-test: skip (why) -->`` on the line right before a fence: the block is not
  run (``make demo`` takes a minute, ``make test`` would run this test, a reference listing
  needs your own files). It is still checked: each ``bulkload ...`` line must parse (it is
  run with ``--help`` appended, which fails on an unknown option or command) and each
  ``make TARGET`` line must name real targets (``make -n``).
- Everything else runs, in document order, the way a reader following along would: in one
  scratch directory holding a copy of ``examples/``, with this checkout's ``bulkload`` and
  ``python`` first on PATH and no ``PEAK_*`` variables from the caller; variables a block
  exports carry into the later blocks and snippets. A shell block stops at its first
  failing command (``bash -e -o pipefail``): exit 0 means every record landed.
- A ``bulkload emulator ...`` line is a server: the test starts it in the background with
  ``--port 0`` instead of the port written, waits for its "listening on" line (and writes
  it to the line's ``> FILE``, if any), and points later mentions of
  ``127.0.0.1:<written port>`` at it. It runs until the README ends, or until the block's
  ``kill %N`` when the line ends with ``&`` (the N-th such server of the block).

A failure names the block (its line in README.md) and shows the commands and their output.
"""

from __future__ import annotations

import ast
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulkload.cli import cli
from bulkload.cli.emulator import LISTENING_PREFIX

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHELL_FENCES = frozenset({"sh", "bash", "shell"})
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\b")
FENCE = re.compile(r"^```(\S*)\s*$")
EMULATOR_LINE = re.compile(r"^\s*bulkload\s+emulator\b")
KILL_JOB = re.compile(r"^\s*kill\s+%(\d+)\s*(?:#.*)?$")
STEP_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skipped: bool

    @property
    def name(self) -> str:
        return f"README.md line {self.line} ({self.language} block)"


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        blocks.append(
            Block(
                line=start + 1,
                language=opening.group(1),
                code="\n".join(body) + "\n",
                skipped=SKIP_MARKER.search(previous) is not None,
            )
        )
        index += 1
    return blocks


def test_the_readme_parser_sees_fences_and_markers() -> None:
    text = "x\n```sh\necho a\n```\n<!-- readme-test: skip (why) -->\n```python\npass\n```\n"
    assert readme_blocks(text) == [
        Block(2, "sh", "echo a\n", skipped=False),
        Block(6, "python", "pass\n", skipped=True),
    ]


# -- running blocks -----------------------------------------------------------------------------


class Reader:
    """The state of someone following the README: a directory, variables, servers."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.addresses: dict[str, str] = {}  # "127.0.0.1:8080" as written -> as started
        self.servers: list[tuple[Block, subprocess.Popen[str]]] = []
        bin_dir = Path(sys.executable).parent
        if not (bin_dir / "bulkload").exists():
            pytest.fail(f"no bulkload in {bin_dir}: run `make install` first")
        path = [str(bin_dir)]
        if shutil.which("sqlite3") is None:  # the README's way to look into the emulator
            path.append(str(_sqlite3_shim(scratch / ".shim")))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_")}
        self.env["PATH"] = os.pathsep.join([*path, self.env.get("PATH", "")])
        self.env.pop("VIRTUAL_ENV", None)

    def localize(self, code: str) -> str:
        for written, started in self.addresses.items():
            code = code.replace(written, started)
        return code

    def run_shell(self, block: Block) -> None:
        first = block.line + 1  # README line of the segment's first line
        segment: list[str] = []
        jobs: list[subprocess.Popen[str]] = []  # servers started with "&", as bash numbers them
        lines = block.code.splitlines()
        number = block.line
        while lines:
            line = lines.pop(0)
            number += 1
            while line.endswith("\\") and lines:  # a command continued on the next line
                line = line[:-1] + " " + lines.pop(0)
                number += 1
            job = KILL_JOB.match(line)
            if EMULATOR_LINE.match(line) or (job and int(job.group(1)) <= len(jobs)):
                self._bash(block, first, "\n".join(segment))
                segment, first = [], number + 1
                if job:
                    _stop(block, jobs[int(job.group(1)) - 1])
                else:
                    server = self._start_server(block, line)
                    if shlex.split(line, comments=True)[-1] == "&":
                        jobs.append(server)
            else:
                segment.append(line)
        self._bash(block, first, "\n".join(segment))

    def run_python(self, block: Block) -> None:
        script = self.scratch / f"readme_line_{block.line}.py"
        script.write_text(self.localize(block.code))
        self._check(block, block.code, [sys.executable, str(script)])

    def _bash(self, block: Block, first_line: int, code: str) -> None:
        if not code.strip():
            return
        env_file = self.scratch / ".readme-env"
        # The failing command, by its README line: the code starts on the script's line 3.
        where = f"README.md line $(({first_line - 3} + LINENO)): $BASH_COMMAND"
        script = (
            f"set -e -o pipefail\ntrap 'echo \"{where}\" >&2' ERR\n"
            f"{self.localize(code)}\nenv -0 > {shlex.quote(str(env_file))}\n"
        )
        self._check(block, code, ["bash", "-c", script])
        # What the block exported is the reader's from now on.
        names = env_file.read_bytes().split(b"\0")
        pairs = (entry.decode().partition("=") for entry in names if entry)
        self.env = {k: v for k, _, v in pairs if k not in ("_", "SHLVL", "PWD", "OLDPWD")}

    def _check(self, block: Block, code: str, argv: list[str]) -> None:
        try:
            done = subprocess.run(
                argv,
                cwd=self.scratch,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{block.name}: still running after {exc.timeout:.0f} s:\n{code}")
        if done.returncode != 0:
            failed_at = re.findall(r"^README\.md line \d+: .*$", done.stderr, re.MULTILINE)
            headline = failed_at[-1] if failed_at else "failed"
            pytest.fail(
                f"{block.name}: {headline} (exit {done.returncode})\n{code}\n"
                f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
            )

    def _start_server(self, block: Block, line: str) -> subprocess.Popen[str]:
        argv = shlex.split(line, comments=True)
        if argv[-1] == "&":
            argv.pop()
        # "> FILE": the line it prints once it listens goes there too, as in a shell.
        output = None
        for redirect in (">", "1>"):
            if redirect in argv:
                at = argv.index(redirect)
                output = self.scratch / argv[at + 1]
                del argv[at : at + 2]
        written_port = "8080"  # the command's default
        if "--port" in argv:
            at = argv.index("--port")
            written_port = argv[at + 1]
            argv[at + 1] = "0"
        else:
            argv += ["--port", "0"]
        log = self.scratch / f".emulator-{len(self.servers)}.log"
        with log.open("w") as errors:
            server = subprocess.Popen(
                argv,
                cwd=self.scratch,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=errors,  # a file: a full pipe would stall the server
                text=True,
                start_new_session=True,  # a Ctrl-C of the test run is not sent to it twice
            )
        self.servers.append((block, server))
        assert server.stdout is not None
        # The command prints one line once it listens; it may also fail and exit.
        ready, _, _ = select.select([server.stdout], [], [], STEP_TIMEOUT_S)
        first = server.stdout.readline() if ready else ""
        if not first.startswith(LISTENING_PREFIX):
            server.kill()
            server.wait()
            pytest.fail(f"{block.name}: `{line.strip()}` did not start:\n{first}{log.read_text()}")
        if output is not None:
            output.write_text(first)
        started = first[len(LISTENING_PREFIX) :].strip().removeprefix("http://")
        for host in ("127.0.0.1", "localhost"):
            self.addresses[f"{host}:{written_port}"] = started
        return server

    def stop_servers(self) -> None:
        for block, server in self.servers:
            _stop(block, server)


def _stop(block: Block, server: subprocess.Popen[str]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        pytest.fail(f"{block.name}: the emulator did not stop on SIGINT")


def _sqlite3_shim(directory: Path) -> Path:
    """A stand-in for the sqlite3 command (`sqlite3 FILE 'SQL'`), where it is not installed."""
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "sqlite3"
    shim.write_text(
        f"#!{sys.executable}\n"
        "import sqlite3, sys\n"
        "for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):\n"
        "    print('|'.join('' if v is None else str(v) for v in row))\n"
    )
    shim.chmod(0o755)
    return directory


def check_skipped(block: Block) -> None:
    """A block not run must still name real commands, options and make targets."""
    for line in block.code.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "bulkload":
            result = CliRunner().invoke(cli, [*words[1:], "--help"])
            assert result.exit_code == 0, (
                f"{block.name} (not run): `{line.strip()}` does not parse:\n{result.output}"
            )
        elif words[0] == "make":
            done = subprocess.run(
                ["make", "-n", "-C", str(ROOT), *words[1:]],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, (
                f"{block.name} (not run): `{line.strip()}`: {done.stderr.strip()}"
            )


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    following = Reader(tmp_path)
    try:
        yield following
    finally:
        following.stop_servers()


def test_every_shell_block_and_python_snippet_of_the_readme_runs(reader: Reader) -> None:
    blocks = readme_blocks(README.read_text())
    ran = 0
    for block in blocks:
        if block.language not in SHELL_FENCES and block.language != "python":
            continue
        if block.skipped:
            check_skipped(block)
        elif block.language == "python":
            reader.run_python(block)
            ran += 1
        else:
            reader.run_shell(block)
            ran += 1
    assert ran >= 2, "the README has no runnable shell block and Python snippet left"


def test_the_python_snippet_uses_the_public_api() -> None:
    imported: set[str] = set()
    for block in readme_blocks(README.read_text()):
        if block.language == "python":
            for node in ast.walk(ast.parse(block.code)):
                if isinstance(node, ast.ImportFrom) and node.module == "bulkload":
                    imported.update(alias.name for alias in node.names)
    assert {"load", "LoadConfig", "ApiConfig"} <= imported
