"""Input field names -> table columns: explicit ``--map`` first, then the exact name, then
(unless case-sensitive) the name with its case folded.

Table column names are unique case-insensitively (contract 2), so the folded fallback is
never ambiguous on the table's side; on the input's side two fields may land on one column
(``ORDER_ID`` and ``order_id``), and that is an error naming both, never a silent pick.

A ``FieldMapping`` is built once per load and asked once per distinct set of names (a CSV
header, the keys of a JSON record): answers are cached by that tuple of names, so a JSON
Lines export whose every record has the same keys in the same order is planned once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson

from bulkload.contract.validate import RecordInvalid
from bulkload.errors import ConfigError, InputError

_MAX_CACHED_PLANS = 4096
_SHOWN_NAMES = 12
# A record's top-level fields with their values as written: renaming never re-reads a value.
_FIELDS_AS_WRITTEN = msgspec.json.Decoder(dict[str, msgspec.Raw])
_UNREADABLE = (msgspec.DecodeError, RecursionError, UnicodeDecodeError, TypeError)


class NoFieldMatches(InputError):
    """A CSV header or a record of which no field is a column: loading it would store rows
    of NULLs only, so the run stops instead (rerunning after a fix finishes the job)."""


class FieldPlan:
    """What happens to each field of one set of input names, in input order. (A plain
    class, not a dataclass: those cost milliseconds of every start-up.)"""

    __slots__ = (
        "collisions",
        "dropped",
        "loadable",
        "names",
        "renames_nothing",
        "sent_as",
        "targets",
        "unknown",
    )

    def __init__(
        self,
        *,
        names: tuple[str, ...],
        targets: tuple[str | None, ...],
        unknown: tuple[str, ...],
        dropped: tuple[str, ...],
        collisions: tuple[tuple[str, tuple[str, ...]], ...],
        renames_nothing: bool,
        sent_as: tuple[str | None, ...],
        loadable: bool,
    ) -> None:
        self.names = names
        # Per input field: the column it loads into, or None (dropped by --map, or unknown).
        self.targets = targets
        self.unknown = unknown  # fields no rule places: not columns of the table
        self.dropped = dropped  # fields dropped on purpose (--map SRC=)
        self.collisions = collisions  # (column, the fields landing on it)
        # True when no field changes its name and none is dropped on purpose: the input
        # goes as it is (unknown fields are the validator's to judge).
        self.renames_nothing = renames_nothing
        # Per input field, the name it is sent under: its column, itself when unknown (for
        # the validator to refuse or drop), None when dropped on purpose.
        self.sent_as = sent_as
        # Neither "no field is a column" nor "two fields land on one column".
        self.loadable = loadable

    @property
    def matched(self) -> int:
        return sum(target is not None for target in self.targets)

    def collision_problem(self) -> str | None:
        if not self.collisions:
            return None
        parts = [
            f"fields {' and '.join(repr(name) for name in names)} both map to column {column!r}"
            for column, names in self.collisions
        ]
        return (
            "; ".join(parts)
            + " (drop one with --map NAME= or rename it with --map NAME=COLUMN, or use "
            "--case-sensitive)"
        )


def parse_map_option(text: str) -> tuple[str, str | None]:
    """``SRC=DST`` -> (SRC, DST); ``SRC=`` -> (SRC, None). The last ``=`` splits, so a
    source name may itself hold one; a column name never does."""
    source, equals, target = text.rpartition("=")
    if not equals or not source:
        raise ConfigError(
            f"--map {text!r} is not SRC=DST: give the input field and the column, e.g. "
            "--map ORDER_ID=order_id (or SRC= to drop the field)"
        )
    return source, target or None


def read_map_file(path: Path) -> dict[str, str | None]:
    """A --map-file: one JSON object ``{"SRC": "DST" | null}``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read --map-file {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"--map-file {path} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ConfigError(
            f'--map-file {path} must hold one JSON object {{"SRC": "DST" or null}}, '
            f"got {type(obj).__name__}"
        )
    out: dict[str, str | None] = {}
    for source, target in obj.items():
        if target is not None and not isinstance(target, str):
            raise ConfigError(
                f"--map-file {path}: the value for {source!r} must be a column name or null"
            )
        out[source] = target or None
    return out


class FieldRenames:
    """The user's renames, before any table is known (``tables create --infer`` uses them
    to name proposed columns): input field -> new name, or None to drop the field."""

    __slots__ = ("renames",)

    def __init__(self, renames: Mapping[str, str | None]) -> None:
        self.renames = dict(renames)

    @classmethod
    def from_options(
        cls, field_map: Iterable[tuple[str, str | None]] = (), field_map_path: Path | None = None
    ) -> FieldRenames:
        """``--map-file`` entries overridden by ``--map`` ones for the same source."""
        renames = read_map_file(field_map_path) if field_map_path is not None else {}
        renames.update(field_map)
        return cls(renames)

    def name_for(self, field: str) -> str | None:
        """The name ``field`` goes by (itself unless renamed); None when it is dropped."""
        return self.renames.get(field, field)


class FieldMapping:
    """How input field names become table columns, for one table. See the module docstring.

    ``renames`` maps an input field to a column (its name resolved like any other: exact,
    else case-insensitively), or to None to drop the field.
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        renames: Mapping[str, str | None] | FieldRenames | None = None,
        case_sensitive: bool = False,
        table: str = "the table",
    ) -> None:
        self.columns = tuple(columns)
        self.table = table
        self.case_sensitive = case_sensitive
        self._exact = frozenset(self.columns)
        self._folded = {name.lower(): name for name in self.columns}
        if isinstance(renames, FieldRenames):
            renames = renames.renames
        self.renames: dict[str, str | None] = {}
        for source, target in (renames or {}).items():
            self.renames[source] = None if target is None else self._target_column(source, target)
        # A record whose names are all columns is loaded as it is unless a rename says
        # otherwise for one of those names: only then must every record be looked at.
        self.renames_columns = any(
            source in self._exact and target != source for source, target in self.renames.items()
        )
        self._plans: dict[tuple[str, ...], FieldPlan] = {}

    @property
    def is_trivial(self) -> bool:
        """Exact names only: nothing to rename, nothing to fold."""
        return not self.renames and self.case_sensitive

    def _target_column(self, source: str, target: str) -> str:
        if target in self._exact:
            return target
        folded = self._folded.get(target.lower())
        if folded is not None and not self.case_sensitive:
            return folded
        hint = _closest(target, self.columns)
        also = f" (did you mean {hint!r}?)" if hint else ""
        raise ConfigError(
            f"--map {source}={target}: table {self.table!r} has no column {target!r}{also}; "
            f"its columns are {_name_list(self.columns)}"
        )

    def column_for(self, name: str) -> str | None:
        """The column field ``name`` loads into, or None (dropped, or not a column)."""
        if name in self.renames:
            return self.renames[name]
        if name in self._exact:
            return name
        if not self.case_sensitive:
            return self._folded.get(name.lower())
        return None

    def plan(self, names: Sequence[str]) -> FieldPlan:
        """The fate of each of ``names`` (cached by the tuple of names)."""
        key = tuple(names)
        found = self._plans.get(key)
        if found is not None:
            return found
        targets: list[str | None] = []
        unknown: list[str] = []
        dropped: list[str] = []
        landing: dict[str, list[str]] = {}
        for name in key:
            target = self.column_for(name)
            targets.append(target)
            if target is not None:
                landing.setdefault(target, []).append(name)
            elif name in self.renames:
                dropped.append(name)
            else:
                unknown.append(name)
        collisions = tuple(
            (column, tuple(fields)) for column, fields in landing.items() if len(fields) > 1
        )
        plan = FieldPlan(
            names=key,
            targets=tuple(targets),
            unknown=tuple(unknown),
            dropped=tuple(dropped),
            collisions=collisions,
            renames_nothing=not dropped
            and all(t is None or t == n for t, n in zip(targets, key, strict=True)),
            loadable=(any(t is not None for t in targets) or not key) and not collisions,
            sent_as=tuple(
                target if target is not None else None if name in self.renames else name
                for name, target in zip(key, targets, strict=True)
            ),
        )
        if len(self._plans) < _MAX_CACHED_PLANS:
            self._plans[key] = plan
        return plan

    def nothing_matches(self, names: Sequence[str], what: str) -> NoFieldMatches:
        """The error for ``what`` (e.g. "the CSV header of x.csv") none of whose ``names``
        is a column: the table's columns and, per column, the closest input name."""
        pairs = [(column, close) for column in self.columns if (close := _closest(column, names))]
        if pairs:
            shown = ", ".join(f"{close!r} for {column!r}" for column, close in pairs[:6])
            first_column, first_close = pairs[0]
            advice = (
                f"closest input names: {shown}; map them with --map SRC=COLUMN "
                f"(e.g. --map {first_close}={first_column})"
            )
        else:
            advice = (
                f"its fields are {_name_list(names)}: map them with --map SRC=COLUMN, "
                "or check --delimiter and the table name"
            )
        folding = " (names are matched case-sensitively: --case-sensitive)" * self.case_sensitive
        return NoFieldMatches(
            f"no field of {what} is a column of table {self.table!r}{folding}, so every row "
            f"would load as NULLs; the table's columns are {_name_list(self.columns)}; {advice}"
        )

    def remap_raw(self, raw: bytes) -> bytes | None:
        """One JSON record with its fields renamed (values kept byte for byte, unknown fields
        kept for the validator to judge); None when the names need nothing or the record
        cannot be read (the plain rules then say why). Raises RecordInvalid for two fields
        landing on one column, NoFieldMatches for a record none of whose fields is a column.
        """
        try:
            fields = _FIELDS_AS_WRITTEN.decode(raw)
        except _UNREADABLE:
            return None
        names = tuple(fields)
        plan = self._plans.get(names) or self.plan(names)
        if not plan.loadable:
            self.check_matches(plan, "a record")
        if plan.renames_nothing:
            return None
        if not _keys_are_unique(raw, fields):
            return None  # the plain rules name the duplicate key
        if plan.dropped:
            return msgspec.json.encode(
                {
                    name: value
                    for name, value in zip(plan.sent_as, fields.values(), strict=True)
                    if name is not None
                }
            )
        return msgspec.json.encode(dict(zip(plan.sent_as, fields.values(), strict=True)))

    def remap_object(self, obj: Mapping[Any, Any]) -> dict[Any, Any] | None:
        """``remap_raw`` for an already parsed record (JSON array item, Parquet row)."""
        names = [key for key in obj if isinstance(key, str)]
        if len(names) != len(obj):
            return None
        plan = self.plan(names)
        self.check_matches(plan, "a record")
        if plan.renames_nothing:
            return None
        renamed: dict[Any, Any] = {}
        for (name, value), target in zip(obj.items(), plan.targets, strict=True):
            if target is not None:
                renamed[target] = value
            elif name not in self.renames:
                renamed[name] = value
        return renamed

    def check_matches(self, plan: FieldPlan, what: str) -> None:
        """Raise NoFieldMatches when fields exist and none is a column; RecordInvalid when
        two land on one column."""
        if plan.names and not plan.matched:
            raise self.nothing_matches(plan.names, what)
        problem = plan.collision_problem()
        if problem is not None:
            raise RecordInvalid(problem, plan.collisions[0][0])

    def to_json(self) -> dict[str, Any]:
        """What the checkpoint's identity holds of the mapping: a change means other rows."""
        return {
            "renames": dict(sorted(self.renames.items())),
            "case_sensitive": self.case_sensitive,
        }


def _keys_are_unique(raw: bytes, fields: dict[str, msgspec.Raw]) -> bool:
    """True when no top-level key is repeated (decoding into a dict keeps the last copy).
    Colons: one per key, plus those inside keys and values; a repeated key adds more. An
    escaped colon (\\u003a) breaks the count: then the keys are read and compared."""
    expected = len(fields) + "".join(fields).count(":")
    expected += b"".join(fields.values()).count(b":")
    if raw.count(b":") == expected and b"\\u003" not in raw:
        return True
    try:
        pairs = json.loads(raw, object_pairs_hook=list)
    except (ValueError, RecursionError):
        return False
    return len({key for key, _ in pairs}) == len(pairs)


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (case ignored), by difflib's ratio; None if none is."""
    import difflib  # only when an error is being worded

    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.lower(), candidate)
    found = difflib.get_close_matches(name.lower(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[found[0]] if found else None


def _name_list(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return shown + (f" and {more} more" if more > 0 else "")
