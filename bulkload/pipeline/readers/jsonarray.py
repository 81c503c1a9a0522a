"""JSON arrays: the elements of one top-level array, found by a streaming scanner that
tracks only strings and nesting; each element's bytes go to the validator as one record."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from enum import Enum
from typing import NamedTuple

from bulkload.errors import InputError
from bulkload.pipeline.readers.chunks import (
    Chunk,
    ChunkKind,
    Pending,
    ReaderProblem,
    problem_prefix,
    problem_prefix_bytes,
)
from bulkload.pipeline.readers.source import Source


def _nested(inner: bytes) -> bytes:
    return rb"(?:\{(?:" + inner + rb")*+\}|\[(?:" + inner + rb")*+\])"


# The fast path: one C-level match over a whole element nested up to 4 deep (strings as
# units, possessive so nothing backtracks). An element it cannot finish, deeper or cut by
# the block's end, is scanned token by token instead.
_FLAT = rb'"(?:[^"\\]++|\\.)*+"|[^"\[\]{},]++'


class _ArrayPatterns(NamedTuple):
    json_token: re.Pattern[bytes]
    string_special: re.Pattern[bytes]
    element: re.Pattern[bytes]
    not_whitespace: re.Pattern[bytes]


@functools.cache
def _array_patterns() -> _ArrayPatterns:
    """Compiled on first use: ~10 ms that a load of anything but a JSON array never needs."""
    element = (
        rb"(?:"
        + _FLAT
        + rb"|"
        + _nested(
            _FLAT
            + rb"|,|"
            + _nested(_FLAT + rb"|,|" + _nested(_FLAT + rb"|,|" + _nested(_FLAT + rb"|,")))
        )
        + rb")*+"
    )
    return _ArrayPatterns(
        json_token=re.compile(rb'"(?:[^"\\]++|\\.)*+"|["\[\]{},]', re.DOTALL),
        string_special=re.compile(rb'["\\]'),
        element=re.compile(element, re.DOTALL),
        not_whitespace=re.compile(rb"[^ \t\r\n]"),
    )


_WHITESPACE = b" \t\r\n"
_QUOTE, _COMMA = ord('"'), ord(",")
_OPEN_BRACKET, _CLOSE_BRACKET = ord("["), ord("]")
_OPENERS = frozenset(b"[{")
_DELIMITERS = frozenset(b",]")


class _ArrayState(Enum):
    BEFORE_ARRAY = 1
    FIRST_ELEMENT = 2  # after '[': an element or ']'
    NEXT_ELEMENT = 3  # after ',': an element
    IN_ELEMENT = 4
    AFTER_ELEMENT = 5  # only when resuming: ',' or ']'
    AFTER_ARRAY = 6


class _JsonArrayScanner:
    """Finds the elements of a top-level JSON array in a stream fed block by block.

    It tracks only what delimits elements (strings with their escapes, nesting depth) and
    jumps over string bodies with regular expressions; the elements themselves are decoded
    later, by the validator, so a malformed element becomes one rejected record.
    """

    def __init__(
        self, name: str, offset: int, line_breaks: int, limit: int, out: Pending, *, resumed: bool
    ) -> None:
        self.name = name
        self.limit = limit
        self.out = out
        self.state = _ArrayState.AFTER_ELEMENT if resumed else _ArrayState.BEFORE_ARRAY
        self.buffer = b""
        self.buffer_offset = offset  # stream position of buffer[0]
        self.pos = 0  # scan position in buffer
        self.counted_to = offset  # stream position up to which line breaks are counted
        self.line_breaks = line_breaks
        self.depth = 0
        self.in_string = False
        self.element_start = 0  # in buffer
        self.element_line = 0
        self.oversize_prefix: bytes | None = None

    def line_breaks_before(self, position: int) -> int:
        """Line breaks before stream ``position`` (never before a position already asked)."""
        base = self.buffer_offset
        self.line_breaks += self.buffer.count(b"\n", self.counted_to - base, position - base)
        self.counted_to = position
        return self.line_breaks

    def feed(self, block: bytes) -> None:
        keep_from = self.element_start if self.state is _ArrayState.IN_ELEMENT else self.pos
        if keep_from:
            self.line_breaks_before(self.buffer_offset + keep_from)
            self.buffer = self.buffer[keep_from:]
            self.buffer_offset += keep_from
            self.pos -= keep_from
            self.element_start -= keep_from
        self.buffer = self.buffer + block if self.buffer else block
        self._scan()
        if (
            self.state is _ArrayState.IN_ELEMENT
            and self.oversize_prefix is None
            and len(self.buffer) - self.element_start > self.limit
        ):
            # Keep scanning the element's structure, but stop holding its bytes.
            self.oversize_prefix = self.buffer[
                self.element_start : self.element_start + problem_prefix_bytes(self.limit)
            ]
        if self.oversize_prefix is not None and self.state is _ArrayState.IN_ELEMENT:
            self.element_start = self.pos

    def finish(self) -> None:
        if self.state in (_ArrayState.BEFORE_ARRAY, _ArrayState.AFTER_ARRAY):
            return
        line = self.line_breaks_before(self.buffer_offset + len(self.buffer)) + 1
        raise InputError(
            f"input {self.name}: the JSON array ends early at line {line} (no closing ']'; "
            "file truncated?); fix or re-create the file"
        )

    def _scan(self) -> None:
        patterns = _array_patterns()
        buffer = self.buffer
        size = len(buffer)
        pos = self.pos
        state = self.state
        depth = self.depth
        while pos < size:
            if state is _ArrayState.IN_ELEMENT:
                if self.in_string:
                    special = patterns.string_special.search(buffer, pos)
                    if special is None:
                        pos = size
                        break
                    at = special.start()
                    if buffer[at] == _QUOTE:
                        self.in_string = False
                        pos = at + 1
                    elif at + 1 < size:
                        pos = at + 2
                    else:
                        pos = at  # the escaped byte is in the next block
                        break
                    continue
                token = patterns.json_token.search(buffer, pos)
                if token is None:
                    pos = size
                    break
                at = token.start()
                pos = token.end()
                char = buffer[at]
                if char == _QUOTE:
                    if pos - at == 1:
                        self.in_string = True  # the string goes on past this block
                elif char in _OPENERS:
                    depth += 1
                elif depth:
                    if char != _COMMA:
                        depth -= 1
                elif char in _DELIMITERS:
                    self._end_element(at)
                    state = _ArrayState.NEXT_ELEMENT if char == _COMMA else _ArrayState.AFTER_ARRAY
                # a stray '}' at depth 0 stays inside the element; the validator rejects it
                continue
            found = patterns.not_whitespace.search(buffer, pos)
            if found is None:
                pos = size
                break
            at = found.start()
            char = buffer[at]
            if state is _ArrayState.FIRST_ELEMENT or state is _ArrayState.NEXT_ELEMENT:
                if char == _CLOSE_BRACKET:
                    # ']' right after ',' (a trailing comma) is tolerated
                    state = _ArrayState.AFTER_ARRAY
                    pos = at + 1
                elif char == _COMMA:
                    self._empty_element(at)
                    state = _ArrayState.NEXT_ELEMENT
                    pos = at + 1
                else:
                    self.element_start = at
                    self.element_line = self.line_breaks_before(self.buffer_offset + at) + 1
                    self.oversize_prefix = None
                    end = patterns.element.match(buffer, at).end()  # type: ignore[union-attr]
                    if end < size and buffer[end] in _DELIMITERS:
                        self._end_element(end)
                        if buffer[end] == _COMMA:
                            state = _ArrayState.NEXT_ELEMENT
                        else:
                            state = _ArrayState.AFTER_ARRAY
                        pos = end + 1
                    else:
                        state = _ArrayState.IN_ELEMENT
                        depth = 0
                        self.in_string = False
                        pos = at
            elif state is _ArrayState.BEFORE_ARRAY:
                if char != _OPEN_BRACKET:
                    line = self.line_breaks_before(self.buffer_offset + at) + 1
                    raise InputError(
                        f"input {self.name}: expected a JSON array ('[') at line {line}, found "
                        f"{chr(char)!r}; use --format jsonl for JSON Lines"
                    )
                state = _ArrayState.FIRST_ELEMENT
                pos = at + 1
            elif state is _ArrayState.AFTER_ELEMENT:
                if char == _COMMA:
                    state = _ArrayState.NEXT_ELEMENT
                elif char == _CLOSE_BRACKET:
                    state = _ArrayState.AFTER_ARRAY
                else:
                    line = self.line_breaks_before(self.buffer_offset + at) + 1
                    raise InputError(
                        f"input {self.name}: expected ',' or ']' at line {line} where the "
                        "checkpoint left off; the file changed: restart the load (--restart)"
                    )
                pos = at + 1
            else:  # AFTER_ARRAY
                line = self.line_breaks_before(self.buffer_offset + at) + 1
                raise InputError(
                    f"input {self.name}: unexpected data after the JSON array at line {line}; "
                    "a .json file must hold exactly one array"
                )
        self.pos = pos
        self.state = state
        self.depth = depth

    def _end_element(self, delimiter: int) -> None:
        raw = self.buffer[self.element_start : delimiter].rstrip(_WHITESPACE)
        end = self.buffer_offset + self.element_start + len(raw)
        if self.oversize_prefix is None and len(raw) > self.limit:
            self.oversize_prefix = problem_prefix(raw, self.limit)
        if self.oversize_prefix is not None:
            reason = f"array element longer than {self.limit:,} bytes (no record can be that large)"
            self.out.problems.append(
                ReaderProblem(self.element_line, end, reason, self.oversize_prefix)
            )
            self.oversize_prefix = None
            return
        self.out.items.append(raw)
        self.out.lines.append(self.element_line)
        self.out.ends.append(end)

    def _empty_element(self, comma: int) -> None:
        end = self.buffer_offset + comma
        line_breaks = self.line_breaks_before(end)
        self.out.problems.append(
            ReaderProblem(line_breaks + 1, end, "empty array element (two commas in a row)", b"")
        )


def read_json_array(source: Source, start: int, chunk_records: int, limit: int) -> Iterator[Chunk]:
    # Elements may span lines: count the line breaks before ``start`` rather than trust a hint.
    line_breaks = source.skip_to(start, count_lines=True)
    pending = Pending(ChunkKind.RAW_JSON, chunk_records)
    offset = start if start > 0 else source.skip_bom()
    scanner = _JsonArrayScanner(source.name, offset, line_breaks, limit, pending, resumed=start > 0)
    while True:
        try:
            block = source.read()
            if not block:
                scanner.finish()
                break
            scanner.feed(block)
        except InputError:
            yield from pending.rest(source.bytes_consumed())
            raise
        if len(pending.items) >= chunk_records:
            yield from pending.full_chunks(source.bytes_consumed())
    yield from pending.rest(source.bytes_consumed())
