"""A misspelt table name: the closest existing tables, asked of the API once it said 404."""

from __future__ import annotations

import difflib
from typing import Any

from bulkload.client.http import MAX_LIST_PAGE_SIZE
from bulkload.errors import BulkloadError, NotFound

MAX_TABLES_LOOKED_AT = 2_000  # a tenant with more gets no suggestion rather than a slow error
MAX_SUGGESTIONS = 3


async def closest_tables(client: Any, name: str) -> list[str]:
    """Names of existing tables most like ``name`` (case ignored); empty when none is close
    or the client cannot list tables (a test double, an API error)."""
    if not hasattr(client, "list_tables"):
        return []
    names: list[str] = []
    try:
        async for table in client.list_tables(page_size=MAX_LIST_PAGE_SIZE):
            names.append(table.name)
            if len(names) >= MAX_TABLES_LOOKED_AT:
                break
    except BulkloadError:
        return []  # the suggestion is a courtesy: the 404 itself is what the user must see
    by_folded = {candidate.lower(): candidate for candidate in names}
    close = difflib.get_close_matches(name.lower(), list(by_folded), n=MAX_SUGGESTIONS, cutoff=0.6)
    return [by_folded[found] for found in close]


async def not_found_with_suggestions(client: Any, name: str, error: NotFound) -> NotFound:
    """``error`` with "did you mean ...?" when existing tables are close to ``name``."""
    close = await closest_tables(client, name)
    if not close:
        return error
    shown = " or ".join(repr(candidate) for candidate in close)
    return NotFound(
        f"table {name!r} does not exist: did you mean {shown}? (a new table is made with "
        f"`bulkload tables create {name} --schema FILE`)",
        status=error.status,
    )
