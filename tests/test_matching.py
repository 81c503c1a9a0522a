"""FieldMapping and the validator's use of it (contract/matching.py), without the CLI."""

from __future__ import annotations

import orjson
import pytest

from bulkload.contract.matching import FieldMapping, FieldRenames, NoFieldMatches
from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.errors import ConfigError

SCHEMA = TableSchema.from_json(
    [{"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}, {"name": "Note", "type": "string"}],
    name="t",
)  # fmt: skip


def validator(**renames: str | None) -> RecordValidator:
    fields = FieldMapping(SCHEMA.column_names, renames=renames, table="t")
    return RecordValidator(SCHEMA, fields=fields, coerce=False)


def test_a_swap_is_applied_once_per_record() -> None:
    check = validator(a="b", b="a").check_raw
    assert orjson.loads(check(b'{"a": 1, "b": 2}')) == {"b": 1, "a": 2}
    assert orjson.loads(check(b'{"A": 1}')) == {"a": 1}  # folded, not swapped: only a is


def test_a_chunk_needing_the_case_fallback_is_renamed_as_a_whole() -> None:
    chunk = [orjson.dumps({"A": i, "NOTE": "x"}) for i in range(50)]
    out = validator().check_raw_many(chunk)
    assert [orjson.loads(o) for o in out] == [{"a": i, "Note": "x"} for i in range(50)]  # type: ignore[arg-type]


def test_a_repeated_key_is_still_refused_after_renaming() -> None:
    for raw in (b'{"A": 1, "A": 2}', b'{"A": "\\u003a", "A": 2, "b": 1}'):
        with pytest.raises(RecordInvalid) as caught:
            validator().check_raw(raw)
        assert any("duplicate key 'A'" in problem for problem in caught.value.problems)


def test_fields_folding_together_and_records_matching_nothing() -> None:
    with pytest.raises(RecordInvalid, match="'a' and 'A' both map to column 'a'"):
        validator().check_raw(b'{"a": 1, "A": 2}')
    with pytest.raises(NoFieldMatches, match="closest input names: 'aa' for 'a'"):
        validator().check_raw(b'{"aa": 1}')
    with pytest.raises(NoFieldMatches):
        validator().check_object({"zz": 1})
    assert validator().check_raw(b"{}") == b"{}"  # no fields at all: nothing to misplace


def test_unknown_fields_dropped_are_counted_per_record() -> None:
    fields = FieldMapping(SCHEMA.column_names)
    lenient = RecordValidator(SCHEMA, ignore_unknown_columns=True, fields=fields, coerce=False)
    for raw in (b'{"a": 1, "x": 1}', b'{"A": 2, "x": 1, "y": 0}'):
        lenient.check_raw(raw)
    lenient.check_object({"b": 1, "y": 2})
    lenient.csv_encoder(["a", "x"])(["1", "2"])
    assert lenient.dropped_fields == {"x": 3, "y": 2}


def test_case_sensitive_and_bad_targets() -> None:
    strict = FieldMapping(SCHEMA.column_names, case_sensitive=True)
    assert strict.column_for("NOTE") is None and strict.column_for("Note") == "Note"
    assert FieldMapping(SCHEMA.column_names).column_for("NOTE") == "Note"
    with pytest.raises(ConfigError, match="did you mean 'Note'"):
        FieldMapping(SCHEMA.column_names, renames={"x": "Nite"})


def test_renames_without_a_table_for_inference(tmp_path: object) -> None:
    renames = FieldRenames.from_options([("ID", "id"), ("junk", None)])
    assert (renames.name_for("ID"), renames.name_for("junk"), renames.name_for("x")) == (
        "id",
        None,
        "x",
    )
