"""The uncompressed byte stream of one input, block by block (plain, gzip, zstd, bz2,
standard input, a FIFO or a character device), and the fingerprint that binds a checkpoint
to it.

A regular file is read only up to the size it had when the load started: what is appended
meanwhile is not loaded (a warning says so), and if the file grew, a last line that was
still unfinished at that size is not a record. ``verify_unchanged`` checks, once a file is
read, that the part loaded is still what it was (size, mtime, a hash of both ends). Streams
(stdin, FIFOs, character devices) are read once, front to back; a caller's ``should_stop``
is asked while waiting for their data, so a stop never hangs on a silent writer.
"""

from __future__ import annotations

import bz2
import codecs
import hashlib
import logging
import os
import select
import sys
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any, Protocol, cast

from bulkload.errors import InputError
from bulkload.pipeline.readers.discovery import InputFile

log = logging.getLogger("bulkload")

DEFAULT_BUFFER_BYTES = 1 << 20
FINGERPRINT_SPAN_BYTES = 1 << 20
# The end of a file that grew is held until it is known whether its last line was finished
# at the size taken at start. A line longer than this can never be sent (a request body
# holds at most 1,000,000 bytes): it is handed on whole, to be rejected as too large.
TAIL_WINDOW_BYTES = 1 << 20
# How often a wait for a stream's data looks at should_stop.
STREAM_POLL_MS = 200
# Compressed bytes handed to the zstd decompressor at a time: bounds the output of one call.
ZSTD_INPUT_BYTES = 1 << 17

UTF8_BOM = b"\xef\xbb\xbf"


class ReadingStopped(Exception):
    """Raised by a read waiting on a stream once the caller's ``should_stop`` says so."""


def fingerprint(input_file: InputFile) -> dict[str, Any]:
    """What binds a checkpoint to its input: the size and mtime taken at discovery (the
    part of the file a load reads) and a hash of the first and last MiB of that part (cheap
    for any size, and catches edits at either end). A stream has none."""
    if not input_file.resumable or input_file.size_bytes is None:
        return {"size": None, "mtime_ns": None, "blake2b": None}
    assert input_file.path is not None
    size = input_file.size_bytes
    try:
        with open(input_file.path, "rb") as handle:
            digest = _ends_digest(handle, size)
    except OSError as exc:
        raise io_error(input_file.display_name, exc) from None
    return {"size": size, "mtime_ns": input_file.mtime_ns, "blake2b": digest}


def _ends_digest(handle: IO[bytes], size: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(handle.read(min(size, FINGERPRINT_SPAN_BYTES)))
    if size > FINGERPRINT_SPAN_BYTES:
        start = max(FINGERPRINT_SPAN_BYTES, size - FINGERPRINT_SPAN_BYTES)
        handle.seek(start)
        digest.update(handle.read(size - start))
    return digest.hexdigest()


def verify_unchanged(input_file: InputFile, at_start: Mapping[str, Any]) -> None:
    """Check that the part of ``input_file`` a load read is what it was at the start
    (``at_start``: its ``fingerprint()`` then); InputError naming the file if not.

    Growth is allowed (appends are not loaded); a shorter file, a different hash of either
    end of the part read, or, at the same size, another mtime means it was rewritten while
    it was loaded, and what was read from it cannot be trusted.
    """
    size = at_start.get("size")
    if not input_file.resumable or not isinstance(size, int):
        return
    assert input_file.path is not None
    name = input_file.display_name
    try:
        with open(input_file.path, "rb") as handle:
            status = os.fstat(handle.fileno())
            if status.st_size < size:
                raise _changed(name, f"it shrank from {size:,} to {status.st_size:,} bytes")
            if status.st_size == size and status.st_mtime_ns != at_start.get("mtime_ns"):
                raise _changed(name, "it was modified (same size, new modification time)")
            if _ends_digest(handle, size) != at_start.get("blake2b"):
                raise _changed(name, "its content differs")
    except FileNotFoundError:
        raise _changed(name, "it was removed") from None
    except OSError as exc:
        raise io_error(name, exc) from None


def _changed(name: str, how: str) -> InputError:
    return InputError(
        f"input {name} changed while it was loaded ({how}): what was read from it cannot be "
        "trusted, so it is not marked done; make the file stable (write it elsewhere, then "
        "rename it into place) before loading it"
    )


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


def _decompression_errors(compression: str | None) -> tuple[type[BaseException], ...]:
    """What reading an input of this compression can raise. Only the decompressor the input
    needs is imported: importing zstandard and isal costs ~7 ms of CPU at every run's start-up."""
    errors: list[type[BaseException]] = [OSError, EOFError, zlib.error]
    if compression == "gzip":
        try:
            from isal import isal_zlib

            errors.append(cast("type[BaseException]", isal_zlib.error))
        except ImportError:
            pass
    if compression == "zstd":
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


class _CappedFile:
    """A regular file up to ``cap``, the size it had when the load started.

    With ``whole_lines``, the last window before ``cap`` is read whole and settled before
    any of it is handed on: if the file has grown and the byte at ``cap`` is not a line
    break, the line cut at ``cap`` was still being written and is held back.
    """

    def __init__(self, raw: IO[bytes], cap: int, *, whole_lines: bool) -> None:
        self._raw = raw
        self.cap = cap
        self.whole_lines = whole_lines
        self._tail: memoryview | None = None  # the settled last window, handed out in pieces
        self.size_at_end: int | None = None  # the file's size when reading reached ``cap``
        self.withheld_bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        if self._tail is not None:
            piece = self._tail[: size if size >= 0 else len(self._tail)]
            self._tail = self._tail[len(piece) :]
            return bytes(piece)
        left = self.cap - self._raw.tell()
        if left <= 0:
            self._settle(b"")
            return b""
        if self.whole_lines and left <= TAIL_WINDOW_BYTES:
            from_start = left == self.cap
            self._tail = memoryview(self._settle(_read_exactly(self._raw, left), from_start))
            return self.read(size)
        if self.whole_lines:
            left -= TAIL_WINDOW_BYTES
        return self._raw.read(min(size, left) if size >= 0 else left)

    def readinto(self, buffer: Any, /) -> int:
        """For decompressors that read into their own buffer."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _settle(self, window: bytes, from_start: bool = False) -> bytes:
        """``window``: the file's last bytes up to ``cap``; ``from_start``: it is the whole
        file. What of it to hand on."""
        if self.size_at_end is not None:
            return window
        self.size_at_end = os.fstat(self._raw.fileno()).st_size
        if not window or window.endswith(b"\n") or self.size_at_end <= self.cap:
            return window
        if os.pread(self._raw.fileno(), 1, self.cap) in (b"\n", b"\r"):
            return window  # the line was whole: only its line break came later
        last_break = window.rfind(b"\n")
        if last_break < 0 and not from_start:
            # Longer than the window, so longer than any request: handed on whole, it is
            # rejected as too large (a part of it might pass for a record).
            return window
        self.withheld_bytes = len(window) - last_break - 1
        return window[: last_break + 1]


def _read_exactly(raw: IO[bytes], count: int) -> bytes:
    pieces = []
    while count > 0:
        piece = raw.read(count)
        if not piece:
            break
        pieces.append(piece)
        count -= len(piece)
    return b"".join(pieces)


class _StreamReader:
    """A pipe, FIFO, terminal or device, read as its data comes. A FIFO is opened without
    waiting for a writer; every wait polls, so ``should_stop`` is heard within
    STREAM_POLL_MS even when no writer ever comes."""

    def __init__(self, fd: int, should_stop: Callable[[], bool] | None, *, owned: bool) -> None:
        self._fd = fd
        self._owned = owned
        self._should_stop = should_stop
        # No poll() (Windows): plain blocking reads, as before.
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(fd, select.POLLIN | select.POLLPRI)

    @classmethod
    def open_fifo(cls, path: Any, should_stop: Callable[[], bool] | None) -> _StreamReader:
        # O_NONBLOCK: open() returns at once instead of waiting for a writer; poll() then
        # waits (on Linux it reports no hang-up before a first writer has come).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return cls(fd, should_stop, owned=True)

    def read(self, size: int = -1, /) -> bytes:
        size = size if size > 0 else DEFAULT_BUFFER_BYTES
        timeout = STREAM_POLL_MS if self._should_stop is not None else None
        while True:
            if self._should_stop is not None and self._should_stop():
                raise ReadingStopped
            if self._poller is not None and not self._poller.poll(timeout):
                continue
            try:
                return os.read(self._fd, size)
            except BlockingIOError:
                continue

    def readinto(self, buffer: Any, /) -> int:
        """For decompressors that read into their own buffer."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)
            self._owned = False


class Source:
    """The uncompressed bytes of one input, block by block; translates every I/O and
    decompression error into InputError naming the input."""

    def __init__(
        self,
        input_file: InputFile,
        buffer_bytes: int,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.name = input_file.display_name
        self.buffer_bytes = max(1, buffer_bytes)
        self._errors = _decompression_errors(input_file.compression)
        self._pending = b""
        self._stdin_bytes = 0
        self._raw: IO[bytes] | None = None
        self._stream: _StreamReader | None = None
        self._capped: _CappedFile | None = None
        self._read: Callable[[int], bytes]
        self.seekable = False
        self._warned = False
        raw: Any
        if input_file.path is None:
            stdin = sys.stdin.buffer
            try:
                fd = stdin.fileno()
            except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream
                # read1: a slow producer's records flow on without waiting for a full block.
                self._read = getattr(stdin, "read1", stdin.read)
                return
            raw = self._stream = _StreamReader(fd, should_stop, owned=False)
        elif input_file.stream:
            try:
                raw = self._stream = _StreamReader.open_fifo(input_file.path, should_stop)
            except OSError as exc:
                raise io_error(self.name, exc) from None
        else:
            try:
                self._raw = open(input_file.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise io_error(self.name, exc) from None
            if input_file.size_bytes is None:
                raw = self._raw
            else:
                raw = self._capped = _CappedFile(
                    self._raw,
                    input_file.size_bytes,
                    whole_lines=input_file.compression is None,
                )
        stream: _Readable
        if input_file.compression is None:
            stream = raw
            self.seekable = self._raw is not None
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
        if self._capped is not None and "\n".encode(encoding) != b"\n":
            # UTF-16 and the like: a line break is not the byte b"\n", so the end of a
            # grown file cannot be settled on raw bytes; it is read to its size as it is.
            self._capped.whole_lines = False

    @property
    def grew(self) -> bool:
        """Whether the file was found longer than at start once reading reached that size."""
        capped = self._capped
        return capped is not None and (capped.size_at_end or 0) > capped.cap

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._stream is not None:
            self._stream.close()

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
        if not block and self.grew and not self._warned:
            self._warn_grown()
        return block

    def _warn_grown(self) -> None:
        capped = self._capped
        assert capped is not None and capped.size_at_end is not None
        self._warned = True
        unfinished = (
            f"; its last line, unfinished at that size ({capped.withheld_bytes:,} bytes), is "
            "not a record and was not loaded"
            if capped.withheld_bytes
            else ""
        )
        log.warning(
            "input %s grew while it was loaded (%s -> %s bytes): only the %s bytes it held "
            "when the load started are loaded%s; what was appended is not: load it separately",
            self.name,
            f"{capped.cap:,}",
            f"{capped.size_at_end:,}",
            f"{capped.cap:,}",
            unfinished,
        )

    def bytes_consumed(self) -> int:
        if self._raw is None:
            return self._stdin_bytes
        if self._capped is not None and self._capped.size_at_end is not None:
            return self._capped.cap
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
                if self._capped is not None:
                    size = min(size, self._capped.cap)
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
