"""check_raw_many (the bulk path) must decide exactly as check_raw does, record by record."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validate_oracle import columns, deep_json, oracle_accepts, value_texts, wide_json

from bulkload.contract.matching import FieldMapping
from bulkload.contract.schema import Column, ColumnType, TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

SCHEMA = TableSchema.from_json(
    {
        "tableName": "t",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "ratio", "type": "numeric"},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)


def good(i: int) -> bytes:
    return json.dumps(
        {
            "id": i,
            "amount": 12.5,
            "ratio": "0.25",
            "day": f"2024-01-{1 + i % 31:02d}",
            "seen_at": "2024-03-31 23:59:59",
            "note": "a: b",
            "meta": {"k": [1, {"x": ":"}]},
        },
        separators=(",", ":"),
    ).encode()


def verdicts_one_by_one(validator: RecordValidator, raws: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = []
    for raw in raws:
        try:
            out.append(validator.check_raw(raw))
        except RecordInvalid as exc:
            out.append(exc.reason)
    return out


def verdicts_in_bulk(validator: RecordValidator, raws: list[bytes]) -> list[bytes | str]:
    return [r.reason if isinstance(r, RecordInvalid) else r for r in validator.check_raw_many(raws)]


def test_an_all_valid_list_comes_back_as_itself() -> None:
    raws = [good(i) for i in range(300)]
    assert VALIDATOR.check_raw_many(raws) is raws


def test_one_bad_record_among_many_is_found_and_the_rest_kept() -> None:
    raws = [good(i) for i in range(300)]
    # day 31 of a 30-day month, a duplicate key, a stray BOM and a missing column
    raws[7] = raws[7].replace(b'"day":"2024-01-08"', b'"day":"2024-04-31"')
    raws[100] = raws[100].replace(b'{"id":100,', b'{"id":100,"id":101,')
    raws[150] = b"\xef\xbb\xbf " + raws[150]
    raws[200] = raws[200].replace(b'"ratio":"0.25",', b"")
    result = verdicts_in_bulk(VALIDATOR, raws)
    assert result == verdicts_one_by_one(VALIDATOR, raws)
    assert isinstance(result[7], str) and "calendar" in result[7]
    assert isinstance(result[100], str) and "duplicate key" in result[100]
    assert result[150] == good(150) and result[200] == raws[200]
    assert sum(isinstance(r, str) for r in result) == 2


def test_a_missing_key_cannot_hide_a_duplicate_in_another_record() -> None:
    raws = [good(i) for i in range(20)]
    raws[3] = raws[3].replace(b'"note":"a: b",', b"")  # one key fewer here...
    raws[4] = raws[4].replace(b'{"id":4,', b'{"id":4,"id":5,')  # ...one more there
    result = verdicts_in_bulk(VALIDATOR, raws)
    assert isinstance(result[4], str) and "duplicate key" in result[4]
    assert result == verdicts_one_by_one(VALIDATOR, raws)


@st.composite
def tables_and_records(draw: st.DrawFn) -> tuple[list[Column], list[bytes]]:
    cols = draw(columns())
    raws: list[bytes] = []
    for _ in range(draw(st.integers(1, 40))):
        chosen = draw(st.lists(st.sampled_from(cols), max_size=len(cols) + 1))
        members = [f'"{c.name}":{draw(value_texts(c))}' for c in chosen]
        raws.append(("{" + ",".join(members) + "}").encode())
    return cols, raws


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_and_records())
def test_bulk_and_one_by_one_agree(case: tuple[list[Column], list[bytes]]) -> None:
    cols, raws = case
    validator = RecordValidator(TableSchema("t", tuple(cols)))
    assert verdicts_in_bulk(validator, raws) == verdicts_one_by_one(validator, raws)


@st.composite
def deep_and_wide_records(draw: st.DrawFn) -> list[bytes]:
    """Records whose JSON values nest around the depth limit or hold many members, among
    plain ones: the shapes where a parser's own limits or the colon count could differ."""
    raws: list[bytes] = []
    for _ in range(draw(st.integers(1, 30))):
        value = draw(st.sampled_from(["1", '{"a":":"}']) | deep_json() | wide_json())
        note = draw(st.sampled_from(['"x"', '"a:b"', '"\\u003a"']))
        raws.append(f'{{"note":{note},"meta":{value}}}'.encode())
    return raws


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deep_and_wide_records())
def test_bulk_and_one_by_one_agree_on_deep_and_wide_values(raws: list[bytes]) -> None:
    validator = RecordValidator(
        TableSchema("t", (Column("note", ColumnType.STRING), Column("meta", ColumnType.JSON)))
    )
    assert verdicts_in_bulk(validator, raws) == verdicts_one_by_one(validator, raws)


# -- records keyed in the input's own spelling (ORDER_ID for order_id, or a --map) ------------
#
# The bulk path decodes such a chunk under the input's names and writes it under the columns'
# names. It must give every record the verdict the oracle gives the record with its names
# mapped by hand, and the bytes check_raw gives it alone (so a record's bytes never depend on
# the records that share its chunk).

MAPPED_PREFIX = "K:"  # a --map source holding a colon, which the raw text counts too
DROPPED = "DROP:ME"
DROPPED_VALUES = st.sampled_from(["1", '"a:b"', '{"k":":"}', "null", '[1, {"x": 2}]', '"\\u003a"'])


def oracle_column(name: str, columns: list[str], renames: dict[str, str | None]) -> str | None:
    """The column an input name loads into, from bulkload's documented rules: --map first,
    then the exact name, then the name with its case folded."""
    if name in renames:
        return renames[name]
    if name in columns:
        return name
    folded = {column.lower(): column for column in columns}
    return folded.get(name.lower())


@st.composite
def spelled_chunks(
    draw: st.DrawFn,
) -> tuple[list[Column], dict[str, str | None], list[tuple[str, list[tuple[str, str]]]]]:
    """A table, the --map renames, and records given as (text, members): most records hold
    every column in one spelling (upper-cased, mixed, mapped) so whole chunks take the bulk
    path, some leaving columns out; some differ in spelling or order, repeat a key in one or
    two spellings, or hold an unknown key or a value of any kind."""
    cols = draw(columns())
    names = [column.name for column in cols]
    mode = draw(st.sampled_from(["fold", "map", "drop", "swap"][: 4 if len(cols) > 1 else 3]))
    renames: dict[str, str | None] = {}
    if mode == "drop":  # --map DROP:ME= : a field the export has and the table does not
        renames = {DROPPED: None}
    elif mode == "map":
        renames = {f"{MAPPED_PREFIX}{name}": name for name in names}
    elif mode == "swap":  # --map c0=c1 --map c1=c0: every record is renamed
        renames = {names[0]: names[1], names[1]: names[0]}

    def spellings(name: str) -> list[str]:
        out = [name.upper(), name, name[0].upper() + name[1:]]
        if mode == "map":
            out.append(f"{MAPPED_PREFIX}{name}")
        return out

    usual = {name: draw(st.sampled_from(spellings(name))) for name in names}
    # Per column a few values the oracle accepts (and null), so that whole chunks are valid
    # and take the bulk path; a record with an oddity draws a value of any kind.
    pools = {}
    for column in cols:
        drawn = draw(st.lists(value_texts(column), min_size=1, max_size=3))
        pools[column.name] = [
            text for text in drawn if oracle_accepts([column], f'{{"{column.name}":{text}}}')
        ] + ["null"]
    clean = draw(st.booleans())  # a chunk with no oddity at all
    sparse = draw(st.booleans())  # records leave columns out (an export that omits nulls)
    records: list[tuple[str, list[tuple[str, str]]]] = []
    for _ in range(draw(st.integers(1, 30))):
        oddity = 99 if clean else draw(st.integers(0, 9))
        chosen = list(cols)
        if oddity == 0:
            chosen = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=len(cols) + 1))
        elif oddity in (1, 99) and draw(st.integers(0, 4)) == 0:
            chosen = draw(st.permutations(cols))
        members = []
        kept = []
        for column in chosen:
            if sparse and draw(st.integers(0, 3)) == 0:
                continue
            kept.append(column)
            key = usual[column.name]
            if oddity == 2:
                key = draw(st.sampled_from(spellings(column.name)))
            if oddity == 5:
                value = draw(value_texts(column))
            else:
                value = draw(st.sampled_from(pools[column.name]))
            members.append((key, value))
        if oddity == 3 and members:  # the same key twice, or one column in two spellings
            key, _ = members[0]
            other = draw(st.sampled_from([key, *spellings(kept[0].name)]))
            members.append((other, draw(st.sampled_from(pools[kept[0].name]))))
        if oddity == 4 and members:  # (a record of unknown keys only stops the run)
            members.append(("unknown", "1"))
        if mode == "drop" and members and (clean or draw(st.integers(0, 9))):
            members.insert(draw(st.integers(0, len(members))), (DROPPED, draw(DROPPED_VALUES)))
        space = draw(st.sampled_from(["", "", " "]))  # what msgspec would not write
        text = (
            "{"
            + space
            + ("," + space).join(f"{json.dumps(k)}:{space}{v}" for k, v in members)
            + space
            + "}"
        )
        records.append((text, members))
    return cols, renames, records


def oracle_verdict(
    cols: list[Column], renames: dict[str, str | None], members: list[tuple[str, str]]
) -> tuple[bool, Any]:
    """Whether the oracle accepts the record with its names mapped by hand (the fields the
    --map drops left out), and its values."""
    names = [column.name for column in cols]
    mapped = [
        (oracle_column(key, names, renames) or key, value)
        for key, value in members
        if not (key in renames and renames[key] is None)
    ]
    text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in mapped) + "}"
    if not oracle_accepts(cols, text):
        return False, None
    return True, json.loads(text, parse_float=Decimal)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spelled_chunks(), st.booleans(), st.sampled_from([None, False, True]))
def test_records_in_the_inputs_own_spelling_meet_the_oracle_in_bulk(
    case: tuple[list[Column], dict[str, str | None], list[tuple[str, list[tuple[str, str]]]]],
    ignore_unknown: bool,
    coerce: bool | None,
) -> None:
    cols, renames, records = case
    schema = TableSchema("t", tuple(cols))
    fields = FieldMapping(schema.column_names, renames=renames, table="t")
    validator = RecordValidator(
        schema, fields=fields, ignore_unknown_columns=ignore_unknown, coerce=coerce
    )
    raws = [text.encode() for text, _ in records]
    bulk = verdicts_in_bulk(validator, raws)
    assert bulk == verdicts_one_by_one(validator, raws)
    if ignore_unknown or coerce:
        return  # the oracle knows the contract's rules, not the loader's options
    exact = RecordValidator(schema)
    for (text, members), verdict in zip(records, bulk, strict=True):
        accepted, values = oracle_verdict(cols, renames, members)
        assert isinstance(verdict, bytes) is accepted, (text, verdict)
        if isinstance(verdict, bytes):
            # What is sent holds the record's values under the columns' names, as the API
            # itself would take them.
            assert json.loads(verdict, parse_float=Decimal) == values, text
            assert exact.check_raw(verdict) == verdict


def test_a_missing_key_cannot_hide_a_repeated_one_in_the_inputs_spelling() -> None:
    """The colon count of a chunk decoded under the file's names: one record a key short
    and another with a key twice must not balance out."""
    upper = [
        json.dumps(
            {k.upper(): v for k, v in json.loads(good(i)).items()}, separators=(",", ":")
        ).encode()
        for i in range(20)
    ]
    upper[3] = upper[3].replace(b'"NOTE":"a: b",', b"")
    upper[4] = upper[4].replace(b'{"ID":4,', b'{"ID":4,"ID":5,')
    fields = FieldMapping(SCHEMA.column_names, table="t")
    validator = RecordValidator(SCHEMA, fields=fields)
    result = verdicts_in_bulk(validator, upper)
    assert isinstance(result[4], str)  # (the plain rules word it on the file's names)
    assert sum(isinstance(verdict, str) for verdict in result) == 1
    assert result == verdicts_one_by_one(validator, upper)


def test_an_upper_cased_mapped_or_dropping_chunk_is_never_renamed_record_by_record(
    monkeypatch: Any,
) -> None:
    """The bulk path decodes under the file's names: no per-record dict of fields."""
    upper = [good(i).replace(b'"id"', b'"ID"').replace(b'"note"', b'"NOTE"') for i in range(50)]
    mapped = [good(i).replace(b'"amount"', b'"AMT:EUR"') for i in range(50)]
    dropping = [b'{"legacy":{"a:b":[1]},' + raw[1:] for raw in mapped]
    renames: dict[str, str | None] = {"AMT:EUR": "amount", "legacy": None}
    for raws in (upper, mapped, dropping):
        fields = FieldMapping(SCHEMA.column_names, renames=renames, table="t")
        validator = RecordValidator(SCHEMA, fields=fields)
        expected = verdicts_one_by_one(validator, raws)

        def no_per_record_renaming(raw: bytes) -> bytes | None:
            raise AssertionError("renamed record by record")

        with monkeypatch.context() as patched:
            patched.setattr(fields, "remap_raw", no_per_record_renaming)
            sent = validator.check_raw_many(raws)
        assert list(sent) == expected
        assert [json.loads(s) for s in sent] == [json.loads(good(i)) for i in range(50)]


def test_one_bad_record_among_upper_cased_ones_costs_a_few_renamings() -> None:
    """Halves are vouched for in the file's spelling: only the records near the bad one
    are renamed one by one (at most the last halving's eight), not the whole chunk."""
    raws = [
        json.dumps({k.upper(): v for k, v in json.loads(good(i)).items()}).encode()
        for i in range(300)
    ]
    raws[123] = raws[123].replace(b'"DAY": "2024-01-', b'"DAY": "2024-13-')
    fields = FieldMapping(SCHEMA.column_names, table="t")
    validator = RecordValidator(SCHEMA, fields=fields)
    expected = verdicts_one_by_one(validator, raws)
    renamed: list[bytes] = []
    remap = fields.remap_raw

    def counted(raw: bytes) -> bytes | None:
        renamed.append(raw)
        return remap(raw)

    fields.remap_raw = counted  # type: ignore[method-assign]
    result = verdicts_in_bulk(validator, raws)
    assert result == expected
    assert [i for i, verdict in enumerate(result) if isinstance(verdict, str)] == [123]
    assert 0 < len(renamed) <= 8
