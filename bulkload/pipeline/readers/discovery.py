"""Discovery: what the command line's inputs are (files, directories, standard input),
their format and compression, from their names or ``--format``."""

from __future__ import annotations

import importlib.util
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import orjson

from bulkload.errors import InputError

Format = Literal["jsonl", "csv", "json", "parquet", "rejects"]
Compression = Literal["gzip", "zstd", "bz2"]

FORMATS: tuple[Format, ...] = get_args(Format)
FORMAT_BY_EXTENSION: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".json": "json",
    ".parquet": "parquet",
}
COMPRESSION_BY_EXTENSION: dict[str, Compression] = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}

EXTENSIONS_HELP = (
    ".jsonl, .ndjson, .csv, .json or .parquet (optionally followed by .gz, .zst or .bz2)"
)


@dataclass(frozen=True, slots=True)
class InputFile:
    path: Path | None  # None for standard input
    display_name: str
    format: Format
    compression: Compression | None
    size_bytes: int | None  # on-disk (compressed) size at discovery; None for a stream
    mtime_ns: int | None
    # Read once, front to back, like standard input: a FIFO or a character device. Such a
    # load cannot be resumed (there is nothing to seek back into).
    stream: bool = False

    @property
    def resumable(self) -> bool:
        return self.path is not None and not self.stream


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A directory entry that is not read, and why (for the one warning that names them)."""

    path: str
    why: str  # e.g. "a directory: pass --recursive"


@dataclass(frozen=True, slots=True)
class Discovery:
    inputs: list[InputFile]
    skipped: list[SkippedEntry]

    def skipped_warning(self, shown: int = 10) -> str | None:
        """One line naming the skipped entries (the first ``shown``), or None."""
        if not self.skipped:
            return None
        names = "; ".join(f"{entry.path} ({entry.why})" for entry in self.skipped[:shown])
        more = len(self.skipped) - shown
        tail = f"; and {more} more" if more > 0 else ""
        if any(entry.why == "unknown extension" for entry in self.skipped):
            tail += f" (inputs are named {EXTENSIONS_HELP})"
        count = len(self.skipped)
        entries = "entry" if count == 1 else "entries"
        return f"skipped {count} {entries} of input directories: {names}{tail}"


def discover_inputs(
    paths: Sequence[str], input_format: str | None = None, *, recursive: bool = False
) -> list[InputFile]:
    """The inputs of :func:`discover` (without the entries it skipped)."""
    return discover(paths, input_format, recursive=recursive).inputs


def discover(
    paths: Sequence[str], input_format: str | None = None, *, recursive: bool = False
) -> Discovery:
    """Resolve the command line's inputs: files, directories (supported files in name order;
    with ``recursive`` their subdirectories' too, in the same order) and ``-`` (standard
    input). A file reached twice is read once. A ``.jsonl`` file that holds bulkload rejects
    is read as format ``rejects`` (unless ``input_format`` says otherwise)."""
    if input_format is not None and input_format not in FORMATS:
        raise InputError(f"--format {input_format!r} is not one of {', '.join(FORMATS)}")
    if not paths:
        raise InputError("no input given: name files, directories, or - for standard input")
    chosen_format: Format | None = input_format  # narrowed by the check above
    inputs: list[InputFile] = []
    skipped: list[SkippedEntry] = []
    seen: set[str] = set()
    for text in paths:
        if text == "-":
            candidates = [_stdin_input(chosen_format)]
        else:
            candidates = _path_inputs(text, chosen_format, recursive, skipped)
        for candidate in candidates:
            identity = "-" if candidate.path is None else os.path.realpath(candidate.path)
            if identity not in seen:
                seen.add(identity)
                inputs.append(candidate)
    return Discovery(inputs, skipped)


def display_path(text: str) -> str:
    """A path as messages, rejects and checkpoints show it: bytes that are not UTF-8 (which
    Python carries as lone surrogates, and JSON cannot hold) as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return text


def _quoted(text: str) -> str:
    return f"'{display_path(text)}'"


def _stdin_input(input_format: Format | None) -> InputFile:
    file_format: Format = input_format or "jsonl"
    if file_format == "parquet":
        raise InputError("parquet cannot be read from standard input (-); give the file's path")
    return InputFile(
        path=None,
        display_name="<stdin>",
        format=file_format,
        compression=None,
        size_bytes=None,
        mtime_ns=None,
    )


def _path_inputs(
    text: str, input_format: Format | None, recursive: bool, skipped: list[SkippedEntry]
) -> list[InputFile]:
    path = Path(text)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputError(f"input {_quoted(text)} does not exist; check the path") from None
    except OSError as exc:
        raise InputError(
            f"input {_quoted(text)} cannot be read ({exc.strerror}); check the path"
        ) from None
    if stat.S_ISDIR(status.st_mode):
        inputs: list[InputFile] = []
        _walk_directory(path, text, input_format, recursive, inputs, skipped, set())
        if not inputs:
            hint = "" if recursive else " (pass --recursive to read its subdirectories too)"
            raise InputError(
                f"input directory {_quoted(text)} has no input files; it needs files named "
                f"{EXTENSIONS_HELP}{hint}"
            )
        return inputs
    if stat.S_ISFIFO(status.st_mode) or stat.S_ISCHR(status.st_mode):
        return [_stream_input(path, text, input_format)]
    return [_file_input(path, text, status, input_format, explicit=True)]


def _stream_input(path: Path, text: str, input_format: Format | None) -> InputFile:
    """A FIFO or character device: never opened here. Opening a FIFO waits for its writer,
    and opening and closing it would kill that writer with SIGPIPE."""
    named_format, compression = _classify(path.name)
    # No extension (/dev/stdin, a process substitution's /dev/fd/63): JSONL, as for "-".
    file_format: Format = input_format or named_format or "jsonl"
    if file_format == "parquet":
        raise InputError(
            f"input {_quoted(text)} is a pipe or device, and parquet needs a file it can seek "
            "in: give the file's path"
        )
    if not os.access(path, os.R_OK):
        raise InputError(f"input {_quoted(text)} cannot be read (permission denied); check it")
    return InputFile(
        path=path,
        display_name=display_path(text),
        format=file_format,
        compression=compression,
        size_bytes=None,
        mtime_ns=None,
        stream=True,
    )


def _walk_directory(
    directory: Path,
    text: str,
    input_format: Format | None,
    recursive: bool,
    inputs: list[InputFile],
    skipped: list[SkippedEntry],
    visited: set[str],
) -> None:
    """The input files of ``directory`` in name order (subdirectories where their name
    sorts), noting every entry skipped. Hidden entries (``.name``) are passed over
    silently: they are tools' state, such as .bulkload/ or .DS_Store."""
    visited.add(os.path.realpath(directory))
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        raise InputError(
            f"input directory {_quoted(text)} cannot be listed ({exc.strerror}); check its permissions"
        ) from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        shown = display_path(entry.path)  # the display name, as before subdirectories were read
        try:
            is_dir = entry.is_dir()
            is_file = entry.is_file()
        except OSError:
            is_dir = is_file = False
        if is_dir:
            if not recursive:
                skipped.append(SkippedEntry(shown + "/", "a directory: pass --recursive"))
            elif os.path.realpath(entry.path) in visited:
                skipped.append(SkippedEntry(shown + "/", "a link back to a directory read"))
            else:
                _walk_directory(
                    Path(entry.path), shown, input_format, recursive, inputs, skipped, visited
                )
            continue
        if not is_file:
            why = "an unreadable link" if entry.is_symlink() else "not a regular file"
            skipped.append(SkippedEntry(shown, why))
            continue
        if _classify(entry.name)[0] is None:
            skipped.append(SkippedEntry(shown, "unknown extension"))
            continue
        try:
            status = entry.stat()
        except OSError:
            skipped.append(SkippedEntry(shown, "an unreadable link"))
            continue
        inputs.append(_file_input(Path(entry.path), shown, status, input_format, explicit=False))


def _classify(name: str) -> tuple[Format | None, Compression | None]:
    """The format and compression a file name announces."""
    lower = name.lower()
    compression: Compression | None = None
    for extension, kind in COMPRESSION_BY_EXTENSION.items():
        if lower.endswith(extension):
            compression = kind
            lower = lower[: -len(extension)]
            break
    for extension, file_format in FORMAT_BY_EXTENSION.items():
        if lower.endswith(extension):
            return file_format, compression
    return None, compression


def _file_input(
    path: Path, text: str, status: os.stat_result, input_format: Format | None, *, explicit: bool
) -> InputFile:
    named_format, compression = _classify(path.name)
    file_format = input_format or named_format
    if input_format is None and named_format == "jsonl" and compression is None:
        file_format = "rejects" if holds_rejects(path) else "jsonl"
    if file_format is None:
        raise InputError(
            f"input {_quoted(text)} has an unknown extension; name it {EXTENSIONS_HELP}, or pass --format"
        )
    if file_format == "parquet":
        if compression is not None:
            raise InputError(
                f"input {_quoted(text)}: parquet files are compressed inside; remove the outer compression"
            )
        if not parquet_available():
            raise InputError(
                f"input {_quoted(text)} is parquet, which needs pyarrow: install bulkload[parquet]"
            )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        what = "input" if explicit else "input file"
        raise InputError(
            f"{what} {_quoted(text)} cannot be read ({exc.strerror}); check its permissions"
        ) from None
    return InputFile(
        path=path,
        # Absolute: rejects and messages name the same file the same way from any directory.
        display_name=display_path(os.path.abspath(text)),
        format=file_format,
        compression=compression,
        size_bytes=status.st_size,
        mtime_ns=status.st_mtime_ns,
    )


# The keys every line of a bulkload rejects file has.
REJECTS_KEYS = frozenset({"source", "line", "reason", "record"})
_SNIFF_BYTES = 1 << 16


def holds_rejects(path: Path) -> bool:
    """Whether the file's first line is a bulkload reject: an object with a source name, a
    line number, a reason and the record. Unreadable files say no (reading reports them)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    first_line = head.lstrip().split(b"\n", 1)[0]
    if not first_line.startswith(b'{"source":'):  # how RejectsFile writes every line
        return False
    try:
        entry = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(entry, dict)
        and entry.keys() >= REJECTS_KEYS
        and isinstance(entry["source"], str)
        and type(entry["line"]) is int
        and isinstance(entry["reason"], str)
    )


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None
