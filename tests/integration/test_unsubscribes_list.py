"""The unsubscribe list (spec §10) from the ``suppressions`` projection, on both backends.

Envelopes go through the real sink into ``events``; the materialized view fills
``suppressions``; the view answers with exact entries. The statistics never count the
internal ``suppressed`` and ``resubscribed`` types.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from event_store.envelope import Envelope
from projections import events
from read_api.series import series
from read_api.unsubscribes import list_query
from read_api.unsubscribes import unsubscribes
from read_api.views import outbound_totals
from tests.helpers import envelope
from warehouse.port import ClickHouse

D1, D2 = UUID(int=0xD1), UUID(int=0xD2)
S = {n: UUID(int=0x5000 + n) for n in range(1, 13)}
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


# (position, customer "A"/"B", type, email, domain, source, reason, day); positions are versions.
STEPS: list[tuple[int, str, str, str, UUID | None, str | None, str | None, int]] = [
    (1, "A", "unsubscribed", "a@x.org", None, "link", None, 1),
    (2, "A", "unsubscribed", "b@x.org", D1, "api", "asked by phone", 2),
    (3, "A", "suppressed", "c@x.org", None, "bounce", "550 5.1.1 user unknown", 3),
    (4, "A", "suppressed", "d@x.org", None, "complaint", "abuse", 4),
    (5, "A", "unsubscribed", "b@x.org", D2, "manual", None, 5),
    (6, "A", "unsubscribed", "e@x.org", None, "one-click", None, 6),
    (7, "A", "resubscribed", "a@x.org", None, None, None, 7),
    (8, "A", "unsubscribed", "a@x.org", D1, "api", None, 8),
    (9, "B", "unsubscribed", "b@x.org", None, "api", None, 9),
    (10, "A", "unsubscribed", "f@other.org", D2, "api", None, 10),
    (11, "A", "resubscribed", "f@other.org", D2, None, None, 11),
    (12, "A", "unsubscribed", "f@other.org", D2, "link", "again", 12),
]


def story(customers: dict[str, UUID]) -> list[Envelope]:
    """The envelopes of STEPS, as event_store.publishing writes them."""
    found = []
    for position, who, kind, email, domain, source, reason, day in STEPS:
        payload: dict[str, Any] = {"recipient": email, "domain_id": str(domain) if domain else None}
        if kind != "resubscribed":
            payload |= {"source": source, "reason": reason, "suppression_id": str(S[position])}
        email_id = uuid4() if kind == "suppressed" else None
        found.append(envelope(kind, position, customer_id=customers[who], email_id=email_id,
                              at=at(day), **payload))
    return found


def entry(n: int, email: str, domain: UUID | None, source: str, day: int,
          reason: str | None = None) -> dict[str, Any]:
    return {"id": str(S[n]), "email": email, "domain_id": str(domain) if domain else None,
            "source": source, "reason": reason, "created_at": f"2026-03-{day:02d}T10:00:00Z"}


E12 = entry(12, "f@other.org", D2, "link", 12, "again")
E8 = entry(8, "a@x.org", D1, "api", 8)
E6 = entry(6, "e@x.org", None, "one-click", 6)
E5 = entry(5, "b@x.org", D2, "manual", 5)
E4 = entry(4, "d@x.org", None, "complaint", 4, "abuse")
E3 = entry(3, "c@x.org", None, "bounce", 3, "550 5.1.1 user unknown")
E2 = entry(2, "b@x.org", D1, "api", 2, "asked by phone")
ALL = [E12, E8, E6, E5, E4, E3, E2]


@pytest.fixture
def customers(clickhouse: ClickHouse) -> dict[str, UUID]:
    found = {"A": uuid4(), "B": uuid4()}
    ClickHouseSink(clickhouse).write(story(found))
    return found


def listed(client: ClickHouse, customer: UUID, **args: str) -> dict[str, Any]:
    return unsubscribes(client, customer_id=customer, query=list_query(args))


def test_active_entries_newest_first(clickhouse: ClickHouse, customers: dict[str, UUID]) -> None:
    assert listed(clickhouse, customers["A"]) == {
        "unsubscribes": ALL, "pagination": {"page": 1, "limit": 50, "total": 7, "pages": 1}}


@pytest.mark.parametrize(("args", "expected"), [
    ({"email": "B@X"}, [E5, E2]),
    ({"email": "x.org"}, [E8, E6, E5, E4, E3, E2]),
    ({"email": "nobody"}, []),
    ({"domain_id": str(D1)}, [E8, E2]),
    ({"domain_id": str(D2)}, [E12, E5]),
    ({"domain_id": "global"}, [E6, E4, E3]),
    ({"source": "bounce"}, [E3]),
    ({"source": "complaint"}, [E4]),
    ({"source": "api"}, [E8, E2]),
    ({"source": "link"}, [E12]),
    ({"source": "one-click"}, [E6]),
    ({"source": "manual"}, [E5]),
    ({"fromdate": "2026-03-04", "todate": "2026-03-06"}, [E6, E5, E4]),
    ({"fromdate": "2026-03-05T10:00:00Z"}, [E12, E8, E6, E5]),
    ({"todate": "2026-03-05T10:00:00Z"}, [E4, E3, E2]),
    ({"todate": "2026-03-05T09:59:59.5Z"}, [E4, E3, E2]),
    ({"fromdate": "2026-03-05T09:59:59.5Z", "todate": "2026-03-05T10:00:00.5Z"}, [E5]),
    ({"email": "b@", "domain_id": str(D2), "source": "manual"}, [E5]),
    ({"email": "b@", "source": "bounce"}, []),
], ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else "")
def test_filters(clickhouse: ClickHouse, customers: dict[str, UUID], args: dict[str, str],
                 expected: list[dict[str, Any]]) -> None:
    got = listed(clickhouse, customers["A"], **args)
    assert got["unsubscribes"] == expected
    assert got["pagination"]["total"] == len(expected)


def test_pages(clickhouse: ClickHouse, customers: dict[str, UUID]) -> None:
    pages = [listed(clickhouse, customers["A"], limit="3", page=str(n)) for n in (1, 2, 3, 4)]
    assert [p["unsubscribes"] for p in pages] == [[E12, E8, E6], [E5, E4, E3], [E2], []]
    assert [p["pagination"] for p in pages] == [
        {"page": n, "limit": 3, "total": 7, "pages": 3} for n in (1, 2, 3, 4)]
    one = listed(clickhouse, customers["A"], limit="1000", page="1", source="api")
    assert one["pagination"] == {"page": 1, "limit": 1000, "total": 2, "pages": 1}


def test_tenants_see_only_their_entries(clickhouse: ClickHouse, customers: dict[str, UUID]) -> None:
    assert listed(clickhouse, customers["B"]) == {
        "unsubscribes": [entry(9, "b@x.org", None, "api", 9)],
        "pagination": {"page": 1, "limit": 50, "total": 1, "pages": 1}}
    assert listed(clickhouse, uuid4()) == {
        "unsubscribes": [], "pagination": {"page": 1, "limit": 50, "total": 0, "pages": 1}}


def test_redelivery_and_duplicate_rows_change_nothing(clickhouse: ClickHouse,
                                                      customers: dict[str, UUID]) -> None:
    replay = story(customers)
    ClickHouseSink(clickhouse).write(replay)  # the sink skips stored positions
    clickhouse.insert(events.TABLE, events.COLUMNS, events.rows(replay))  # a duplicate slipping by
    keys = "SELECT uniqExact(customer_id, email, domain_id), max(version) FROM suppressions"
    assert clickhouse.execute(keys) == [(9, 12)]
    assert listed(clickhouse, customers["A"])["unsubscribes"] == ALL


def test_an_out_of_order_resubscribe_still_wins(clickhouse: ClickHouse) -> None:
    customer = uuid4()
    replay = story({"A": customer, "B": uuid4()})
    added, removed = replay[0], replay[6]  # a@x.org: unsubscribed at position 1, re-subscribed at 7
    ClickHouseSink(clickhouse).write([removed])
    ClickHouseSink(clickhouse).write([added])  # another partition delivered it late
    assert listed(clickhouse, customer)["unsubscribes"] == []


def test_an_envelope_without_suppression_id_is_listed_by_event_id(clickhouse: ClickHouse) -> None:
    customer = uuid4()
    old = envelope("unsubscribed", 77, customer_id=customer, at=at(20), recipient="old@x.org",
                   domain_id=None, source="link", reason=None)
    ClickHouseSink(clickhouse).write([old])
    [item] = listed(clickhouse, customer)["unsubscribes"]
    assert item == {"id": str(old.event_id), "email": "old@x.org", "domain_id": None, "source": "link",
                    "reason": None, "created_at": "2026-03-20T10:00:00Z"}


def test_statistics_count_unsubscribed_only(clickhouse: ClickHouse, customers: dict[str, UUID]) -> None:
    totals = outbound_totals(clickhouse, customer_id=customers["A"], start=START, end=END)
    assert {k: totals[k] for k in ("unsubscribes", "complaints", "bounced", "sent", "failed")} == {
        "unsubscribes": 7, "complaints": 0, "bounced": 0, "sent": 0, "failed": 0}
    window: dict[str, Any] = {"customer_id": customers["A"], "start": START, "end": END}
    assert series(clickhouse, kind="unsubscribes", **window)["total"] == {"unsubscribes": 7}
    assert series(clickhouse, kind="spam", **window)["total"] == {"complaints": 0}
    assert series(clickhouse, kind="bounces", **window)["total"] == {"bounced": 0, "hard": 0, "soft": 0}
    assert outbound_totals(clickhouse, customer_id=customers["B"], start=START, end=END)["unsubscribes"] == 1
