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

from bulkload.errors import InputError

Format = Literal["jsonl", "csv", "json", "parquet"]
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
    size_bytes: int | None  # on-disk (compressed) size; None for standard input
    mtime_ns: int | None


def discover_inputs(paths: Sequence[str], input_format: str | None = None) -> list[InputFile]:
    """Resolve the command line's inputs: files, directories (supported files in name order,
    not recursive) and ``-`` (standard input). A file reached twice is read once."""
    if input_format is not None and input_format not in FORMATS:
        raise InputError(f"--format {input_format!r} is not one of {', '.join(FORMATS)}")
    if not paths:
        raise InputError("no input given: name files, directories, or - for standard input")
    chosen_format: Format | None = input_format  # narrowed by the check above
    inputs: list[InputFile] = []
    seen: set[str] = set()
    for text in paths:
        if text == "-":
            candidates = [_stdin_input(chosen_format)]
        else:
            candidates = _path_inputs(text, chosen_format)
        for candidate in candidates:
            identity = "-" if candidate.path is None else os.path.realpath(candidate.path)
            if identity not in seen:
                seen.add(identity)
                inputs.append(candidate)
    return inputs


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


def _path_inputs(text: str, input_format: Format | None) -> list[InputFile]:
    path = Path(text)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputError(f"input {text!r} does not exist; check the path") from None
    except OSError as exc:
        raise InputError(
            f"input {text!r} cannot be read ({exc.strerror}); check the path"
        ) from None
    if stat.S_ISDIR(status.st_mode):
        return _directory_inputs(path, text, input_format)
    return [_file_input(path, text, status, input_format, explicit=True)]


def _directory_inputs(directory: Path, text: str, input_format: Format | None) -> list[InputFile]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        raise InputError(
            f"input directory {text!r} cannot be listed ({exc.strerror}); check its permissions"
        ) from None
    inputs = []
    for entry in entries:
        if entry.name.startswith(".") or _classify(entry.name)[0] is None:
            continue
        try:
            if not entry.is_file():
                continue
            status = entry.stat()
        except OSError:
            continue
        inputs.append(
            _file_input(Path(entry.path), entry.path, status, input_format, explicit=False)
        )
    if not inputs:
        raise InputError(
            f"input directory {text!r} has no input files; it needs files named {EXTENSIONS_HELP}"
        )
    return inputs


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
    if file_format is None:
        raise InputError(
            f"input {text!r} has an unknown extension; name it {EXTENSIONS_HELP}, or pass --format"
        )
    if file_format == "parquet":
        if compression is not None:
            raise InputError(
                f"input {text!r}: parquet files are compressed inside; remove the outer compression"
            )
        if not parquet_available():
            raise InputError(
                f"input {text!r} is parquet, which needs pyarrow: install bulkload[parquet]"
            )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        what = "input" if explicit else "input file"
        raise InputError(
            f"{what} {text!r} cannot be read ({exc.strerror}); check its permissions"
        ) from None
    return InputFile(
        path=path,
        display_name=text,
        format=file_format,
        compression=compression,
        size_bytes=status.st_size,
        mtime_ns=status.st_mtime_ns,
    )


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None
