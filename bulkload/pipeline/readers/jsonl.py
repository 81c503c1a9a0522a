"""JSON Lines: one record per line, split a block at a time (bulk fast path for blocks of
plain lines), with over-long lines skipped without being held."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate, repeat
from operator import add, itemgetter

from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import (
    Chunk,
    ChunkKind,
    Pending,
    ReaderProblem,
    problem_prefix,
    too_long,
)
from bulkload.pipeline.readers.source import Source

_FIRST_BYTE = itemgetter(0)


def _may_hold_blank_lines(lines: list[bytes]) -> bool:
    """Whether some line may be empty or whitespace only (skipped, not a record). Lines
    that merely start with a blank also say yes: the careful path sorts them out."""
    try:
        firsts = bytes(map(_FIRST_BYTE, lines))
    except IndexError:  # an empty line
        return True
    return b" " in firsts or b"\t" in firsts or b"\x0b" in firsts or b"\x0c" in firsts


def read_jsonl(
    source: Source, start: int, start_line: int | None, chunk_records: int, limit: int
) -> Iterator[Chunk]:
    # A JSONL record is one line, so the line count at its end is its own line number.
    line_breaks = source.skip_to(start, count_lines=start_line is None)
    line_no = line_breaks if start_line is None else start_line
    pending = Pending(ChunkKind.RAW_JSON, chunk_records)
    items, lines, ends = pending.items, pending.lines, pending.ends
    offset = start  # stream position of the first byte of the carried partial line
    carried: list[bytes] = []  # a partial line, in pieces: a long line grows without copies
    carried_size = 0
    skipping_line: int | None = None  # line number of an over-long line being skipped
    skipped_prefix = b""
    if start == 0:
        offset += source.skip_bom()
    while True:
        try:
            block = source.read()
        except InputError:
            yield from pending.rest(source.bytes_consumed())
            raise
        if not block:
            break
        if skipping_line is not None:
            newline = block.find(b"\n")
            if newline < 0:
                offset += len(block)
                continue
            line_no += 1
            offset += newline + 1
            pending.problems.append(
                ReaderProblem(skipping_line, offset, too_long(limit), skipped_prefix)
            )
            skipping_line = None
            block = block[newline + 1 :]
        if b"\n" not in block:
            carried.append(block)
            carried_size += len(block)
            if carried_size > limit:
                skipping_line = line_no + 1
                skipped_prefix = problem_prefix(b"".join(carried), limit)
                offset += carried_size
                carried, carried_size = [], 0
            continue
        parts = block.split(b"\n")
        check_length = carried_size + len(block) > limit
        if carried:
            # The partial line carried over is the start of the block's first line: join
            # just that line, not carry + block (a 1 MiB copy per block).
            carried.append(parts[0])
            parts[0] = b"".join(carried)
        carry = parts.pop()
        strip_cr = b"\r" in block or b"\r" in parts[0]
        if parts and not (strip_cr or check_length or _may_hold_blank_lines(parts)):
            # Every line is a record: positions and line numbers by running sums, not one
            # Python step per line.
            items.extend(parts)
            lines.extend(range(line_no + 1, line_no + 1 + len(parts)))
            line_no += len(parts)
            ends.extend(accumulate(map(add, map(len, parts), repeat(1)), initial=offset))
            del ends[len(ends) - len(parts) - 1]  # the initial offset, before the first line
            offset = ends[-1]
            parts = []
        for line in parts:
            line_no += 1
            offset += len(line) + 1
            if strip_cr and line.endswith(b"\r"):
                line = line[:-1]
            if not line or line.isspace():
                continue
            if check_length and len(line) > limit:
                pending.problems.append(
                    ReaderProblem(line_no, offset, too_long(limit), problem_prefix(line, limit))
                )
                continue
            items.append(line)
            lines.append(line_no)
            ends.append(offset)
        if len(carry) > limit:
            skipping_line = line_no + 1
            skipped_prefix = problem_prefix(carry, limit)
            offset += len(carry)
            carried, carried_size = [], 0
        else:
            carried, carried_size = ([carry], len(carry)) if carry else ([], 0)
        if len(items) >= chunk_records:
            yield from pending.full_chunks(source.bytes_consumed())
            items, lines, ends = pending.items, pending.lines, pending.ends
    if skipping_line is not None:
        pending.problems.append(
            ReaderProblem(skipping_line, offset, too_long(limit), skipped_prefix)
        )
    elif carried:
        carry = b"".join(carried)
        line_no += 1
        offset += len(carry)
        line = carry[:-1] if carry.endswith(b"\r") else carry
        if line and not line.isspace():
            items.append(line)
            lines.append(line_no)
            ends.append(offset)
    yield from pending.rest(source.bytes_consumed())
