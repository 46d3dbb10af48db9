"""Health score (spec §11) over HTTP on both ClickHouse backends (18.16 server and chdb).

Sends are seeded through the real sink; calculations go through the API or the bus and reach
ClickHouse as ``health_scored`` envelopes the same way (the event store's feed -> the sink),
where the ``health_history`` materialized view picks them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask.testing import FlaskClient

from commands.health import CalculateHealthScore
from consumers.clickhouse_sink import ClickHouseSink
from event_store.aggregates import HealthScore
from event_store.application import EmailEvents
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from mailerlogic.scheduler import daily_jobs
from tests.helpers import bus_for
from tests.helpers import envelope
from tests.helpers import new_customer
from warehouse.port import ClickHouse
from web.app import create_app

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
HUMAN = {"user_agent": CHROME, "ip": "203.0.113.5", "seconds_since_sent": 3600}
GATEWAY = {"user_agent": "Barracuda Sentinel (EE)", "ip": "64.235.1.1", "seconds_since_sent": 1}
TODAY = datetime.now(UTC).date()


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


SEEDED = at(TODAY - timedelta(days=5), 12)
D2, D1 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)


def poor_sender(customer: UUID, first_position: int) -> list[Envelope]:
    """200 accepted: 190 delivered, 6 bounced, 4 failed; 40 human opens and 1 scanner-only
    open (41 unique opens, capped to 40 for the score); 3 clicks; 1 complaint."""
    ids = [uuid4() for _ in range(200)]
    steps: list[tuple[str, UUID, dict[str, Any]]] = []
    for i, email in enumerate(ids):
        steps.append(("queued", email, {}))
        steps.append(("delivered" if i < 190 else "bounced" if i < 196 else "failed", email, {}))
    steps += [("opened", email, HUMAN) for email in ids[:40]] + [("opened", ids[40], GATEWAY)]
    steps += [("clicked", email, HUMAN) for email in ids[:3]] + [("complained", ids[5], {})]
    return _envelopes(customer, first_position, SEEDED, steps)


def perfect_sender(customer: UUID, first_position: int) -> list[Envelope]:
    """10 delivered, 3 opened by humans, 1 clicked."""
    ids = [uuid4() for _ in range(10)]
    steps = [(kind, email, {}) for email in ids for kind in ("queued", "delivered")]
    steps += [("opened", email, HUMAN) for email in ids[:3]] + [("clicked", ids[0], HUMAN)]
    return _envelopes(customer, first_position, SEEDED, steps)


def _envelopes(customer: UUID, first: int, when: datetime,
               steps: list[tuple[str, UUID, dict[str, Any]]]) -> list[Envelope]:
    return [envelope(kind, first + n, customer_id=customer, email_id=email, at=when, **extra)
            for n, (kind, email, extra) in enumerate(steps)]


RECOMMENDATIONS = [
    "Bounce rate is 3.0% (acceptable): remove hard-bounced and invalid addresses and validate lists "
    "before sending, to get it under 2.0%.",
    "Complaint rate is 0.53% (poor): send only to opted-in recipients, make unsubscribing easy and "
    "send less often, to get it under 0.1%.",
    "Delivery rate is 95.0% (acceptable): check SPF, DKIM and DMARC on your sending domains and stop "
    "sending to failing addresses, to get it at least 98.0%.",
    "Open rate is 21.05% (acceptable): improve subject lines and sender name, and send to recently "
    "engaged recipients, to get it at least 25.0%.",
    "Click rate is 1.58% (poor): give each email one clear call to action and target content to each "
    "segment, to get it at least 3.0%.",
]
# By hand: bounce 3.0% -> 100 - 50 x (3 - 2) / (5 - 2) = 83.33; complaint 1/190 = 0.53% ->
# 50 - 50 x 0.03 / 0.5 = 47; delivery 95% -> 50; opens min(41, 40)/190 = 21.05% ->
# 100 - 50 x 3.95 / 5 = 60.5; clicks 3/190 = 1.58% -> 50 - 50 x 0.42 / 1.5 = 36.
# Overall (83.33 x 35 + 47 x 35 + 50 x 15 + 60.5 x 10 + 36 x 5) / 100 = 60.9655 -> 61.0, D, poor.
POOR_BODY = {
    "health_score": {
        "overall_score": 61.0, "bounce_rate": 3.0, "complaint_rate": 0.53, "delivery_rate": 95.0,
        "open_rate": 21.58, "click_rate": 1.58, "reputation_grade": "D", "last_calculated": "?",
    },
    "insights": {
        "status": "poor",
        "summary": "Health is poor at 61.0/100 (grade D); the weakest area is complaint "
                   "(complaint rate 0.53%).",
        "recommendations": RECOMMENDATIONS,
    },
    "benchmarks": {
        "bounce_rate": {"good": 2.0, "average": 5.0, "poor": 10.0},
        "complaint_rate": {"good": 0.1, "average": 0.5, "poor": 1.0},
        "delivery_rate": {"good": 98.0, "average": 95.0, "poor": 90.0},
        "open_rate": {"good": 25.0, "average": 20.0, "poor": 10.0},
    },
    "components": [
        {"name": "bounce", "metric": "bounce_rate", "value": 3.0, "score": 83.33, "weight": 35,
         "band": "acceptable"},
        {"name": "complaint", "metric": "complaint_rate", "value": 0.53, "score": 47.0, "weight": 35,
         "band": "poor"},
        {"name": "delivery", "metric": "delivery_rate", "value": 95.0, "score": 50.0, "weight": 15,
         "band": "acceptable"},
        {"name": "opens", "metric": "open_rate", "value": 21.05, "score": 60.5, "weight": 10,
         "band": "acceptable"},
        {"name": "clicks", "metric": "click_rate", "value": 1.58, "score": 36.0, "weight": 5,
         "band": "poor"},
    ],
}  # fmt: skip
POOR_DAY = {"overall_score": 61.0, "reputation_grade": "D", "delivery_rate": 95.0, "open_rate": 21.58,
            "click_rate": 1.58, "bounce_rate": 3.0, "complaint_rate": 0.53}
# After 4 more bounces: 204 sent, 10 bounced (4.9%), delivery 190/204 = 93.14% -> bounce 51.67,
# delivery 50 - 50 x 1.86 / 5 = 31.4; (51.67 x 35 + 47 x 35 + 31.4 x 15 + 60.5 x 10 + 36 x 5) / 100
# = 47.0945 -> 47.1, F.
WORSE_DAY = {"overall_score": 47.1, "reputation_grade": "F", "delivery_rate": 93.14, "open_rate": 21.58,
             "click_rate": 1.58, "bounce_rate": 4.9, "complaint_rate": 0.53}
NO_DATA = {"error": "no_data", "message": "no data yet, send some emails first"}


@dataclass
class Rig:
    """The API over a POPO event store and one ClickHouse backend, with three customers:
    ``poor`` and ``perfect`` have sent, ``silent`` has not."""

    events: EmailEvents
    clickhouse: ClickHouse
    http: FlaskClient
    settings: Settings
    ids: dict[str, UUID]
    keys: dict[str, str]

    def call(self, method: str, path: str, who: str) -> tuple[int, Any]:
        response = self.http.open(path, method=method, headers={"X-API-Key": self.keys[who]})
        return response.status_code, response.get_json()

    def head(self) -> int:
        return self.events.recorder_.max_notification_id() or 0

    def project(self) -> None:
        """The event store's feed through the real sink, twice (a redelivery changes nothing)."""
        batch = NotificationFeed(self.events).read(0, 10_000).envelopes
        ClickHouseSink(self.clickhouse).write(batch)
        ClickHouseSink(self.clickhouse).write(batch)

    def calculations(self, who: str) -> int:
        try:
            stored = self.events.repository.get(HealthScore.create_id(self.ids[who]))
        except Exception:  # noqa: BLE001 - no record yet
            return 0
        return sum(isinstance(e, HealthScore.Calculated)
                   for e in self.events.repository.event_store.get(stored.id))


@pytest.fixture
def rig(clickhouse: ClickHouse, tmp_path: Path) -> Rig:
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    app = create_app(settings, events=events, clickhouse=lambda: clickhouse)
    ids, keys = {}, {}
    for name in ("poor", "perfect", "silent"):
        customer, keys[name] = new_customer(bus_for(events, b"k"), f"{name}.test")
        ids[name] = customer.id
    sink = ClickHouseSink(clickhouse)
    sink.write(poor_sender(ids["poor"], 1_000_000))
    sink.write(perfect_sender(ids["perfect"], 2_000_000))
    return Rig(events, clickhouse, app.test_client(), settings, ids, keys)


def _stamp(body: dict[str, Any]) -> datetime:
    text = body["health_score"]["last_calculated"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _without_stamp(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "health_score": {**body["health_score"], "last_calculated": "?"}}


def test_every_component_score_grade_and_status_of_a_seeded_sender(rig: Rig) -> None:
    before, head = datetime.now(UTC).replace(microsecond=0), rig.head()
    status, body = rig.call("GET", "/api/customer/health-score", "poor")
    assert status == 200, body
    assert _without_stamp(body) == POOR_BODY
    assert before <= _stamp(body) <= datetime.now(UTC)
    assert (rig.head() - head, rig.calculations("poor")) == (2, 1)  # Started + Calculated
    assert rig.call("GET", "/api/v1/customer/health-score", "poor") == (200, body)  # fresh: reused
    assert rig.calculations("poor") == 1


def test_404_before_any_send_records_nothing(rig: Rig) -> None:
    head = rig.head()
    assert rig.call("GET", "/api/customer/health-score", "silent") == (404, NO_DATA)
    assert rig.call("POST", "/api/customer/health-score/refresh", "silent") == (404, NO_DATA)
    assert rig.call("GET", "/api/customer/health-score/history", "silent") == (
        200, {"history": [], "period_days": 30})
    assert rig.head() == head


def test_refresh_appends_exactly_one_event(rig: Rig) -> None:
    first = rig.call("GET", "/api/customer/health-score", "poor")[1]
    head = rig.head()
    status, body = rig.call("POST", "/api/v1/customer/health-score/refresh", "poor")
    assert status == 200
    assert rig.head() == head + 1
    assert rig.calculations("poor") == 2
    assert {**body, "health_score": {**body["health_score"], "last_calculated": "?"}} == {
        "health_score": POOR_BODY["health_score"],
        "insights": {"status": "poor", "summary": POOR_BODY["insights"]["summary"]},  # type: ignore[index]
        "components": POOR_BODY["components"],
        "message": "Health score refreshed successfully",
    }
    assert _stamp(body) >= _stamp(first)
    again = rig.call("GET", "/api/customer/health-score", "poor")[1]
    assert (again["health_score"]["last_calculated"], rig.head()) == (
        body["health_score"]["last_calculated"], head + 1)


def test_history_has_the_latest_calculation_of_each_day(rig: Rig) -> None:
    bus = rig.http.application.extensions["bus"]
    poor = rig.ids["poor"]
    bus.handle(CalculateHealthScore(poor, at(D2, 12)))
    bus.handle(CalculateHealthScore(poor, at(D1, 6)))
    extra = [uuid4() for _ in range(4)]
    worse = [(kind, email, {}) for email in extra for kind in ("queued", "bounced")]
    ClickHouseSink(rig.clickhouse).write(_envelopes(poor, 3_000_000, at(D1, 7), worse))
    bus.handle(CalculateHealthScore(poor, at(D1, 18)))
    bus.handle(CalculateHealthScore(poor, at(TODAY, 0, 0, 30)))
    rig.project()
    days = [{"date": D2.isoformat(), **POOR_DAY}, {"date": D1.isoformat(), **WORSE_DAY},
            {"date": TODAY.isoformat(), **WORSE_DAY}]
    path = "/api/customer/health-score/history"
    assert rig.call("GET", path, "poor") == (200, {"history": days, "period_days": 30})
    assert rig.call("GET", f"{path}?days=3", "poor") == (200, {"history": days, "period_days": 3})
    assert rig.call("GET", f"/api/v1{path[4:]}?days=2", "poor") == (
        200, {"history": days[1:], "period_days": 2})
    assert rig.call("GET", f"{path}?days=1", "poor") == (200, {"history": days[2:], "period_days": 1})
    assert rig.call("GET", f"{path}?days=365", "poor")[1]["history"] == days


@pytest.mark.parametrize("days", ["0", "366", "abc", "-1", "1.5", "٣"])
def test_history_days_out_of_range_is_400(rig: Rig, days: str) -> None:
    status, body = rig.call("GET", f"/api/customer/health-score/history?days={days}", "poor")
    assert (status, body) == (400, {
        "error": "invalid_parameter", "message": "days: must be a whole number from 1 to 365",
        "details": {"days": ["must be a whole number from 1 to 365"]}})


def test_customers_see_only_their_own_scores_and_history(rig: Rig) -> None:
    assert rig.call("GET", "/api/customer/health-score", "poor")[1]["health_score"]["overall_score"] == 61.0
    status, body = rig.call("GET", "/api/customer/health-score", "perfect")
    assert (status, body["health_score"]["overall_score"], body["insights"]["status"]) == (
        200, 100.0, "excellent")
    assert (body["health_score"]["open_rate"], body["insights"]["recommendations"]) == (30.0, [])
    rig.project()
    perfect = rig.call("GET", "/api/customer/health-score/history", "perfect")[1]["history"]
    assert [(d["date"], d["overall_score"]) for d in perfect] == [(TODAY.isoformat(), 100.0)]
    assert rig.call("GET", "/api/customer/health-score/history", "silent")[1]["history"] == []
    assert rig.http.get("/api/customer/health-score").status_code == 401
    assert rig.http.get("/api/customer/health-score/history").status_code == 401


def test_the_daily_job_records_once_per_customer_and_day(rig: Rig) -> None:
    job = daily_jobs(rig.settings, rig.events, lambda: rig.clickhouse)["health"]
    rig.call("POST", "/api/customer/health-score/refresh", "perfect")  # already scored today
    now = datetime.now(UTC)
    head = rig.head()
    job(rig.settings, now)
    assert (rig.calculations("poor"), rig.calculations("perfect"), rig.calculations("silent")) == (1, 1, 0)
    job(rig.settings, now)  # a restart, or a second scheduler, on the same day
    assert rig.head() == head + 2  # Started + Calculated for "poor" only
    tomorrow = now + timedelta(days=1)
    job(rig.settings, tomorrow)
    job(rig.settings, tomorrow)
    assert (rig.calculations("poor"), rig.calculations("perfect")) == (2, 2)
    rig.project()
    history = rig.call("GET", "/api/customer/health-score/history", "poor")[1]["history"]
    assert history == [{"date": TODAY.isoformat(), **POOR_DAY}]  # tomorrow is not in the window yet
