"""How deep a record may nest: one explicit limit, the same on every path.

JSON parsers stop at a nesting depth that depends on how deep the Python stack already is
(msgspec and the stdlib count against the recursion limit; orjson writes at most 254
levels), so without a limit of its own a record ~985 levels deep was accepted alone and
refused in a bulk chunk. bulkload decides first, on the text, before any parser recurses:
a column's value may nest arrays and objects at most ``MAX_JSON_DEPTH`` levels (``[]`` is
1 level, ``[[1]]`` 2, a scalar 0), so a record is at most ``MAX_JSON_DEPTH + 1`` deep. The
limit sits far below where those parsers give up from a shallow stack; called from a deep
one, a parse that runs out of stack is redone on a fresh one (``on_a_fresh_stack``), so the
verdict never depends on the caller.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any, TypeVar

_T = TypeVar("_T")

MAX_JSON_DEPTH = 500
# A record shorter than this cannot nest deeper than allowed: each level takes two bytes.
SURELY_SHALLOW_RECORD_BYTES = 2 * (MAX_JSON_DEPTH + 2)

_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"')
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def text_depth(text: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON text, strings skipped; 0 for a scalar.

    Exact for valid JSON; for broken text (an unterminated string) it is some number, and
    the text is refused either way.
    """
    brackets = _STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def value_depth(value: Any) -> int:
    """``text_depth`` of a parsed value (lists, tuples and mappings nest), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:  # too deep already: the rest cannot change the verdict
            return depth
        pending.extend((child, depth) for child in children)
    return deepest


def record_too_deep(text: bytes) -> bool:
    """Does a record's JSON text nest a value deeper than MAX_JSON_DEPTH?"""
    return len(text) >= SURELY_SHALLOW_RECORD_BYTES and text_depth(text) > MAX_JSON_DEPTH + 1


# Without the depth itself, so every path (text, parsed values, CSV cells) words it alike.
TOO_DEEP = (
    f"nested more than {MAX_JSON_DEPTH} levels deep: a value may nest arrays and objects "
    f"at most {MAX_JSON_DEPTH} levels (bulkload's MAX_JSON_DEPTH)"
)


def on_a_fresh_stack(call: Callable[[], _T]) -> _T:
    """``call()``; if it runs out of stack (RecursionError), ``call()`` again in a new thread,
    whose stack is empty: a record within MAX_JSON_DEPTH parses there whatever the depth of
    the caller's stack. Rare (a caller hundreds of frames deep), so a thread is cheap enough.
    """
    try:
        return call()
    except RecursionError:
        pass
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller's thread, raised there
            failure.append(exc)

    thread = threading.Thread(target=run, name="bulkload-fresh-stack")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
