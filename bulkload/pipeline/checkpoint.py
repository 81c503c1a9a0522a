"""The checkpoint: a durable, append-only log of acknowledged batches, and the resume plan.

Batches are acknowledged out of order, so the log is a set of done sequence numbers, not a
high-water mark. A rerun reads it back into a ``ResumePlan``: reading restarts just after
the contiguous done prefix (a cheap seek), and batches done beyond that prefix are rebuilt
(batching is deterministic) but not sent again.

File format (JSON Lines, one object per line, keys sorted, ``crc`` last)::

    {"created_at":"...","identity":{...},"t":"header","version":1,"crc":"1a2b3c4d"}
    {"file":0,"line":500,"offset":81234,"records":500,"seq":0,"server_rejected":0,
     "span_rejected":2,"t":"batch","crc":"..."}
    {"finished_at":"...","t":"finished","totals":{...},"crc":"..."}

``crc`` is the CRC-32 of the line as it would read without the ``crc`` member, so a line
is verified without re-serializing it. Every ``record()`` call appends its lines with one
write and one fsync. A kill -9 can tear only the last line: that entry is dropped with a
warning (its batch is sent again). Damage anywhere else means the log cannot be trusted,
and ``CheckpointCorrupt`` is raised rather than guessing.

The log never holds secrets: the identity is built by the pipeline from the table name,
the batching options and input fingerprints only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import msgspec
import orjson

from bulkload.config import LoadConfig, default_state_dir
from bulkload.errors import (
    BulkloadError,
    CheckpointCorrupt,
    CheckpointInUse,
    CheckpointMismatch,
    ConfigError,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; running unlocked is acceptable
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROBE_BYTES = 4096  # one page: the smallest allocation a full filesystem refuses

_CRC_PREFIX = b',"crc":"'
_CRC_SUFFIX_LEN = len(_CRC_PREFIX) + 8 + len(b'"}')
_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_RECOVERY_HINT = (
    "move it away or rerun with --restart to load everything from the start "
    "(the rejects file is restarted too)"
)


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading resumes: just after the last record of a batch."""

    file_index: int
    offset: int  # opaque to the checkpoint: the reader's own seekable position
    line: int  # line/row number of the last record consumed, so numbering continues


@dataclass(frozen=True, slots=True)
class BatchDone:
    """One acknowledged batch, as the pipeline reports it."""

    seq: int
    records: int  # records sent in the batch
    server_rejected: int  # of those, refused by the server (already in the rejects file)
    span_rejected: int  # client-side rejects read since the previous batch's end
    end: Position


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """What a run still has to do, derived from the log at open time."""

    next_seq: int  # first seq after the contiguous done prefix 0..next_seq-1
    start: Position | None  # end of batch next_seq-1; None: read from the beginning
    done_beyond: frozenset[int]  # seqs > next_seq already done: rebuild but don't send
    skipped_records: int  # records + span_rejected over the prefix (not read again)
    finished: bool  # the previous run completed: nothing to do
    # Batches between next_seq and the highest done seq that were never acknowledged:
    # they were in flight when the previous run stopped and may already be stored, so
    # sending them again can duplicate rows. Worth telling the user.
    in_doubt: int = 0
    recorded_batches: int = 0  # batches the log holds, prefix and beyond
    totals: Mapping[str, Any] | None = None  # what mark_finished() stored, if finished

    def is_pending(self, seq: int) -> bool:
        """True when batch ``seq`` still has to be sent."""
        return not (seq < self.next_seq or seq in self.done_beyond)


@dataclass(frozen=True, slots=True)
class EarlierRun:
    """What an existing log says the run(s) before stored: what --restart sends again."""

    records_stored: int | None  # acknowledged and not refused by the server; None: unreadable
    batches_in_doubt: int  # in flight when a run stopped: may be stored too
    finished: bool

    def describe(self) -> str:
        if self.records_stored is None:
            return "its log is damaged, so how many records the earlier runs stored is unknown"
        what = "the load finished" if self.finished else "the earlier run(s) stored"
        doubt = (
            f" (and {self.batches_in_doubt:,} batch{'es' if self.batches_in_doubt != 1 else ''} "
            "in doubt may be stored too)"
            if self.batches_in_doubt
            else ""
        )
        if self.finished:
            return f"{what}: {self.records_stored:,} records are stored{doubt}"
        return f"{what} {self.records_stored:,} records{doubt}"


def read_earlier_run(path: Path) -> EarlierRun | None:
    """What the log at ``path`` says was stored, without locking or changing it; None when
    there is no log. For telling the user what --restart will do before it does it."""
    try:
        data = _read_if_exists(Path(path))
    except OSError:
        return None
    return None if data is None else _earlier_run(Path(path), data)


def _earlier_run(path: Path, data: bytes) -> EarlierRun:
    try:
        parsed = _parse_log(path, data)
    except CheckpointCorrupt:
        return EarlierRun(records_stored=None, batches_in_doubt=0, finished=False)
    stored = sum(batch.records - batch.server_rejected for batch in parsed.done.values())
    plan = _plan_from(parsed.done, parsed.totals)
    return EarlierRun(records_stored=stored, batches_in_doubt=plan.in_doubt, finished=plan.finished)


def _restart_warning(path: Path, earlier: EarlierRun) -> str:
    return (
        f"--restart: checkpoint {path} was replaced; {earlier.describe()}, and this run "
        "loads every record again: unless the table was emptied, those are stored twice"
    )


def normalize_base_url(url: str | None) -> str | None:
    """The destination as a checkpoint names it: scheme and host lower-cased, the default
    port dropped, no user info, no trailing slash. ``HTTP://Host:80/`` and ``http://host``
    are one destination; another port is another."""
    if url is None:
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, host, path, parts.query, ""))


def default_checkpoint_path(
    state_dir: Path, base_url: str | None, table: str, inputs: Sequence[str], cwd: Path
) -> Path:
    """``state_dir/<table>-<hash>.checkpoint.jsonl``, the hash taken over the normalized base
    URL, the table and the absolute input paths.

    One per-user directory, so the same command finds its checkpoint from any working
    directory; the destination in the hash, so another server or table is another load.
    """
    resolved = [name if name == "-" else os.path.realpath(cwd / name) for name in inputs]
    key = "\n".join([normalize_base_url(base_url) or "", table, *resolved])
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    safe_table = re.sub(r"[^A-Za-z0-9_.-]", "_", table)[:64] or "table"
    return state_dir / f"{safe_table}-{digest}.checkpoint.jsonl"


def checkpoint_path_for(
    table: str, inputs: Sequence[str], *, base_url: str | None, config: LoadConfig, cwd: Path
) -> Path:
    """The checkpoint a load uses: ``config.checkpoint_path``, else its default in the state
    directory (``config.state_dir``, else from the environment)."""
    if config.checkpoint_path is not None:
        return Path(config.checkpoint_path)
    state_dir = config.state_dir if config.state_dir is not None else default_state_dir()
    return default_checkpoint_path(Path(state_dir), base_url, table, inputs, cwd)


def default_rejects_path(checkpoint_path: Path) -> Path:
    """The rejects file next to a checkpoint: same stem, ``.rejects.jsonl``."""
    name = checkpoint_path.name
    for suffix in (".jsonl", ".checkpoint"):
        name = name.removesuffix(suffix)
    return checkpoint_path.with_name(f"{name or checkpoint_path.name}.rejects.jsonl")


class Checkpoint:
    """An open checkpoint log. Not thread-safe: one caller records at a time."""

    def __init__(
        self,
        path: Path,
        file: BinaryIO,
        plan: ResumePlan,
        done: dict[int, _Recorded],
        warnings: list[str],
        *,
        lock: _StateLock | None = None,
        replaced: EarlierRun | None = None,
    ) -> None:
        self._path = path
        self._file: BinaryIO | None = file
        self._lock = lock
        self._plan = plan
        self._done = done
        self._finished = plan.finished
        self._broken: str | None = None
        self.warnings = warnings
        # With restart: what the log this one replaced said the earlier run(s) stored.
        self.replaced = replaced

    @classmethod
    def open(cls, path: Path, identity: Mapping[str, Any], *, restart: bool = False) -> Checkpoint:
        """Open (or create) the log at ``path`` for a load whose inputs/options are ``identity``.

        The load's lock (``<path>.lock``) is taken first, before the log is read or created,
        and held until close(): a second run of the same load is refused with
        CheckpointInUse. Raises CheckpointMismatch when an existing log belongs to different
        inputs or options, CheckpointCorrupt when it is damaged, ConfigError when it cannot
        be written.
        """
        path = Path(path)
        wanted_identity = orjson.loads(orjson.dumps(identity, option=_DUMPS_OPTIONS))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_special_file(path)
            lock = _StateLock.acquire(path)
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        try:
            return cls._open_locked(path, wanted_identity, lock, restart=restart)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _open_locked(
        cls, path: Path, wanted_identity: Any, lock: _StateLock, *, restart: bool
    ) -> Checkpoint:
        try:
            existing = _read_if_exists(path)
            if restart:
                replaced = None if existing is None else _earlier_run(path, existing)
                file = _create_fresh(path, wanted_identity)
                warnings = [] if replaced is None else [_restart_warning(path, replaced)]
                plan = _plan_from({}, None)
                return cls(path, file, plan, {}, warnings, lock=lock, replaced=replaced)
            if existing is None:
                file = _create_fresh(path, wanted_identity)
                return cls(path, file, _plan_from({}, None), {}, [], lock=lock)
            parsed = _parse_log(path, existing)
            _check_identity(path, parsed.identity, wanted_identity)
            # A fresh log proves the disk takes writes with its header; a resumed one must
            # prove it before a batch is sent, or its first acknowledgement fails after.
            _probe_room(path)
            file = _open_for_append(path)
            try:
                _repair_tail(file, parsed, len(existing))
            except BaseException:
                file.close()
                raise
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        plan = _plan_from(parsed.done, parsed.totals)
        return cls(path, file, plan, parsed.done, parsed.warnings, lock=lock)

    @staticmethod
    def peek_plan(path: Path, identity: Mapping[str, Any]) -> ResumePlan | None:
        """The resume plan an existing log at ``path`` gives, read without writing anything
        (a dry run); None when there is no log. CheckpointMismatch, CheckpointCorrupt as
        open() would."""
        path = Path(path)
        wanted_identity = orjson.loads(orjson.dumps(identity, option=_DUMPS_OPTIONS))
        try:
            _refuse_special_file(path)
            existing = _read_if_exists(path)
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        if existing is None:
            return None
        parsed = _parse_log(path, existing)
        _check_identity(path, parsed.identity, wanted_identity)
        return _plan_from(parsed.done, parsed.totals)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def plan(self) -> ResumePlan:
        """The resume plan as of open(); it does not change as batches are recorded."""
        return self._plan

    def done_info(self, seq: int) -> BatchDone | None:
        """What the log (or this run) holds for batch ``seq``, if it is done."""
        recorded = self._done.get(seq)
        return None if recorded is None else _batch_done(recorded)

    def record(self, done: Sequence[BatchDone]) -> None:
        """Append acknowledged batches durably: one write, one fsync for the whole group."""
        if not done:
            return
        payload = b"".join(_batch_line(batch) for batch in done)
        self._append(payload)
        for batch in done:
            self._done[batch.seq] = batch

    def mark_finished(self, totals: Mapping[str, Any]) -> None:
        """Record that the load completed, with its totals; a rerun will have nothing to do."""
        entry = {"t": "finished", "finished_at": _now(), "totals": totals}
        self._append(_line(entry))
        self._finished = True

    @property
    def finished(self) -> bool:
        return self._finished

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self._path)!r}, recorded={len(self._done)})"

    def _append(self, payload: bytes) -> None:
        if self._broken is not None:
            raise BulkloadError(self._broken)
        if self._file is None:
            raise ValueError(f"checkpoint {self._path} is closed")
        file = self._file
        size_before = file.seek(0, os.SEEK_END)
        try:
            _write_all(file, payload)
            os.fsync(file.fileno())
        except OSError as exc:
            # A half-written group would sit mid-file once anything follows it; cut it off,
            # and refuse further appends if even that fails.
            try:
                file.truncate(size_before)
                os.fsync(file.fileno())
            except OSError:
                self._broken = (
                    f"checkpoint {self._path} could not be repaired after a failed write; "
                    f"{_RECOVERY_HINT}"
                )
            raise BulkloadError(
                f"cannot write checkpoint {self._path} ({_os_reason(exc)}): free space or fix "
                "permissions and rerun the same command; batches acknowledged since the last "
                "successful write will be sent again"
            ) from exc


@dataclass(slots=True)
class _ParsedLog:
    identity: Any
    done: dict[int, _Recorded]
    totals: Mapping[str, Any] | None
    good_length: int  # bytes up to the end of the last intact line
    needs_newline: bool  # the last line is intact but for its newline
    warnings: list[str]


def _parse_log(path: Path, data: bytes) -> _ParsedLog:
    lines = data.split(b"\n")
    # Everything before the last newline was fully written; only the piece after it (or a
    # last line whose checksum fails) can be the victim of a crash mid-append.
    tail = lines.pop()
    if lines and not tail and _verified_body(lines[-1]) is None:
        tail = lines.pop()
    good_length = len(data) - len(tail)
    warnings: list[str] = []
    tail_body = _verified_body(tail) if tail else None
    if tail and tail_body is None:
        warnings.append(
            f"checkpoint {path}: ignored an incomplete last entry (line {len(lines) + 1}), "
            "left by an interrupted run; that batch, if any, will be sent again"
        )
    needs_newline = tail_body is not None
    if tail_body is not None:
        # Complete but for its newline: the data is intact, so keep it and repair the newline.
        lines.append(tail)
        good_length = len(data)

    if not lines:
        raise _corrupt(path, 1, "is empty or has no complete header")
    identity = _header_identity(path, lines[0])
    done: dict[int, _Recorded] = {}
    totals: Mapping[str, Any] | None = None
    decode = _ENTRY_DECODER.decode
    for number, raw in enumerate(lines[1:], start=2):
        body = _verified_body(raw)
        if body is None:
            raise _corrupt(path, number, "fails its checksum (damaged or edited)")
        try:
            entry = decode(body)
        except msgspec.DecodeError as exc:
            raise _corrupt(path, number, f"is not a valid checkpoint entry ({exc})") from exc
        if isinstance(entry, _BatchEntry):
            done[entry.seq] = entry
        else:
            totals = entry.totals
    return _ParsedLog(identity, done, totals, good_length, needs_newline, warnings)


def _header_identity(path: Path, raw: bytes) -> Any:
    body = _verified_body(raw)
    if body is None:
        raise _corrupt(path, 1, "fails its checksum (damaged or edited)")
    try:
        header = orjson.loads(body)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("t") != "header":
        raise _corrupt(path, 1, "is not a bulkload checkpoint header")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise _corrupt(
            path, 1, f"has format version {version!r}, this bulkload reads version {FORMAT_VERSION}"
        )
    if "identity" not in header:
        raise _corrupt(path, 1, "header has no identity")
    return header["identity"]


def _repair_tail(file: BinaryIO, parsed: _ParsedLog, size: int) -> None:
    """Leave the log ending in a complete line, so the next append starts a line of its own.

    Appending after a torn line would bury it mid-file, where it reads as corruption.
    """
    if parsed.good_length != size:
        file.truncate(parsed.good_length)
    if parsed.needs_newline:
        file.seek(0, os.SEEK_END)
        _write_all(file, b"\n")
    if parsed.good_length != size or parsed.needs_newline:
        os.fsync(file.fileno())


def _plan_from(done: Mapping[int, _Recorded], totals: Mapping[str, Any] | None) -> ResumePlan:
    next_seq = 0
    skipped = 0
    while (batch := done.get(next_seq)) is not None:
        skipped += batch.records + batch.span_rejected
        next_seq += 1
    beyond = frozenset(seq for seq in done if seq > next_seq)
    highest = max(beyond, default=next_seq - 1)
    start = _batch_done(done[next_seq - 1]).end if next_seq else None
    return ResumePlan(
        next_seq=next_seq,
        start=start,
        done_beyond=beyond,
        skipped_records=skipped,
        finished=totals is not None,
        in_doubt=max(0, highest + 1 - next_seq - len(beyond)),
        recorded_batches=len(done),
        totals=totals,
    )


def _line(entry: Mapping[str, Any]) -> bytes:
    body = orjson.dumps(entry, option=_DUMPS_OPTIONS, default=str)
    crc = zlib.crc32(body)
    return b'%s%s%08x"}\n' % (body[:-1], _CRC_PREFIX, crc)


def _verified_body(raw: bytes) -> bytes | None:
    """The line's JSON without its checksum, or None when the line is not exactly as written."""
    if raw[-_CRC_SUFFIX_LEN:-10] != _CRC_PREFIX or raw[-2:] != b'"}':
        return None
    try:
        crc = int(raw[-10:-2], 16)
    except ValueError:
        return None
    suffix_start = len(raw) - _CRC_SUFFIX_LEN
    body = raw[:suffix_start] + b"}"
    if zlib.crc32(body) != crc:
        return None
    return body


def _batch_line(batch: BatchDone) -> bytes:
    return _line(
        {
            "t": "batch",
            "seq": batch.seq,
            "records": batch.records,
            "server_rejected": batch.server_rejected,
            "span_rejected": batch.span_rejected,
            "file": batch.end.file_index,
            "offset": batch.end.offset,
            "line": batch.end.line,
        }
    )


_Count = Annotated[int, msgspec.Meta(ge=0)]


class _BatchEntry(msgspec.Struct, tag_field="t", tag="batch"):
    """A batch line as stored; decoded by msgspec in C, turned into BatchDone on demand
    (a 100k-entry log must open in a fraction of a second)."""

    seq: _Count
    records: _Count
    server_rejected: _Count
    span_rejected: _Count
    file: _Count
    offset: _Count
    line: _Count

    def as_batch_done(self) -> BatchDone:
        return BatchDone(
            seq=self.seq,
            records=self.records,
            server_rejected=self.server_rejected,
            span_rejected=self.span_rejected,
            end=Position(file_index=self.file, offset=self.offset, line=self.line),
        )


class _FinishedEntry(msgspec.Struct, tag_field="t", tag="finished"):
    totals: dict[str, Any] = msgspec.field(default_factory=dict)
    finished_at: str = ""


_Recorded = BatchDone | _BatchEntry
_ENTRY_DECODER = msgspec.json.Decoder(_BatchEntry | _FinishedEntry)


def _batch_done(recorded: _Recorded) -> BatchDone:
    return recorded if isinstance(recorded, BatchDone) else recorded.as_batch_done()


def _refuse_special_file(path: Path) -> None:
    """A device such as /dev/full or /dev/zero would be read forever, and --restart would
    rename a fresh log over the device node itself: only a regular file will do."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"checkpoint {path} is not a regular file: choose a file path with --checkpoint"
        )


def _read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _create_fresh(path: Path, identity: Any) -> BinaryIO:
    """Write the header to a temp file and rename it over ``path``: never a headless log."""
    header = _line(
        {"t": "header", "version": FORMAT_VERSION, "identity": identity, "created_at": _now()}
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as out:
            _write_all(out, header)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(path.parent)
    return _open_for_append(path)


def _probe_room(path: Path) -> None:
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        with open(probe, "wb") as out:
            _write_all(out, b"\0" * _PROBE_BYTES)
            out.flush()
            os.fsync(out.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _open_for_append(path: Path) -> BinaryIO:
    file: BinaryIO = open(path, "r+b", buffering=0)  # noqa: SIM115 - owned by Checkpoint
    try:
        file.seek(0, os.SEEK_END)
    except BaseException:
        file.close()
        raise
    return file


class _StateLock:
    """An exclusive lock on ``<checkpoint>.lock``, held for the whole run.

    Not on the log itself: the log is replaced by rename when created or restarted, so two
    runs could each lock an inode of their own. The lock file is never renamed or deleted
    (deleting it would let a third run lock a new inode while the first still runs); the
    kernel drops the lock when its holder exits, however it exits. It holds the holder's
    process id, to name it in the refusal.
    """

    def __init__(self, file: BinaryIO | None) -> None:
        # A file object, not a bare descriptor: a Checkpoint dropped without close() (as a
        # crash leaves it) still lets its lock go when collected.
        self._file = file

    @classmethod
    def acquire(cls, checkpoint_path: Path) -> _StateLock:
        if fcntl is None:  # pragma: no cover
            return cls(None)
        lock_path = lock_path_for(checkpoint_path)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                by = f" (process {holder})" if holder else ""
                raise CheckpointInUse(
                    f"this load is already running{by}: another bulkload run holds checkpoint "
                    f"{checkpoint_path}; wait for it to finish, then rerun this command (it "
                    "resumes where that run stopped, or reports the load done)"
                ) from None
            # Filesystems without flock support (some network mounts): run unlocked.
            return cls(None)
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(open(fd, "r+b", buffering=0))  # closed in release()

    def release(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()  # closing the last descriptor drops the flock


def lock_path_for(checkpoint_path: Path) -> Path:
    """The stable file whose lock guards ``checkpoint_path`` (and its load's rejects)."""
    return checkpoint_path.with_name(f"{checkpoint_path.name}.lock")


def _read_holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _write_all(file: BinaryIO, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = file.write(view)
        if not written:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some filesystems refuse fsync on directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot use checkpoint {path} ({_os_reason(exc)}): make its directory writable "
        "and free space, or choose another path with --checkpoint"
    )


def _corrupt(path: Path, line: int, problem: str) -> CheckpointCorrupt:
    return CheckpointCorrupt(f"checkpoint {path} line {line} {problem}: {_RECOVERY_HINT}")


# --- identity comparison: say exactly what changed -------------------------------------------

_NAME_KEYS = ("name", "display_name", "source", "path")


def _check_identity(path: Path, recorded: Any, wanted: Any) -> None:
    if recorded == wanted:
        return
    changes = _describe_changes(recorded, wanted)
    first = changes[0] if changes else "the inputs or options changed"
    more = f" (and {len(changes) - 1} more change{'s' if len(changes) > 2 else ''})"
    raise CheckpointMismatch(
        f"{first} since checkpoint {path}{more if len(changes) > 1 else ''}: rerun with "
        "--restart to load everything from the start, or restore the original inputs and options"
    )


def _describe_changes(recorded: Any, wanted: Any) -> list[str]:
    if not isinstance(recorded, dict) or not isinstance(wanted, dict):
        return []
    changes: list[str] = []
    first_keys = ("base_url", "table", "schema", "inputs")
    for key in sorted(
        set(recorded) | set(wanted),
        key=lambda k: (first_keys.index(k) if k in first_keys else len(first_keys), k),
    ):
        old, new = recorded.get(key, _ABSENT), wanted.get(key, _ABSENT)
        if old == new:
            continue
        if key == "table":
            changes.append(f"table changed ({_show(old)} -> {_show(new)})")
        elif key == "base_url":
            changes.append(f"base URL changed ({_show(old)} -> {_show(new)})")
        elif key == "schema" and isinstance(old, list) and isinstance(new, list):
            changes.append(_describe_schema(old, new))
        elif key == "inputs" and isinstance(old, list) and isinstance(new, list):
            changes.extend(_describe_inputs(old, new))
        elif isinstance(old, dict) and isinstance(new, dict):
            # A nested group such as "options" or "batching": its members are the options.
            changes.extend(_describe_options(old, new))
        else:
            changes.extend(_describe_options({key: old}, {key: new}))
    return changes


def _describe_schema(old: list[Any], new: list[Any]) -> str:
    old_names = [_input_name(column, i) for i, column in enumerate(old)]
    new_names = [_input_name(column, i) for i, column in enumerate(new)]
    if old_names != new_names:
        return f"the table's columns changed ({_show_names(old_names)} -> {_show_names(new_names)})"
    for name, before, after in zip(new_names, old, new, strict=True):
        if before != after:
            return f"the table's column {name!r} changed ({_show(before)} -> {_show(after)})"
    return "the table's schema changed"


def _describe_options(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if before != after:
            changes.append(f"option {key} changed ({_show(before)} -> {_show(after)})")
    return changes


def _describe_inputs(old: list[Any], new: list[Any]) -> list[str]:
    old_names = [_input_name(item, i) for i, item in enumerate(old)]
    new_names = [_input_name(item, i) for i, item in enumerate(new)]
    if old_names != new_names:
        return [f"inputs differ ({_show_names(old_names)} -> {_show_names(new_names)})"]
    changes = []
    for name, before, after in zip(new_names, old, new, strict=True):
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            details = _describe_fingerprint(before, after)
        else:
            details = f"{_show(before)} -> {_show(after)}"
        changes.append(f"input {name!r} changed ({details})")
    return changes


def _describe_fingerprint(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in _changed_leaves(old, new):
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(before, str) and isinstance(after, str) and len(before) > 16:
            parts.append(f"{key} differs")  # content hashes: the values mean nothing to a reader
        elif key.endswith("mtime_ns") and type(before) is int and type(after) is int:
            parts.append(f"modified {_show_time_ns(before)} -> {_show_time_ns(after)}")
        else:
            parts.append(f"{key} {_show(before)} -> {_show(after)}")
    return "; ".join(parts)


def _changed_leaves(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    # The size is the most telling difference, so it goes first; the rest alphabetically.
    keys = [k for k in set(old) | set(new) if old.get(k, _ABSENT) != new.get(k, _ABSENT)]
    return sorted(keys, key=lambda k: (k != "size", k != "size_bytes", k))


def _input_name(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in _NAME_KEYS:
            if isinstance(item.get(key), str):
                return str(item[key])
    if isinstance(item, str):
        return item
    return f"#{index + 1}"


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


_ABSENT: Any = _Absent()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(none)"
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        text = repr(value)
    else:
        text = orjson.dumps(value, option=_DUMPS_OPTIONS).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _show_time_ns(value: int) -> str:
    try:
        moment = datetime.fromtimestamp(value / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        return _show(value)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _show_names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:5])
    if len(names) > 5:
        shown += f", ... ({len(names)} in all)"
    return f"[{shown}]"
