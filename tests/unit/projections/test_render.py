from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from uuid import UUID

import pytest

from warehouse.sql import literal
from warehouse.sql import render

U = UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "NULL"),
        (True, "1"),
        (False, "0"),
        (42, "42"),
        (-7, "-7"),
        (18446744073709551615, "18446744073709551615"),
        (2.5, "2.5"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("a\nb\tc\rd\0e", "'a\\nb\\tc\\rd\\0e'"),
        ("ünï €", "'ünï €'"),
        (U, "toUUID('12345678-1234-5678-1234-567812345678')"),
        (date(2026, 3, 15), "toDate('2026-03-15')"),
        ([1, 2, 3], "(1, 2, 3)"),
        (("a", "b'"), "('a', 'b\\'')"),
        ({3, 1, 2}, "(1, 2, 3)"),
    ],
)
def test_literal_renders_each_type(value: object, expected: str) -> None:
    assert literal(value) == expected


def test_aware_datetime_becomes_utc_seconds() -> None:
    paris = timezone(timedelta(hours=1))
    value = datetime(2026, 3, 15, 11, 30, 5, 999_999, tzinfo=paris)
    assert literal(value) == "toDateTime('2026-03-15 10:30:05', 'UTC')"


def test_uuid_list_renders_for_in() -> None:
    other = UUID(int=1)
    assert literal([U, other]) == (
        "(toUUID('12345678-1234-5678-1234-567812345678'), "
        "toUUID('00000000-0000-0000-0000-000000000001'))"
    )


def test_render_substitutes_named_placeholders() -> None:
    sql = "SELECT * FROM t WHERE id = %(id)s AND tag IN %(tags)s AND n > %(n)s"
    assert render(sql, {"id": U, "tags": ["a", "b"], "n": 3}) == (
        "SELECT * FROM t WHERE id = toUUID('12345678-1234-5678-1234-567812345678')"
        " AND tag IN ('a', 'b') AND n > 3"
    )


def test_render_leaves_other_percent_signs_alone() -> None:
    sql = "SELECT formatDateTime(ts, '%Y-%m-%d'), %(x)s, '100%'"
    assert render(sql, {"x": 1}) == "SELECT formatDateTime(ts, '%Y-%m-%d'), 1, '100%'"


def test_render_without_params_returns_sql_unchanged() -> None:
    assert render("SELECT '%(x)s'") == "SELECT '%(x)s'"
    assert render("SELECT 1", {}) == "SELECT 1"


def test_substituted_values_are_not_substituted_again() -> None:
    assert render("%(a)s, %(b)s", {"a": "%(b)s", "b": 1}) == "'%(b)s', 1"


def test_missing_param_raises_key_error() -> None:
    with pytest.raises(KeyError, match="missing"):
        render("SELECT %(missing)s", {"other": 1})


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        literal(datetime(2026, 3, 15, 10, 0))


def test_empty_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match="empty sequence"):
        literal([])


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        literal(b"raw")
