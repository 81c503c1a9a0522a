"""The uncompressed byte stream of one input, block by block (plain, gzip, zstd, bz2 or
standard input), and the fingerprint that binds a checkpoint to it."""

from __future__ import annotations

import bz2
import codecs
import hashlib
import os
import sys
import zlib
from collections.abc import Callable
from typing import IO, Any, Protocol, cast

from bulkload.errors import InputError
from bulkload.pipeline.readers.discovery import InputFile

DEFAULT_BUFFER_BYTES = 1 << 20
FINGERPRINT_SPAN_BYTES = 1 << 20
# Compressed bytes handed to the zstd decompressor at a time: bounds the output of one call.
ZSTD_INPUT_BYTES = 1 << 17

UTF8_BOM = b"\xef\xbb\xbf"


def fingerprint(input_file: InputFile) -> dict[str, Any]:
    """What binds a checkpoint to its input: size, mtime and a hash of the first and last
    MiB of the on-disk bytes (cheap for any size, and catches edits at either end)."""
    if input_file.path is None:
        return {"size": None, "mtime_ns": None, "blake2b": None}
    try:
        with open(input_file.path, "rb") as handle:
            status = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            digest.update(handle.read(FINGERPRINT_SPAN_BYTES))
            if status.st_size > FINGERPRINT_SPAN_BYTES:
                handle.seek(max(FINGERPRINT_SPAN_BYTES, status.st_size - FINGERPRINT_SPAN_BYTES))
                digest.update(handle.read(FINGERPRINT_SPAN_BYTES))
    except OSError as exc:
        raise io_error(input_file.display_name, exc) from None
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "blake2b": digest.hexdigest()}


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _ZstdReader:
    """zstd frames in sequence; unlike ``stream_reader`` it notices a frame cut short."""

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: Any = self._decompressor.decompressobj()
        self._frame_started = False

    def read(self, size: int = -1, /) -> bytes:
        while True:
            compressed = self._raw.read(ZSTD_INPUT_BYTES)
            if not compressed:
                if self._frame_started and not self._frame.eof:
                    raise EOFError("zstd frame ends early")
                return b""
            data = self._decompress(compressed)
            if data:
                return data

    def _decompress(self, compressed: bytes) -> bytes:
        pieces = []
        while compressed:
            self._frame_started = True
            pieces.append(self._frame.decompress(compressed))
            if not self._frame.eof:
                break
            compressed = self._frame.unused_data
            self._frame = self._decompressor.decompressobj()
            self._frame_started = False
        return b"".join(pieces)


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, EOFError, zlib.error]
    try:
        from isal import isal_zlib

        errors.append(cast("type[BaseException]", isal_zlib.error))
    except ImportError:
        pass
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


def io_error(name: str, exc: BaseException) -> InputError:
    if isinstance(exc, EOFError):
        return InputError(
            f"input {name}: compressed stream ends early (file truncated?); "
            "re-create or re-download it"
        )
    if isinstance(exc, OSError) and exc.strerror:
        return InputError(f"input {name} cannot be read ({exc.strerror}); check the file")
    return InputError(f"input {name} cannot be read ({exc}); check the file")


class Source:
    """The uncompressed bytes of one input, block by block; translates every I/O and
    decompression error into InputError naming the input."""

    def __init__(self, input_file: InputFile, buffer_bytes: int) -> None:
        self.name = input_file.display_name
        self.buffer_bytes = max(1, buffer_bytes)
        self._errors = _decompression_errors()
        self._pending = b""
        self._stdin_bytes = 0
        self._raw: IO[bytes] | None = None
        self._read: Callable[[int], bytes]
        self.seekable = False
        if input_file.path is None:
            # read1: a slow producer's records flow on without waiting for a full block.
            self._read = getattr(sys.stdin.buffer, "read1", sys.stdin.buffer.read)
            return
        try:
            raw = open(input_file.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise io_error(self.name, exc) from None
        self._raw = raw
        stream: _Readable
        if input_file.compression is None:
            stream = raw
            self.seekable = True
        elif input_file.compression == "gzip":
            stream = _open_gzip(raw)
        elif input_file.compression == "zstd":
            stream = _ZstdReader(raw)
        else:
            stream = bz2.BZ2File(raw)
        self._read = stream.read

    def transcode_to_utf8(self, encoding: str) -> None:
        """From now on, read() gives the stream decoded from ``encoding`` as UTF-8 bytes.

        Positions then count transcoded bytes (still a pure function of the file), so the
        stream is no longer seekable. Bytes the codec cannot decode come out as they were:
        not valid UTF-8, so the reader rejects the record that holds them.
        """
        decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        read_encoded = self._read
        name = self.name

        def read_transcoded(size: int) -> bytes:
            while True:
                block = read_encoded(size)
                try:
                    text = decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"input {name} is not valid {encoding} ({exc.reason}); check --encoding"
                    ) from None
                if text or not block:
                    return text.encode("utf-8", "surrogateescape")

        self._read = read_transcoded
        self.seekable = False

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def read(self) -> bytes:
        """The next block of uncompressed bytes; b"" at the end."""
        if self._pending:
            block, self._pending = self._pending, b""
            return block
        try:
            block = self._read(self.buffer_bytes)
        except self._errors as exc:
            raise io_error(self.name, exc) from None
        self._stdin_bytes += len(block)
        return block

    def bytes_consumed(self) -> int:
        if self._raw is None:
            return self._stdin_bytes
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def skip_to(self, start: int, *, count_lines: bool) -> int:
        """Position the stream at ``start``; return the line breaks before it if asked
        (else 0). Plain files seek; compressed streams and stdin are read and discarded."""
        if start <= 0:
            return 0
        if self.seekable and not count_lines:
            assert self._raw is not None
            try:
                size = os.fstat(self._raw.fileno()).st_size
                if start > size:
                    raise self._beyond_end(start)
                self._raw.seek(start)
            except OSError as exc:
                raise io_error(self.name, exc) from None
            return 0
        remaining = start
        line_breaks = 0
        while remaining > 0:
            block = self.read()
            if not block:
                raise self._beyond_end(start)
            if len(block) > remaining:
                self._pending = block[remaining:]
                block = block[:remaining]
            if count_lines:
                line_breaks += block.count(b"\n")
            remaining -= len(block)
        return line_breaks

    def skip_bom(self) -> int:
        """At the start of the stream: drop a UTF-8 byte order mark; return its length."""
        head = b""
        while len(head) < len(UTF8_BOM):
            block = self.read()
            if not block:
                break
            head += block
        if head.startswith(UTF8_BOM):
            head = head[len(UTF8_BOM) :]
            skipped = len(UTF8_BOM)
        else:
            skipped = 0
        self._pending = head
        return skipped

    def _beyond_end(self, start: int) -> InputError:
        return InputError(
            f"input {self.name}: resume position {start} is past its end; the file changed "
            "since the checkpoint: restart the load (--restart)"
        )


def _open_gzip(raw: IO[bytes]) -> _Readable:
    try:
        from isal import igzip

        isal_gzip: Any = igzip
        return cast(_Readable, isal_gzip.IGzipFile(fileobj=raw, mode="rb"))
    except ImportError:
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")
