"""Date formats (contract 2): tokens, quoting, definition problems and real-calendar checks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import msgspec
import pytest

from bulkload.contract.formats import compile_format, format_problems
from bulkload.contract.schema import DEFAULT_DATE_FORMAT, DEFAULT_TIMESTAMP_FORMAT, TableSchema
from bulkload.errors import SchemaDefinitionError

ISO_T = 'YYYY-MM-DD"T"HH24:MI:SS'


@pytest.mark.parametrize(
    "fmt",
    [
        DEFAULT_DATE_FORMAT,
        DEFAULT_TIMESTAMP_FORMAT,
        ISO_T,
        "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM",
        "DD/MM/YYYY",
        "YYYYMMDD",
        'YYYY-MM-DD"T"HH24:MI:SS"Z"',
        "HH24:MI",
        '"week of" YYYY-MM-DD',
    ],
)
def test_well_formed_formats_have_no_problems(fmt: str) -> None:
    assert format_problems(fmt) == []


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [
        ("yyyy-mm-dd", "'yyyy' at position 1 is not a token"),
        ("YYYY-MM-DDTHH24:MI:SS", "'T' at position 11 is not a token"),
        ("YYYY-MM-DD HH:MI", "did you mean HH24?"),
        ("YYYY-MM-DD HH24:MI:SS TZH", "did you mean TZH:TZM?"),
        ('YYYY-MM-DD"T', "unterminated quote at position 11"),
        ("YYYY-MM-DD YYYY", "token YYYY appears more than once"),
        ("MM-DD-MM", "token MM appears more than once"),
        ("", "empty"),
        ('"just text"', "has no tokens"),
        ("SS.FFDD", "FF (1-9 digits) must be followed by a non-digit"),
        ("SS.FF0", "FF (1-9 digits) must be followed by a non-digit"),
    ],
)
def test_problems_are_named(fmt: str, fragment: str) -> None:
    problems = format_problems(fmt)
    assert any(fragment in problem for problem in problems), problems


def test_every_problem_is_listed_not_just_the_first() -> None:
    problems = format_problems("YYYY-mm-DD YYYY x")
    assert len(problems) == 3, problems


def test_schema_definition_reports_format_problems() -> None:
    with pytest.raises(SchemaDefinitionError, match="is not a token"):
        TableSchema.from_json(
            {"tableName": "t", "columns": [{"name": "d", "type": "date", "dateFormat": "yyyy"}]}
        )


def test_compile_refuses_a_bad_format_and_caches_good_ones() -> None:
    with pytest.raises(ValueError, match="is not a token"):
        compile_format("YYYY-MM-DDT")
    assert compile_format(DEFAULT_DATE_FORMAT) is compile_format(DEFAULT_DATE_FORMAT)


@pytest.mark.parametrize(
    ("fmt", "text", "ok"),
    [
        (DEFAULT_DATE_FORMAT, "2024-02-29", True),  # leap year
        (DEFAULT_DATE_FORMAT, "2023-02-29", False),
        (DEFAULT_DATE_FORMAT, "2000-02-29", True),  # divisible by 400
        (DEFAULT_DATE_FORMAT, "1900-02-29", False),  # divisible by 100, not 400
        (DEFAULT_DATE_FORMAT, "2023-02-28", True),
        (DEFAULT_DATE_FORMAT, "2023-04-31", False),  # 30-day months
        (DEFAULT_DATE_FORMAT, "2023-06-31", False),
        (DEFAULT_DATE_FORMAT, "2023-09-31", False),
        (DEFAULT_DATE_FORMAT, "2023-11-31", False),
        (DEFAULT_DATE_FORMAT, "2023-12-31", True),
        (DEFAULT_DATE_FORMAT, "2023-01-32", False),
        (DEFAULT_DATE_FORMAT, "2023-13-01", False),
        (DEFAULT_DATE_FORMAT, "2023-00-10", False),
        (DEFAULT_DATE_FORMAT, "2023-01-00", False),
        (DEFAULT_DATE_FORMAT, "0000-01-01", False),  # no year 0
        (DEFAULT_DATE_FORMAT, "0001-01-01", True),
        (DEFAULT_DATE_FORMAT, "2023-1-01", False),
        (DEFAULT_DATE_FORMAT, "2023-01-01 ", False),
        (DEFAULT_DATE_FORMAT, "2023-01-01\n", False),  # $ would accept this; \Z does not
        (DEFAULT_DATE_FORMAT, "２０２３-01-01", False),  # other scripts' digits
        (DEFAULT_DATE_FORMAT, "2023/01/01", False),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 23:59:59", True),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 24:00:00", False),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 12:60:00", False),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 12:00:60", False),  # no leap seconds
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01T12:00:00", False),
        (ISO_T, "2023-01-01T12:00:00", True),
        (ISO_T, "2023-01-01 12:00:00", False),
        ("HH24:MI:SS.FF", "12:00:00.1", True),
        ("HH24:MI:SS.FF", "12:00:00.123456789", True),
        ("HH24:MI:SS.FF", "12:00:00.1234567890", False),  # 10 digits
        ("HH24:MI:SS.FF", "12:00:00.", False),
        ("HH24:MITZH:TZM", "12:00+01:00", True),
        ("HH24:MITZH:TZM", "12:00-05:30", True),
        ("HH24:MITZH:TZM", "12:00+14:00", True),
        ("HH24:MITZH:TZM", "12:00+15:00", False),
        ("HH24:MITZH:TZM", "12:00+01:60", False),
        ("HH24:MITZH:TZM", "12:00 01:00", False),  # sign required
        ("HH24:MITZH:TZM", "12:0001:00", False),
        ("HH24:MITZH:TZM", "12:00+1:00", False),
        ("MM-DD", "02-29", True),  # some year makes it real
        ("MM-DD", "02-30", False),
        ("DD", "31", True),  # some month has 31 days
        ("YYYYMMDD", "20230431", False),
        ("YYYYMMDD", "20240229", True),
        ('"day "DD" of "MM/YYYY', "day 29 of 02/2023", False),
        ('"day "DD" of "MM/YYYY', "day 29 of 02/2024", True),
        ("HH24:MI:SS.FF DD.MM.YYYY", "10:00:00.5 31.04.2024", False),  # day after FF
        ("HH24:MI:SS.FF DD.MM.YYYY", "10:00:00.5 30.04.2024", True),
        ('YYYY-MM-DD"T"HH24:MI:SS.FF"Z"', "2024-01-01T00:00:00.000Z", True),
        ("YYYY.MM.DD", "2024x01x01", False),  # literal "." is not a wildcard
    ],
)
def test_matches_requires_shape_and_a_real_calendar_date(fmt: str, text: str, ok: bool) -> None:
    assert compile_format(fmt).matches(text) is ok


@pytest.mark.parametrize(
    ("fmt", "text", "shape_ok"),
    [
        (DEFAULT_DATE_FORMAT, "2023-02-29", True),  # left to the calendar post-check
        (DEFAULT_DATE_FORMAT, "2023-04-31", True),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 23:59:59", True),
        (DEFAULT_DATE_FORMAT, "2023-13-01", False),  # ranges live in the regex
        (DEFAULT_DATE_FORMAT, "2023-01-32", False),
        (DEFAULT_TIMESTAMP_FORMAT, "2023-01-01 24:00:00", False),
    ],
)
def test_regex_checks_shape_and_ranges_but_not_the_calendar(
    fmt: str, text: str, shape_ok: bool
) -> None:
    assert (re.match(compile_format(fmt).regex, text) is not None) is shape_ok


def test_regex_works_as_a_msgspec_pattern() -> None:
    compiled = compile_format(ISO_T)
    from typing import Annotated

    checked = Annotated[str, msgspec.Meta(pattern=compiled.regex)]
    assert msgspec.json.decode(b'"2023-01-01T10:00:00"', type=checked) == "2023-01-01T10:00:00"
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'"2023-01-01T10:00:00\\n"', type=checked)


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        (DEFAULT_DATE_FORMAT, date(2024, 2, 29), "2024-02-29"),
        (DEFAULT_TIMESTAMP_FORMAT, datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
        (DEFAULT_TIMESTAMP_FORMAT, date(2024, 1, 2), "2024-01-02 00:00:00"),
        (
            "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM",
            datetime(2024, 1, 2, 3, 4, 5, 120, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2024-01-02 03:04:05.000120-05:30",
        ),
        ("DD/MM/YYYY", date(7, 3, 9), "09/03/0007"),
    ],
)
def test_format_renders_python_dates_that_then_match(fmt: str, value: date, text: str) -> None:
    compiled = compile_format(fmt)
    assert compiled.format(value) == text
    assert compiled.matches(text)


def test_format_refuses_a_naive_datetime_for_an_offset_token() -> None:
    compiled = compile_format("YYYY-MM-DD HH24:MI:SSTZH:TZM")
    with pytest.raises(ValueError, match="no UTC offset"):
        compiled.format(datetime(2024, 1, 1))
    assert compiled.format(datetime(2024, 1, 1, tzinfo=UTC)).endswith("+00:00")
