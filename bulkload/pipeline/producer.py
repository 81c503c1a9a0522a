"""The producer: read, validate and cut batches. Plain synchronous code, run in a worker
thread so the CPU-bound work never blocks the event loop that keeps the requests moving.
Validation and conversion of each chunk (``chunkcheck``) may run in worker processes
(``--workers``, ``pipeline/workers.py``); the producer takes their verdicts back in the
order it read the chunks, so the batches do not depend on where a chunk was checked.

It shares no state with the event loop. Everything it finds goes out through one call,
``hand_over(Handover)``, after a chunk (or several, when they come fast): the batches sealed
since the last one (each with the rejects of its span), and the reading counters so far. ``hand_over`` blocks while the
senders are behind (backpressure), and raises when the run stops reading (cancellation):
the producer then simply ends, and a batch it had not handed over is cut again, whole, by
the next run.

Resume rests on one invariant: batches are a pure function of (inputs, options). Batch
``seq`` always holds the same records, so the checkpoint names batches by number, a rerun
seeks to the end of the contiguous done prefix, re-cuts the same batches from there and
skips the ones recorded beyond it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Any, cast, overload

import msgspec
import orjson

from bulkload.config import LoadConfig
from bulkload.contract.matching import FieldMapping, NoFieldMatches
from bulkload.contract.schema import TableSchema
from bulkload.contract.v2schema import V2Object
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.errors import BulkloadError, InputError, TooManyBadRecords
from bulkload.pipeline.batcher import Batch, Batcher
from bulkload.pipeline.checkpoint import ResumePlan
from bulkload.pipeline.chunkcheck import ChunkChecker, Outcome, Verdict
from bulkload.pipeline.failpoints import FailPoints
from bulkload.pipeline.messages import ReadingEnd, ReadReject, RecordTag, Work
from bulkload.pipeline.readers import (
    Chunk,
    ChunkKind,
    InputFile,
    fingerprint,
    read_chunks,
    verify_unchanged,
)
from bulkload.pipeline.workers import ChunkPool, Ticket

log = logging.getLogger("bulkload")
# Batches sealed, or seconds since the last hand-over, after which a chunk's are handed over.
HANDOVER_BATCHES = 16
HANDOVER_EVERY_S = 0.02
_SENT_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


class RecordPositions(Sequence[RecordTag]):
    """A batch's record tags, ``(file_index, end, line)`` each, kept as three columns and
    made into a tuple only when asked for (the committer asks for a few per batch)."""

    __slots__ = ("_ends", "_files", "_lines")

    def __init__(self, files: list[int], ends: list[int], lines: list[int]) -> None:
        self._files = files
        self._ends = ends
        self._lines = lines

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> RecordTag: ...
    @overload
    def __getitem__(self, index: slice) -> list[RecordTag]: ...
    def __getitem__(self, index: int | slice) -> RecordTag | list[RecordTag]:
        if isinstance(index, slice):
            return list(zip(self._files[index], self._ends[index], self._lines[index], strict=True))
        return (self._files[index], self._ends[index], self._lines[index])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordPositions):
            return (self._files, self._ends, self._lines) == (
                other._files,
                other._ends,
                other._lines,
            )
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecordPositions({list(self)!r})"


@dataclass(slots=True)
class Handover:
    """What one chunk of reading produced, handed to the event loop in one call."""

    works: list[Work] = field(default_factory=list)
    # Counters as of the end of this chunk, cumulative over the run (the prefix a resumed
    # run skipped by seeking included): the event loop copies them, never adds to them.
    records_read: int = 0
    bytes_read: int = 0
    batches_planned: int = 0
    batches_skipped: int = 0
    records_skipped: int = 0
    files_read: int = 0
    # rejects of no batch: after the last one, or read just before the reject limit stopped us
    loose_rejects: list[ReadReject] = field(default_factory=list)
    # what the options did so far (--coerce, --ignore-unknown-columns), cumulative
    records_coerced: int = 0
    fields_dropped: dict[str, int] = field(default_factory=dict)
    end: ReadingEnd | None = None  # set on the last handover, once every input is read


def too_many_bad_records(limit: int, rejects_path: str) -> TooManyBadRecords:
    return TooManyBadRecords(
        f"more than {limit:,} records rejected (--max-bad-records): see {rejects_path}; "
        "fix the input or raise the limit, then rerun the same command"
    )


@dataclass(slots=True)
class _ChunkRead:
    """A chunk read and handed to the pool, waiting to be taken in its turn."""

    file_index: int
    input_file: InputFile
    chunk: Chunk
    ticket: Ticket
    bytes_before: int  # on-disk bytes of the inputs before this chunk's file


@dataclass(slots=True)
class _FileRead:
    """The end of a file's chunks, taken in its turn after the last of them."""

    file_index: int
    input_file: InputFile
    from_start: bool
    bytes_after: int  # on-disk bytes of the inputs up to the end of this file


class Producer:
    """Reads ``inputs`` from where ``plan`` resumes and hands over batches; see the module."""

    def __init__(
        self,
        table: str,
        inputs: Sequence[InputFile],
        schema: TableSchema | V2Object,
        config: LoadConfig,
        *,
        plan: ResumePlan | None,
        hand_over: Callable[[Handover], None],
        check_stop: Callable[[], None] = lambda: None,
        rejects_path: str = "",
        failpoints: FailPoints | None = None,
        validator: RecordValidator | V2RecordValidator | None = None,
        body_wrapper: tuple[bytes, bytes] = (b"", b""),
        fields: FieldMapping | None = None,
    ) -> None:
        self.table = table
        self.inputs = inputs
        self.schema = schema
        self.config = config
        self.fields = fields
        if self.fields is None and isinstance(schema, TableSchema):
            self.fields = FieldMapping(schema.column_names, table=schema.name)
        # A Peak v2 load brings its own validator and the wrapper around each body's rows.
        if validator is None:
            assert isinstance(schema, TableSchema), "a v2 object comes with its validator"
            validator = RecordValidator(
                schema,
                ignore_unknown_columns=config.ignore_unknown_columns,
                fields=self.fields,
                coerce=config.coerce,
            )
        self.validator = validator
        self._wrapper_bytes = len(body_wrapper[0]) + len(body_wrapper[1])
        # a record longer than this is rejected whole, its fields named (see _take_chunk)
        self._checker = ChunkChecker(
            validator, keep_rows_over=config.max_batch_bytes - 2 - self._wrapper_bytes
        )
        self._plan = plan
        self._hand_over = hand_over
        self._check_stop = check_stop
        self._rejects_path = rejects_path
        self._failpoints = failpoints or FailPoints()
        self._done_beyond = plan.done_beyond if plan is not None else frozenset()
        first_seq = plan.next_seq if plan is not None else 0
        self._first_seq = first_seq
        # The batcher tags each record with its ordinal among the records accepted; the
        # positions of the records not yet in a sealed batch are kept in three columns
        # (no tuple per record: a million records made a million GC-tracked tuples).
        self._next_ordinal = 0
        self._open_files: list[int] = []
        self._open_ends: list[int] = []
        self._open_lines: list[int] = []
        self._batcher: Batcher[int] = Batcher(
            max_records=config.max_batch_records,
            max_bytes=config.max_batch_bytes,
            first_seq=first_seq,
            body_prefix=body_wrapper[0],
            body_suffix=body_wrapper[1],
        )
        # Rejects since the end of the last sealed batch; the last _tail_count of them came
        # after the last record accepted (they go with the batch that record ends up in, or
        # the next one when that record's batch is sealed without it).
        self._span: list[ReadReject] = []
        self._tail_count = 0
        self._rejected_read = 0  # refused while reading this run (for --max-bad-records)
        self._chunk_consumed = 0  # records of the current chunk taken so far, when it matters
        self._csv_headers_checked: set[tuple[str, ...]] = set()
        self._field_encoders: dict[str, Callable[[list[str]], bytes]] = {}
        self._out = Handover()
        self._records_coerced = 0
        self._fields_dropped: Counter[str] = Counter()
        self._file_records_before = 0  # records_read when the file being taken began
        self._handed_over_at = time.monotonic()
        self._at_start: list[dict[str, Any]] = []
        if plan is not None:
            self._out.records_read = self._out.records_skipped = plan.skipped_records

    # ---- the run ------------------------------------------------------------------------

    def produce(self) -> None:
        """Read every input to its end, handing over as it goes; raises InputError for an
        input that cannot be read, TooManyBadRecords past the limit."""
        plan = self._plan
        start = plan.start if plan is not None else None
        first_file = start.file_index if start is not None else 0
        # Each file's size, mtime and end hashes as reading starts: verify_unchanged compares.
        self._at_start = [fingerprint(f) for f in self.inputs]
        bytes_before = sum(f.size_bytes or 0 for f in self.inputs[:first_file])
        self._out.bytes_read = bytes_before
        self._file_records_before = self._out.records_read
        # Chunks read but not yet taken, in input order: up to the pool's window of them
        # are being checked meanwhile (none with --workers 0).
        ahead: deque[_ChunkRead | _FileRead] = deque()
        with ChunkPool(self._checker, self.config.workers, self.inputs[first_file:]) as pool:
            for file_index in range(first_file, len(self.inputs)):
                input_file = self.inputs[file_index]
                resumes_here = start is not None and file_index == start.file_index
                offset, line = (start.offset, start.line) if start and resumes_here else (0, 0)
                chunks = read_chunks(
                    input_file,
                    start=offset,
                    start_line=line,
                    buffer_bytes=self.config.read_buffer_bytes,
                    csv_dialect=self.config.csv_dialect,
                    should_stop=self._stop_requested,
                    csv_blocks=pool.csv_blocks,  # parsed where they are checked
                )
                while True:
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                    except BulkloadError:
                        # what was read before the input failed goes first, as it does
                        # when every chunk is taken as soon as it is read
                        self._take_ahead(ahead, 0)
                        self._send_out()
                        raise
                    self._check_stop()
                    exact = chunk.kind is ChunkKind.CSV_ROWS and self._header_is_exact(
                        chunk.header or ()
                    )
                    ticket = pool.submit(chunk.kind, chunk.header, exact, chunk.items)
                    ahead.append(_ChunkRead(file_index, input_file, chunk, ticket, bytes_before))
                    self._take_ahead(ahead, pool.window)
                bytes_before += input_file.size_bytes or 0
                ahead.append(_FileRead(file_index, input_file, offset == 0, bytes_before))
                self._take_ahead(ahead, pool.window)
            self._take_ahead(ahead, 0)
        last = self._batcher.flush()
        if last is not None:
            self._seal(last)
        trailing = self._span
        self._span, self._tail_count = [], 0
        self._out.loose_rejects.extend(trailing)
        self._out.end = ReadingEnd(
            first_seq=self._first_seq,
            next_seq=self._batcher.next_seq,
            trailing_rejected=len(trailing),
        )
        self._send_out()

    def _take_ahead(self, ahead: deque[_ChunkRead | _FileRead], keep: int) -> None:
        """Take what was read, in order, until at most ``keep`` chunks are left ahead."""
        while len(ahead) > keep or (ahead and isinstance(ahead[0], _FileRead)):
            entry = ahead.popleft()
            if isinstance(entry, _FileRead):
                records = self._out.records_read - self._file_records_before
                self._file_read(entry.file_index, entry.input_file, records, entry.from_start)
                self._file_records_before = self._out.records_read
                self._out.bytes_read = entry.bytes_after
                self._out.files_read += 1
                continue
            self._check_stop()
            input_file = entry.input_file
            try:
                for chunk, verdict in entry.ticket.taken(entry.chunk, self._check_stop):
                    self._take_chunk(entry.file_index, input_file, chunk, verdict)
            except NoFieldMatches as exc:  # it would load as NULLs: stop, naming the file
                raise InputError(f"input {input_file.display_name}: {exc}") from None
            self._out.bytes_read = entry.bytes_before + entry.chunk.bytes_consumed
            self._hand_over_if_due()

    def _stop_requested(self) -> bool:
        """Asked by a read waiting on a stream: check_stop raises once the run stops."""
        self._check_stop()
        return False

    def _file_read(
        self, file_index: int, input_file: InputFile, records: int, from_start: bool
    ) -> None:
        """The one place where the reading of a file ends (every record of it handed over,
        its batches not necessarily sealed yet): checks that concern a whole file go here."""
        # Is what was read still what the file held at start? If not, the run stops here,
        # before the file's last batch is sealed or the load marked finished.
        verify_unchanged(input_file, self._at_start[file_index])
        if records == 0 and from_start:
            # not an error (an empty export is legal), but rarely what was meant
            log.warning("input %s holds no records", input_file.display_name)

    def _hand_over_if_due(self) -> None:
        """Hand over after a chunk once enough batches are sealed, or a little time passed.

        Each hand-over wakes the event loop and then this thread again, and two threads
        taking turns on the GIL cost far more than the call itself; with chunks coming
        fast, several go in one hand-over. A slow input (a stream that trickles) still
        hands over each chunk as it comes.
        """
        now = time.monotonic()
        out = self._out
        if (
            len(out.works) >= HANDOVER_BATCHES
            or now - self._handed_over_at >= HANDOVER_EVERY_S
            or out.loose_rejects
        ):
            self._handed_over_at = now
            self._send_out()

    def _send_out(self) -> None:
        out = self._out
        out.records_coerced = self._records_coerced
        if self._fields_dropped:
            out.fields_dropped = dict(self._fields_dropped)
        self._out = Handover(
            records_read=out.records_read,
            bytes_read=out.bytes_read,
            batches_planned=out.batches_planned,
            batches_skipped=out.batches_skipped,
            records_skipped=out.records_skipped,
            files_read=out.files_read,
        )
        self._hand_over(out)

    # ---- one chunk ------------------------------------------------------------------------

    def _take_chunk(
        self, file_index: int, input_file: InputFile, chunk: Chunk, verdict: Verdict
    ) -> None:
        config = self.config
        max_alone = config.max_batch_bytes - 2 - self._wrapper_bytes
        header = chunk.header or ()
        if chunk.kind is ChunkKind.CSV_ROWS:
            self._check_csv_header(header, input_file)
        source = input_file.display_name
        for taken, problem in enumerate(chunk.problems, start=1):
            self._chunk_consumed = taken
            self._reject(
                ReadReject(
                    source,
                    problem.line,
                    problem.reason,
                    record=problem.raw,
                    csv_header=chunk.header,
                )
            )
        items = chunk.items
        self._records_coerced += verdict.records_coerced
        if verdict.fields_dropped:
            self._fields_dropped.update(verdict.fields_dropped)
        outcomes: Sequence[Outcome] = items if verdict.outcomes is None else verdict.outcomes
        # all of them, when every one goes as it is
        records = cast("Sequence[bytes]", outcomes) if verdict.all_bytes else None
        if records and max(map(len, records)) <= max_alone:
            # The common case: the first record the usual way (it settles the rejects read
            # before it), the rest in bulk, with no rejects among them to account for.
            self._accept(records[0], file_index, chunk.ends[0], chunk.lines[0])
            rest = len(records) - 1
            first = self._next_ordinal
            self._next_ordinal += rest
            self._open_files.extend(repeat(file_index, rest))
            self._open_ends.extend(islice(chunk.ends, 1, None))
            self._open_lines.extend(islice(chunk.lines, 1, None))
            for sealed in self._batcher.add_many(records[1:], range(first, first + rest)):
                self._seal(sealed)
        else:
            for taken, (outcome, item, end, item_line) in enumerate(
                zip(outcomes, items, chunk.ends, chunk.lines, strict=True),
                start=len(chunk.problems) + 1,
            ):
                problems: tuple[str, ...] | None = None
                if isinstance(outcome, RecordInvalid):
                    reason, problems = outcome.reason, outcome.problems
                elif len(outcome) <= max_alone:
                    self._accept(outcome, file_index, end, item_line)
                    continue
                else:
                    reason = (
                        f"record is {len(outcome):,} bytes; one request holds at "
                        f"most {config.max_batch_bytes:,} bytes"
                    )
                if chunk.kind is ChunkKind.CSV_ROWS and len(item) == len(header):
                    row = dict(zip(header, item, strict=True))  # name the fields
                    typed = self._typed_csv_record(header, item)
                    reject = ReadReject(
                        source, item_line, reason, value=typed, csv_row=row, problems=problems
                    )
                elif chunk.kind is ChunkKind.RAW_JSON or isinstance(item, bytes | bytearray):
                    reject = ReadReject(
                        source, item_line, reason, record=bytes(item), problems=problems
                    )
                else:
                    reject = ReadReject(source, item_line, reason, value=item, problems=problems)
                self._chunk_consumed = taken
                self._reject(reject)
        self._out.records_read += len(chunk.items) + len(chunk.problems)

    def _typed_csv_record(self, header: Sequence[str], row: list[str]) -> dict[str, Any]:
        """A rejected CSV row as it would have been sent: each field that converts to its
        column's type as that value, each other as its text (so that a replay of the
        rejects file, once the table or the record is fixed, loads what was meant)."""
        record: dict[str, Any] = {}
        validator = self.validator
        # a rejected row is no coerced record
        coerced = validator.records_coerced if isinstance(validator, RecordValidator) else 0
        for name, text in zip(header, row, strict=True):
            if not text:
                continue  # NULL: not sent
            try:
                encode = self._field_encoders.get(name)
                if encode is None:
                    encode = self._field_encoders[name] = self.validator.csv_encoder([name])
                for column, value in _SENT_FIELDS.decode(encode([text])).items():
                    # as encoded: a numeric keeps every digit (no float on the way)
                    record[column] = orjson.Fragment(bytes(value))
            except (RecordInvalid, InputError):
                record[name] = text
        if isinstance(validator, RecordValidator):
            validator.records_coerced = coerced
        return record

    def _reject(self, reject: ReadReject) -> None:
        self._span.append(reject)
        self._tail_count += 1
        if self._batcher.next_seq in self._done_beyond:
            return  # most likely in the span of a batch done by an earlier run
        self._rejected_read += 1
        limit = self.config.max_bad_records
        if limit is not None and self._rejected_read > limit:
            # Stop at exactly limit + 1: hand over what was sealed and the rejects read
            # since, so the rejects file lists them all, then end the reading.
            self._out.loose_rejects.extend(self._span)
            self._span, self._tail_count = [], 0
            self._out.records_read += self._chunk_consumed
            self._send_out()
            raise too_many_bad_records(limit, self._rejects_path)

    def _accept(self, record: bytes, file_index: int, end: int, line: int) -> None:
        ordinal = self._next_ordinal
        self._next_ordinal += 1
        self._open_files.append(file_index)
        self._open_ends.append(end)
        self._open_lines.append(line)
        sealed = self._batcher.add(record, ordinal)
        if sealed is not None:
            if sealed.tags[-1] == ordinal:
                # sealed with this record in it: the rejects read before the record belong
                # to the sealed batch's span too
                self._tail_count = 0
            self._seal(sealed)
        self._tail_count = 0

    def _seal(self, sealed: Batch[int]) -> None:
        # Batches are sealed in order, so this one's records are the oldest open ones.
        size = sealed.size
        files, ends, lines = self._open_files, self._open_ends, self._open_lines
        positions = RecordPositions(files[:size], ends[:size], lines[:size])
        del files[:size], ends[:size], lines[:size]
        batch = Batch(seq=sealed.seq, records=sealed.records, tags=positions, body=sealed.body)
        keep = len(self._span) - self._tail_count
        in_span, self._span = self._span[:keep], self._span[keep:]
        out = self._out
        if batch.seq in self._done_beyond:
            out.batches_skipped += 1
            out.records_skipped += batch.size + len(in_span)
            return
        self._failpoints.hit("producer")
        out.batches_planned += 1
        out.works.append(Work(batch, in_span))

    def _header_is_exact(self, header: Sequence[str]) -> bool:
        """Every header name is its column's own (no --map, no case folding, nothing unknown):
        only then may the chunk encoder, which knows nothing of the mapping, take the rows;
        otherwise the row encoder (the mapping-aware definition) does."""
        if self.fields is None:
            return True
        plan = self.fields.plan(header)
        return plan.renames_nothing and not plan.unknown

    def _check_csv_header(self, header: Sequence[str], input_file: InputFile) -> None:
        """Raise for a CSV header that does not fit the table, once per header."""
        names = tuple(header)
        if names in self._csv_headers_checked:
            return
        problems = self.validator.csv_header_problems(list(names))
        if problems:
            # The hint only helps with unknown columns (not with a column named twice),
            # and only when some do match: it must never lead to a load of NULLs.
            if self.fields is not None:
                plan = self.fields.plan(names)
                some_unknown, some_match = bool(plan.unknown), plan.matched > 0
            else:
                known = set(getattr(self.schema, "column_names", ()))
                some_unknown = any(name not in known for name in names)
                some_match = any(name in known for name in names)
            hint = (
                " (use --ignore-unknown-columns to drop unknown columns)"
                if not self.config.ignore_unknown_columns and some_unknown and some_match
                else ""
            )
            raise InputError(
                f"CSV header of {input_file.display_name} does not fit table {self.table}: "
                + "; ".join(problems)
                + hint
            )
        self._csv_headers_checked.add(names)


__all__ = ["Handover", "Producer", "too_many_bad_records"]
