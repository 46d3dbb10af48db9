"""Query-string parsing of GET /api/customer/unsubscribes: defaults, bounds, one 400 per problem."""

from __future__ import annotations

import pytest

from read_api.params import BadParam
from read_api.unsubscribes import GLOBAL
from read_api.unsubscribes import ListQuery
from read_api.unsubscribes import list_query


@pytest.mark.parametrize(("args", "name"), [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"page": "0"}, "page"), ({"page": "1.5"}, "page"),
    ({"page": "99999999"}, "page"), ({"source": "bounces"}, "source"), ({"domain_id": "d1"}, "domain_id"),
    ({"fromdate": "yesterday"}, "fromdate"), ({"fromdate": "2026-03-06", "todate": "2026-03-04"}, "fromdate"),
    ({"todate": "9999-01-01"}, "todate"), ({"email": "x" * 321}, "email"),
])
def test_bad_parameters(args: dict[str, str], name: str) -> None:
    with pytest.raises(BadParam) as raised:
        list_query(args)
    assert list(raised.value.details) == [name]


def test_defaults() -> None:
    assert list_query({}) == ListQuery()
    assert list_query({"limit": "1000", "page": "2", "email": " Ada@X "}) == ListQuery(
        email="ada@x", page=2, limit=1000)


def test_global_scope_and_dates() -> None:
    query = list_query({"domain_id": "global", "fromdate": "2026-03-01", "todate": "2026-03-01"})
    assert (query.domain_id, query.start.isoformat() if query.start else None,
            query.end.isoformat() if query.end else None) == (
        GLOBAL, "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")
