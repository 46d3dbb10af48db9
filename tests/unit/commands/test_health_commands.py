"""Health-score commands over the POPO event store: what is recorded, when, and what is published."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest

from commands.health import CalculateHealthScore
from event_store.aggregates import HealthScore
from event_store.application import EmailEvents
from event_store.errors import NotFound
from event_store.feed import NotificationFeed
from tests.helpers import bus_for

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
# 200 accepted: 190 delivered, 6 bounced, 4 failed; 41 unique opens (40 human events), 3 clicks,
# 1 complaint -> the §7 rates as read_api.views derives them.
TOTALS: dict[str, int | float] = {
    "sent": 200, "delivered": 190, "bounced": 6, "failed": 4, "opens": 41, "unique_opens": 41,
    "clicks": 3, "unique_clicks": 3, "complaints": 1, "unsubscribes": 0, "human_opens": 40,
    "scanner_opens": 1, "human_clicks": 3, "scanner_clicks": 0, "delivery_rate": 95.0,
    "open_rate": 21.58, "click_rate": 1.58, "bounce_rate": 3.0, "complaint_rate": 0.53,
}  # fmt: skip
NOTHING = dict.fromkeys(TOTALS, 0)


class Totals:
    """The injected §7 reader: answers ``TOTALS`` (or what a test sets) and logs each call."""

    def __init__(self, answer: dict[str, int | float]) -> None:
        self.answer, self.calls = answer, []  # type: ignore[var-annotated]

    def __call__(self, customer_id: UUID, start: datetime, end: datetime) -> dict[str, int | float]:
        self.calls.append((customer_id, start, end))
        return self.answer


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _calculated(events: EmailEvents, customer_id: UUID) -> list[Any]:
    stored = events.repository.get(HealthScore.create_id(customer_id))
    return [e for e in events.repository.event_store.get(stored.id)
            if isinstance(e, HealthScore.Calculated)]


def test_a_calculation_records_every_component_and_is_published_flat(events: EmailEvents) -> None:
    totals, customer = Totals(TOTALS), uuid4()
    calculation = bus_for(events, health_totals=totals).handle(CalculateHealthScore(customer, NOW))
    assert totals.calls == [(customer, NOW - timedelta(days=30), NOW)]
    assert (calculation.recorded, calculation.calculated_at) == (True, NOW)
    assert (calculation.score.overall_score, calculation.score.reputation_grade) == (61.0, "D")
    [event] = _calculated(events, customer)
    assert (event.occurred_at, event.window_start, event.window_end) == (NOW, NOW - timedelta(days=30), NOW)
    assert event.totals == TOTALS
    assert [(c["name"], c["value"], c["score"], c["weight"], c["band"]) for c in event.components] == [
        ("bounce", 3.0, 83.33, 35, "acceptable"), ("complaint", 0.53, 47.0, 35, "poor"),
        ("delivery", 95.0, 50.0, 15, "acceptable"), ("opens", 21.05, 60.5, 10, "acceptable"),
        ("clicks", 1.58, 36.0, 5, "poor"),
    ]  # fmt: skip
    [envelope] = NotificationFeed(events).read(0, 100).envelopes
    assert (envelope.event_type, envelope.customer_id, envelope.email_id) == ("health_scored", customer, None)
    assert envelope.occurred_at == NOW
    assert envelope.payload == {
        "overall_score": 61.0, "reputation_grade": "D", "status": "poor",
        "bounce_rate": 3.0, "complaint_rate": 0.53, "delivery_rate": 95.0, "open_rate": 21.58,
        "click_rate": 1.58, "sent": 200, "delivered": 190, "bounced": 6, "failed": 4, "opens": 41,
        "unique_opens": 41, "clicks": 3, "unique_clicks": 3, "complaints": 1, "unsubscribes": 0,
        "human_opens": 40, "scanner_opens": 1, "human_clicks": 3, "scanner_clicks": 0,
        "bounce_value": 3.0, "bounce_score": 83.33, "bounce_weight": 35, "bounce_band": "acceptable",
        "complaint_value": 0.53, "complaint_score": 47.0, "complaint_weight": 35, "complaint_band": "poor",
        "delivery_value": 95.0, "delivery_score": 50.0, "delivery_weight": 15, "delivery_band": "acceptable",
        "opens_value": 21.05, "opens_score": 60.5, "opens_weight": 10, "opens_band": "acceptable",
        "clicks_value": 1.58, "clicks_score": 36.0, "clicks_weight": 5, "clicks_band": "poor",
        "window_start": "2026-02-13T14:30:00.000000Z", "window_end": "2026-03-15T14:30:00.000000Z",
    }  # fmt: skip


def test_nothing_sent_is_no_data_and_records_nothing(events: EmailEvents) -> None:
    bus = bus_for(events, health_totals=Totals(NOTHING))
    with pytest.raises(NotFound, match="no data yet, send some emails first") as caught:
        bus.handle(CalculateHealthScore(uuid4(), NOW))
    assert (caught.value.code, caught.value.status, _head(events)) == ("no_data", 404, 0)


def test_a_fresh_enough_calculation_is_answered_without_reading_totals(events: EmailEvents) -> None:
    totals, customer = Totals(TOTALS), uuid4()
    bus = bus_for(events, health_totals=totals)
    bus.handle(CalculateHealthScore(customer, NOW))
    later = NOW + timedelta(hours=23)
    again = bus.handle(CalculateHealthScore(customer, later, reuse_since=later - timedelta(hours=24)))
    assert (again.recorded, again.calculated_at, len(totals.calls)) == (False, NOW, 1)
    stale = NOW + timedelta(hours=25)
    fresh = bus.handle(CalculateHealthScore(customer, stale, reuse_since=stale - timedelta(hours=24)))
    assert (fresh.recorded, fresh.calculated_at, len(_calculated(events, customer))) == (True, stale, 2)


def test_without_reuse_every_calculation_is_recorded(events: EmailEvents) -> None:
    bus, customer = bus_for(events, health_totals=Totals(TOTALS)), uuid4()
    for minutes in range(3):
        assert bus.handle(CalculateHealthScore(customer, NOW + timedelta(minutes=minutes))).recorded
    assert len(_calculated(events, customer)) == 3


def test_a_concurrent_calculation_wins_and_is_answered_once(events: EmailEvents) -> None:
    customer, calls = uuid4(), []

    def racing(customer_id: UUID, start: datetime, end: datetime) -> dict[str, int | float]:
        if not calls:  # another process calculates between this one's read and its save
            calls.append(end)
            bus.handle(CalculateHealthScore(customer_id, end - timedelta(seconds=1)))
        return TOTALS

    bus = bus_for(events, health_totals=racing)
    calculation = bus.handle(CalculateHealthScore(customer, NOW))
    assert (calculation.recorded, calculation.calculated_at) == (False, NOW - timedelta(seconds=1))
    assert len(_calculated(events, customer)) == 1


def test_without_a_statistics_store_it_is_unavailable(events: EmailEvents) -> None:
    with pytest.raises(Exception, match="statistics store") as caught:
        bus_for(events).handle(CalculateHealthScore(uuid4(), NOW))
    assert getattr(caught.value, "status", None) == 503
