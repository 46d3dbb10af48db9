"""Stats series on both backends (18.16 server and chdb): zero fill, time zones, DST, filters."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import UUID
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from event_store.envelope import Envelope
from read_api.series import series
from tests.helpers import envelope
from warehouse.port import ClickHouse

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
HUMAN = {"user_agent": CHROME, "ip": "203.0.113.5", "seconds_since_sent": 3600}
APPLE = {"user_agent": "Mozilla/5.0", "ip": "17.58.1.1", "seconds_since_sent": 120}
GATEWAY = {"user_agent": "Barracuda Sentinel (EE)", "ip": "64.235.1.1", "seconds_since_sent": 1}
D1, D2 = UUID(int=0xD1), UUID(int=0xD2)
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
# UTC days 2026-03-13 .. 2026-03-17 (both zones keep one offset in this window: +01:00, -04:00).
START, END = datetime(2026, 3, 13, tzinfo=UTC), datetime(2026, 3, 18, tzinfo=UTC)
DAYS = ["2026-03-13", "2026-03-14", "2026-03-15", "2026-03-16", "2026-03-17"]
SENDS = {"sent": 0, "delivered": 0, "bounced": 0, "failed": 0}
OPENS = {"opens": 0, "unique_opens": 0, "human_opens": 0, "scanner_opens": 0}


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# email -> (domain_id, tag); e1 engages, e2..e4 go wrong, e5 is sent on the DST night.
EMAILS = {
    "e1": (D1, "welcome"),
    "e2": (D2, "news"),
    "e3": (D2, "news"),
    "e4": (D2, "news"),
    "e5": (D1, "welcome"),
}
STEPS: list[tuple[str, str, datetime, dict[str, Any]]] = [
    ("e1", "queued", at(14, 10), {}),
    ("e1", "delivered", at(14, 10, 1), {}),
    ("e1", "opened", at(14, 11), HUMAN),
    ("e1", "clicked", at(14, 11, 5), HUMAN),
    ("e1", "opened", at(14, 11, 20), HUMAN),
    ("e1", "opened", at(16, 9), HUMAN),
    ("e1", "clicked", at(16, 9, 10), GATEWAY),
    ("e1", "complained", at(16, 9, 30), {}),
    ("e1", "unsubscribed", at(16, 9, 31), {}),
    ("e3", "queued", at(15, 12), {}),
    ("e3", "bounced", at(15, 12, 5), {}),
    ("e4", "queued", at(15, 13), {}),
    ("e4", "failed", at(15, 13, 30), {}),
    ("e2", "queued", at(16, 23, 30), {}),
    ("e2", "opened", at(16, 23, 40), APPLE),
    ("e2", "bounced", at(16, 23, 45), {"bounce_type": "soft"}),
    ("e5", "queued", at(29, 22, 30), {}),  # 2026-03-30 00:30 in Berlin, after spring-forward
]


def story(customer: UUID) -> list[Envelope]:
    """The envelopes of STEPS for ``customer``."""
    ids = {name: uuid4() for name in EMAILS}
    return [
        envelope(
            kind,
            position,
            customer_id=customer,
            email_id=ids[name],
            at=when,
            domain_id=str(EMAILS[name][0]),
            tag=EMAILS[name][1],
            **extra,
        )
        for position, (name, kind, when, extra) in enumerate(STEPS, 1)
    ]


@pytest.fixture
def customer(clickhouse: ClickHouse) -> UUID:
    """A customer whose STEPS are stored through the sink."""
    customer_id = uuid4()
    ClickHouseSink(clickhouse).write(story(customer_id))
    return customer_id


def days(zero: dict[str, int], labels: list[str], **changes: dict[str, int]) -> list[dict[str, Any]]:
    """Zero-filled buckets for ``labels``; ``changes`` maps a label (``_`` for ``-``) to counts."""
    return [{"date": label, **zero, **changes.get("d" + label.replace("-", "_"), {})} for label in labels]


def get(client: ClickHouse, customer: UUID, kind: str, **options: Any) -> dict[str, Any]:
    return series(client, kind=kind, customer_id=customer, **{"start": START, "end": END, **options})


def test_sends_are_zero_filled_utc_days(clickhouse: ClickHouse, customer: UUID) -> None:
    assert get(clickhouse, customer, "sends") == {
        "days": days(
            SENDS,
            DAYS,
            d2026_03_14={"sent": 1, "delivered": 1},
            d2026_03_15={"sent": 2, "bounced": 1, "failed": 1},
            d2026_03_16={"sent": 1, "bounced": 1},
        ),
        "total": {"sent": 4, "delivered": 1, "bounced": 2, "failed": 1},
    }


def test_2330_utc_is_the_next_day_in_berlin(clickhouse: ClickHouse, customer: UUID) -> None:
    local = {"start": START.replace(tzinfo=BERLIN), "end": END.replace(tzinfo=BERLIN)}
    got = get(clickhouse, customer, "sends", timezone="Europe/Berlin", **local)
    assert got["days"] == days(
        SENDS,
        DAYS,
        d2026_03_14={"sent": 1, "delivered": 1},
        d2026_03_15={"sent": 2, "bounced": 1, "failed": 1},
        d2026_03_17={"sent": 1, "bounced": 1},
    )


def test_2330_utc_is_the_same_day_in_new_york(clickhouse: ClickHouse, customer: UUID) -> None:
    local = {"start": START.replace(tzinfo=NEW_YORK), "end": END.replace(tzinfo=NEW_YORK)}
    got = get(clickhouse, customer, "sends", timezone="America/New_York", **local)
    assert got == get(clickhouse, customer, "sends")


def test_day_after_spring_forward_in_berlin(clickhouse: ClickHouse, customer: UUID) -> None:
    window = {"start": datetime(2026, 3, 28, tzinfo=BERLIN), "end": datetime(2026, 3, 31, tzinfo=BERLIN)}
    got = get(clickhouse, customer, "sends", timezone="Europe/Berlin", **window)
    assert got["days"] == days(SENDS, ["2026-03-28", "2026-03-29", "2026-03-30"], d2026_03_30={"sent": 1})
    utc = get(clickhouse, customer, "sends", **window)  # the same instants, in UTC days
    assert [day["date"] for day in utc["days"] if day["sent"]] == ["2026-03-29"]


def test_unique_opens_per_bucket_and_over_the_window(clickhouse: ClickHouse, customer: UUID) -> None:
    assert get(clickhouse, customer, "opens") == {
        "days": days(
            OPENS,
            DAYS,
            d2026_03_14={"opens": 2, "unique_opens": 1, "human_opens": 2},
            d2026_03_16={"opens": 2, "unique_opens": 2, "human_opens": 1, "scanner_opens": 1},
        ),
        "total": {"opens": 4, "unique_opens": 2, "human_opens": 3, "scanner_opens": 1},
    }


def test_human_only_filter_shapes_opens_and_unique_opens(clickhouse: ClickHouse, customer: UUID) -> None:
    got = get(clickhouse, customer, "opens", filter="human_only")
    assert [(d["opens"], d["unique_opens"], d["scanner_opens"]) for d in got["days"]] == [
        (0, 0, 0),
        (2, 1, 0),
        (0, 0, 0),
        (1, 1, 1),
        (0, 0, 0),
    ]
    assert got["total"] == {"opens": 3, "unique_opens": 1, "human_opens": 3, "scanner_opens": 1}


@pytest.mark.parametrize(
    ("kind", "total"),
    [
        ("bounces", {"bounced": 2, "hard": 1, "soft": 1}),
        ("clicks", {"clicks": 2, "unique_clicks": 1, "human_clicks": 1, "scanner_clicks": 1}),
        ("spam", {"complaints": 1}),
        ("unsubscribes", {"unsubscribes": 1}),
    ],
)
def test_each_kind_has_its_counts(
    clickhouse: ClickHouse, customer: UUID, kind: str, total: dict[str, int]
) -> None:
    got = get(clickhouse, customer, kind)
    assert got["total"] == total
    assert {key: sum(day[key] for day in got["days"]) for key in total} == {
        **total,
        **({"unique_clicks": 2} if kind == "clicks" else {}),
    }  # e1 clicked on two days


def test_bounce_types_per_day(clickhouse: ClickHouse, customer: UUID) -> None:
    got = get(clickhouse, customer, "bounces")
    assert got["days"] == days(
        {"bounced": 0, "hard": 0, "soft": 0},
        DAYS,
        d2026_03_15={"bounced": 1, "hard": 1},
        d2026_03_16={"bounced": 1, "soft": 1},
    )


def test_hour_interval_labels_follow_the_zone(clickhouse: ClickHouse, customer: UUID) -> None:
    window = {"start": at(16, 9, 15), "end": at(16, 11, 1), "interval": "hour"}
    utc = get(clickhouse, customer, "clicks", **window)
    assert utc["days"] == [
        {
            "date": "2026-03-16T09:00:00Z",
            "clicks": 1,
            "unique_clicks": 1,
            "human_clicks": 0,
            "scanner_clicks": 1,
        },
        {
            "date": "2026-03-16T10:00:00Z",
            "clicks": 0,
            "unique_clicks": 0,
            "human_clicks": 0,
            "scanner_clicks": 0,
        },
        {
            "date": "2026-03-16T11:00:00Z",
            "clicks": 0,
            "unique_clicks": 0,
            "human_clicks": 0,
            "scanner_clicks": 0,
        },
    ]
    local = get(clickhouse, customer, "clicks", timezone="America/New_York", **window)
    assert [day["date"] for day in local["days"]] == [
        "2026-03-16T05:00:00-04:00",
        "2026-03-16T06:00:00-04:00",
        "2026-03-16T07:00:00-04:00",
    ]
    assert (
        get(clickhouse, customer, "clicks", timezone="Asia/Kolkata", **window)["days"][0]["date"]
        == "2026-03-16T14:30:00+05:30"
    )


def test_hour_labels_across_spring_forward(clickhouse: ClickHouse, customer: UUID) -> None:
    window = {"start": at(29, 0, month=3), "end": at(29, 3, month=3), "interval": "hour"}
    got = get(clickhouse, customer, "spam", timezone="Europe/Berlin", **window)
    assert got == {
        "days": [
            {"date": "2026-03-29T01:00:00+01:00", "complaints": 0},
            {"date": "2026-03-29T03:00:00+02:00", "complaints": 0},
            {"date": "2026-03-29T04:00:00+02:00", "complaints": 0},
        ],
        "total": {"complaints": 0},
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"tag": "news"},
            {"d2026_03_15": {"sent": 2, "bounced": 1, "failed": 1}, "d2026_03_16": {"sent": 1, "bounced": 1}},
        ),
        ({"domain_id": D1}, {"d2026_03_14": {"sent": 1, "delivered": 1}}),
        ({"domain_id": D1, "tag": "news"}, {}),
    ],
    ids=["tag", "domain_id", "domain_and_tag"],
)
def test_dimension_filters(
    clickhouse: ClickHouse, customer: UUID, filters: dict[str, Any], expected: dict[str, dict[str, int]]
) -> None:
    got = get(clickhouse, customer, "sends", **filters)
    assert got["days"] == days(SENDS, DAYS, **expected)
    assert got["total"] == {key: sum(day[key] for day in got["days"]) for key in SENDS}


def test_other_customer_and_empty_window(clickhouse: ClickHouse, customer: UUID) -> None:
    assert get(clickhouse, uuid4(), "spam") == {
        "days": days({"complaints": 0}, DAYS),
        "total": {"complaints": 0},
    }
    assert get(clickhouse, customer, "spam", end=START) == {"days": [], "total": {"complaints": 0}}


@pytest.mark.parametrize(
    "options",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "../etc/passwd"},
        {"timezone": ""},
        {"interval": "week"},
        {"filter": "bots"},
        {"kind": "deliveries"},
    ],
)
def test_invalid_options_raise_value_error(clickhouse: ClickHouse, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        get(clickhouse, uuid4(), **{"kind": "sends", **options})
