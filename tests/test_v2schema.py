"""Reading v2 schema answers tolerantly (contract v2 section 3), and checking them."""

from __future__ import annotations

import pytest
from v2kit import SCHEMA_JSON, SOLUTION

from bulkload.contract.v2schema import (
    Operation,
    Solution,
    V2Type,
    parse_schema,
    parse_solutions,
    v1_date_format,
)
from bulkload.errors import SchemaDefinitionError


def test_the_contracts_example_reads_as_written() -> None:
    schema = parse_schema(SCHEMA_JSON, solution=SOLUTION)
    customer = schema.objects[0]
    assert customer.table_name == "QP_CUSTOMER_OOTB"
    assert customer.primary_keys == ("CUSTOMER_ID", "UPDATED_AT")
    assert [c.type for c in customer.columns] == [V2Type.STRING, V2Type.NUMERIC, V2Type.TIMESTAMP]
    assert customer.columns[0].max_length == 64 and not customer.columns[0].accepts_null
    assert customer.columns[2].timestamp_format == "YYYY-MM-DD HH:MI:SS"
    assert customer.default_operation() is Operation.UPSERT
    # An object without tableName gets prefix + objectName + suffix; no keys: APPEND.
    event = schema.objects[1]
    assert event.table_name == "QP_EVENT_OOTB"
    assert event.default_operation() is Operation.APPEND


def test_tables_spelling_type_key_name_validations_datetime_and_any_case() -> None:
    answer = {
        "tables": [
            {
                "objectName": "ORDER",
                "columns": [
                    {"name": "ID", "type": "INTEGER", "nullable": False},
                    {
                        "name": "AT",
                        "type": "DateTime",
                        "validations": [
                            {"name": "NONNULL"},
                            {"name": "timestampformat", "format": "YYYY-MM-DD HH:MI:SS ±hh:mm"},
                            {"name": "someFutureRule", "value": 3},
                        ],
                    },
                    {"name": "RATE", "type": "Float"},
                ],
            }
        ]
    }
    schema = parse_schema(answer, solution=Solution("S"))
    order = schema.objects[0]
    assert order.table_name == "ORDER"  # a solution without prefix and suffix: raw names
    at = order.columns[1]
    assert at.type is V2Type.TIMESTAMP and not at.accepts_null
    assert at.timestamp_format == "YYYY-MM-DD HH:MI:SS ±hh:mm"
    assert [v.name for v in at.unknown_validations] == ["someFutureRule"]
    assert order.columns[2].type is V2Type.FLOAT


def test_every_problem_of_a_schema_is_named_at_once() -> None:
    answer = {
        "objects": [
            {
                "objectName": "BAD",
                "primaryKeys": ["NOPE"],
                "columns": [
                    {"name": "A", "dataType": "varchar"},
                    {"name": "B", "dataType": "numeric", "precision": 40},
                    {"name": "C", "dataType": "string", "validations": [{"type": "maxLength"}]},
                    {
                        "name": "D",
                        "dataType": "timestamp",
                        "validations": [{"type": "timestampFormat", "format": "YYYY-MM-DD QQ"}],
                    },
                ],
            }
        ]
    }
    with pytest.raises(SchemaDefinitionError) as caught:
        parse_schema(answer, solution="S")
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert any("'varchar'" in p for p in problems)
    assert any("precision 40" in p for p in problems)
    assert any("maxLength needs a whole number" in p for p in problems)
    assert any("'QQ'" in p for p in problems)
    assert any("primary key 'NOPE'" in p for p in problems)


def test_a_schema_answer_without_an_object_list_is_refused() -> None:
    with pytest.raises(SchemaDefinitionError, match="'objects' or 'tables'"):
        parse_schema({"solutionName": "S"}, solution="S")


def test_solutions_as_an_object_or_a_bare_array() -> None:
    wrapped = parse_solutions(
        {
            "solutions": [
                {"solutionName": "QP_OOTB", "prefix": "QP_", "suffix": "_OOTB", "tableCount": 12}
            ]
        }
    )
    assert wrapped == [Solution("QP_OOTB", "QP_", "_OOTB", None, 12)]
    bare = parse_solutions([{"solutionName": "A"}, {"no": "name"}, "B"])
    assert [s.solution_name for s in bare] == ["A", "B"]
    assert bare[0].table_name("X") == "X"
    with pytest.raises(SchemaDefinitionError):
        parse_solutions({"message": "nope"})


@pytest.mark.parametrize(
    ("v2", "v1"),
    [
        ("YYYY-MM-DD HH:MI:SS", "YYYY-MM-DD HH24:MI:SS"),
        ("YYYY-MM-DD HH:MI:SS ±hh:mm", "YYYY-MM-DD HH24:MI:SS TZH:TZM"),
        ("YYYY-MM-DD HH24:MI:SS +hh:mm", "YYYY-MM-DD HH24:MI:SS TZH:TZM"),
        ('YYYY-MM-DD"T"HH:MI:SS', 'YYYY-MM-DD"T"HH24:MI:SS'),
    ],
)
def test_v2_formats_translate_to_v1_tokens(v2: str, v1: str) -> None:
    assert v1_date_format(v2) == v1
