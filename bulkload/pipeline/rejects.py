"""The rejects file: one JSON line per record that was not loaded, and why.

Each line is ``{"source": ..., "line": n, "reason": ..., "problems": [...], "record": ...}``
(``reason`` names the first problem, ``problems`` lists them all). The original
record is embedded as JSON when it is JSON; otherwise its text is kept as a string (with
``"raw": true``), capped in length. A rerun of the same load appends to the same file and
skips records already listed, keyed by (source, line), so a resumed load never lists a
record twice.

Ordering matters for resumability: the pipeline flushes rejects (``durable=True``) before
the checkpoint records the batch they came from.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson

from bulkload.errors import BulkloadError, ConfigError

MAX_RAW_RECORD_CHARS: Final = 10_240
_MISSING: Any = object()
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_READ_CHUNK_BYTES = 1 << 20
_PROBE_BYTES = 4096  # one page: the smallest allocation a full filesystem refuses


class RejectsFile:
    """An open rejects file. Not thread-safe: one writer at a time."""

    def __init__(self, path: Path, file: BinaryIO, seen: set[tuple[str, int]]) -> None:
        self._path = path
        self._file: BinaryIO | None = file
        self._seen = seen
        self._count = 0
        # Written (or truncated at open) since the last fsync. A durable flush of a file
        # with nothing new skips its fsync: on this project's test VM an fsync costs ~4 ms
        # even when the file is clean, and the committer asks for one per commit group.
        self._unsynced = True
        self.warnings: list[str] = []

    @classmethod
    def open(cls, path: Path, *, restart: bool = False) -> RejectsFile:
        """Open (or create) ``path``; ``restart`` empties it. Raises ConfigError if unwritable."""
        path = Path(path)
        warnings: list[str] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_special_file(path)
            _probe_room(path)
            file: BinaryIO = open(path, "a+b")  # noqa: SIM115 - owned by RejectsFile
            try:
                seen: set[tuple[str, int]] = set()
                if restart:
                    file.truncate(0)
                else:
                    seen, good_length, unreadable = _read_keys(file)
                    if good_length != file.seek(0, os.SEEK_END):
                        # A torn last line (crash mid-write) would fuse with the next one.
                        file.truncate(good_length)
                        warnings.append(
                            f"rejects file {path}: dropped an incomplete last line left by an "
                            "interrupted run; that record is listed again if still rejected"
                        )
                    if unreadable:
                        warnings.append(
                            f"rejects file {path}: {unreadable} line(s) are not bulkload "
                            "rejects (edited?); kept as they are"
                        )
                file.seek(0, os.SEEK_END)
            except BaseException:
                file.close()
                raise
        except OSError as exc:
            raise ConfigError(
                f"cannot use rejects file {path} ({exc.strerror or type(exc).__name__}): make "
                "its directory writable and free space, or choose another path with --rejects"
            ) from exc
        rejects = cls(path, file, seen)
        rejects.warnings = warnings
        return rejects

    @property
    def path(self) -> Path:
        return self._path

    @property
    def count(self) -> int:
        """Lines added in this run (records already listed by an earlier run don't count)."""
        return self._count

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._seen

    def add_unattributed(self, *, source: str, lines: tuple[int, int | None], reason: str) -> None:
        """List a failure the server reported without naming its row (Peak v2): no record,
        ``"line": null``, and the first and last line of the request it came with."""
        entry = {
            "source": source,
            "line": None,
            "lines": list(lines),
            "reason": reason,
            "record": None,
        }
        self._write(orjson.dumps(entry, option=_DUMPS_OPTIONS) + b"\n")
        self._count += 1

    def add(
        self,
        *,
        source: str,
        line: int,
        reason: str,
        record: bytes | None = None,
        value: Any = _MISSING,
        row: Any = _MISSING,
        csv_header: list[str] | None = None,
        problems: Sequence[str] | None = None,
    ) -> bool:
        """List one rejected record; False when (source, line) is already listed.

        ``record`` is the original bytes (JSON Lines, JSON array, an undecodable CSV row);
        ``value`` an already parsed record (CSV, Parquet). Give at most one. ``row`` is a
        CSV row as read (field -> text) when ``value`` is its typed record; ``csv_header``
        names the fields of a raw CSV ``record``, so that a replay can load it.
        """
        key = (source, line)
        if key in self._seen:
            return False
        entry: dict[str, Any] = {
            "source": source,
            "line": line,
            "reason": reason,
            "problems": list(problems) if problems else [reason],  # every one, not the first
        }
        if record is not None:
            entry.update(_embed_bytes(record))
            if csv_header is not None and entry.get("raw"):
                entry["csv_header"] = csv_header
        elif value is not _MISSING:
            entry.update(_embed_value(value))
        else:
            entry["record"] = None
        if row is not _MISSING:
            entry.update({"row": _embed_value(row)["record"]})
        self._write(orjson.dumps(entry, option=_DUMPS_OPTIONS) + b"\n")
        self._seen.add(key)
        self._count += 1
        return True

    def flush(self, *, durable: bool = False) -> None:
        """Push buffered lines to the OS; ``durable`` also fsyncs (before a checkpoint write)."""
        if self._file is None:
            return
        try:
            self._file.flush()
            if durable and self._unsynced:
                os.fsync(self._file.fileno())
                self._unsynced = False
        except OSError as exc:
            raise self._write_failed(exc) from exc

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise self._write_failed(exc) from exc

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RejectsFile({str(self._path)!r}, added={self._count})"

    def _write(self, line: bytes) -> None:
        if self._file is None:
            raise ValueError(f"rejects file {self._path} is closed")
        self._unsynced = True
        try:
            self._file.write(line)
        except OSError as exc:
            raise self._write_failed(exc) from exc

    def _write_failed(self, exc: OSError) -> BulkloadError:
        return BulkloadError(
            f"cannot write rejects file {self._path} ({exc.strerror or type(exc).__name__}): "
            "free space or fix permissions and rerun the same command to resume"
        )


def _refuse_special_file(path: Path) -> None:
    """Reading back a device such as /dev/full or /dev/zero would never end, and a device
    fails its writes or fsyncs only once records are already being sent."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    raise ConfigError(
        f"rejects file {path} is not a regular file: choose a file path with --rejects"
    )


def _probe_room(path: Path) -> None:
    """Fail now, before any record is sent, if the disk is full: the first reject would
    otherwise stop the run half-way. Raises OSError (ENOSPC, EACCES...)."""
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        with open(probe, "wb") as out:
            out.write(b"\0" * _PROBE_BYTES)
            out.flush()
            os.fsync(out.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _embed_bytes(record: bytes) -> dict[str, Any]:
    text = bytes(record).strip()
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return _embed_raw(record.decode("utf-8"))
        except UnicodeDecodeError:
            # Keep every original byte (a replay with --encoding decodes them).
            return {**_embed_raw(escape_bytes(bytes(record))), "escaped": True}
    if b"\n" in text or b"\r" in text:
        # Pretty-printed JSON would break the one-record-per-line layout: re-serialize.
        return {"record": parsed}
    return {"record": orjson.Fragment(text)}


def _embed_value(value: Any) -> dict[str, Any]:
    try:
        serialized = orjson.dumps(value, option=_DUMPS_OPTIONS, default=str)
    except orjson.JSONEncodeError:
        # E.g. integers beyond 64 bits: keep a faithful text form instead of failing the load.
        return _embed_raw(repr(value))
    return {"record": orjson.Fragment(serialized)}


def _embed_raw(text: str) -> dict[str, Any]:
    if len(text) <= MAX_RAW_RECORD_CHARS:
        return {"record": text, "raw": True}
    return {
        "record": text[:MAX_RAW_RECORD_CHARS],
        "raw": True,
        "note": f"record truncated: first {MAX_RAW_RECORD_CHARS:,} of {len(text):,} characters",
    }


def escape_bytes(data: bytes) -> str:
    """Text for bytes that are not all UTF-8: valid UTF-8 as it is, any other byte as
    ``\\xNN``, a backslash doubled, so that :func:`unescape_bytes` gives the bytes back."""
    text = data.decode("utf-8", "surrogateescape").replace("\\", "\\\\")
    return _SURROGATE.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def unescape_bytes(text: str) -> bytes:
    def byte(match: re.Match[str]) -> str:
        escaped = match.group()
        return "\\" if escaped == "\\\\" else chr(0xDC00 + int(escaped[2:], 16))

    return _ESCAPE.sub(byte, text).encode("utf-8", "surrogateescape")


_SURROGATE = re.compile("[\udc80-\udcff]")
_ESCAPE = re.compile(r"\\\\|\\x[0-9a-f]{2}")


def _read_keys(file: BinaryIO) -> tuple[set[tuple[str, int]], int, int]:
    """The (source, line) keys already listed, the length up to the last complete line,
    and how many complete lines could not be read as rejects."""
    seen: set[tuple[str, int]] = set()
    good_length = 0
    unreadable = 0
    for raw, complete in _lines(file):
        if not complete:
            break
        good_length += len(raw) + 1
        try:
            entry = orjson.loads(raw)
            key = (entry["source"], entry["line"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            unreadable += raw.strip() != b""
            continue
        if key[1] is None and "lines" in entry:
            continue  # a failure the server did not tie to a row: no key to skip by
        if isinstance(key[0], str) and type(key[1]) is int:
            seen.add(key)
        else:
            unreadable += 1
    return seen, good_length, unreadable


def _lines(file: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Lines of the file from the start, each with whether its newline was written."""
    file.seek(0)
    pending = b""
    while chunk := file.read(_READ_CHUNK_BYTES):
        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        for piece in pieces:
            yield piece, True
    if pending:
        yield pending, False
