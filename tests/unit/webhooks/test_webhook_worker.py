"""The webhook worker over an in-memory delivery store, retry schedule and scripted poster."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from uuid import UUID
from uuid import uuid4
from uuid import uuid5

import pytest

from consumers.webhooks.payload import Endpoint
from consumers.webhooks.payload import body
from consumers.webhooks.payload import sign
from consumers.webhooks.ports import Delivery
from consumers.webhooks.schedule import WebhookSchedule
from consumers.webhooks.sender import Attempt
from consumers.webhooks.worker import GONE
from consumers.webhooks.worker import WebhookSink
from consumers.webhooks.worker import WebhookWorker
from tests.helpers import envelope

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
SCHEDULE = WebhookSchedule(first_delay=timedelta(seconds=10), factor=2, max_delay=timedelta(seconds=40),
                           budget=timedelta(seconds=25))  # retries at +10 s, +30 s is past: gives up
SECRET = b"whsec_test"
OK, DOWN = Attempt(200, True, "", 3, "thanks"), Attempt(500, False, "HTTP 500", 4, "oops")
RETRY_AT = NOW + timedelta(seconds=10, milliseconds=4)  # the first wait starts after DOWN's 4 ms


class MemoryStore:
    """Endpoints and deliveries in dicts, with the aggregate's rule: nothing after a final status."""

    def __init__(self, journal: list[str]) -> None:
        self.by_customer: dict[UUID, list[Endpoint]] = {}
        self.deliveries: dict[UUID, Delivery] = {}
        self.attempts: dict[UUID, list[tuple[Attempt, datetime, datetime | None]]] = {}
        self.reasons: dict[UUID, str] = {}
        self.crash_on_record = False
        self.journal = journal

    def delivery_id(self, endpoint_id: UUID, event_id: UUID) -> UUID:
        return uuid5(endpoint_id, str(event_id))

    def endpoints(self, customer_id: UUID) -> list[Endpoint]:
        return list(self.by_customer.get(customer_id, []))

    def load(self, delivery_id: UUID) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    def record(self, delivery: Delivery, attempt: Attempt, attempted_at: datetime,
               next_attempt_at: datetime | None) -> Delivery:
        if self.crash_on_record:
            raise RuntimeError("event store down")
        current = self.deliveries.get(delivery.delivery_id, delivery)
        if current.status != "pending":
            return current
        self.journal.append("record")
        self.attempts.setdefault(delivery.delivery_id, []).append((attempt, attempted_at, next_attempt_at))
        status = "delivered" if attempt.ok else ("pending" if next_attempt_at else "failed")
        after = replace(current, status=status, attempts=current.attempts + 1,
                        first_attempt_at=current.first_attempt_at or attempted_at,
                        next_attempt_at=next_attempt_at)
        self.deliveries[delivery.delivery_id] = after
        return after

    def abandon(self, delivery_id: UUID, reason: str) -> None:
        self.deliveries[delivery_id] = replace(self.deliveries[delivery_id], status="failed")
        self.reasons[delivery_id] = reason


class MemoryRetries:
    """The retry schedule as a dict, journaling writes."""

    def __init__(self, journal: list[str]) -> None:
        self.due: dict[UUID, datetime] = {}
        self.journal = journal

    def upsert(self, delivery_id: UUID, due_at: datetime) -> None:
        self.journal.append("schedule")
        self.due[delivery_id] = due_at

    def ensure(self, delivery_id: UUID, due_at: datetime) -> None:
        self.due.setdefault(delivery_id, due_at)

    def delete(self, delivery_id: UUID) -> None:
        self.due.pop(delivery_id, None)

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[UUID]:
        return [k for k, v in self.due.items() if v <= now][:limit]

    def release(self, delivery_ids: Sequence[UUID], now: datetime) -> None:
        """Nothing to release: claims do not move entries here."""


class ScriptedPoster:
    """Answers from a script, recording every request."""

    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        self.posts.append((url, body, dict(headers)))
        return self.answers.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _setup(*answers: Attempt) -> tuple[WebhookWorker, MemoryStore, MemoryRetries, ScriptedPoster, Clock]:
    journal: list[str] = []
    store, retries = MemoryStore(journal), MemoryRetries(journal)
    poster, clock = ScriptedPoster(*answers), Clock()
    return WebhookWorker(store, poster, retries, SCHEDULE, clock), store, retries, poster, clock


def _endpoint(store: MemoryStore, customer_id: UUID, **fields: object) -> Endpoint:
    endpoint = Endpoint(uuid4(), "https://hooks.example.org/in", secret=SECRET, **fields)  # type: ignore[arg-type]
    store.by_customer.setdefault(customer_id, []).append(endpoint)
    return endpoint


def test_a_success_posts_the_signed_body_once_and_is_delivered() -> None:
    worker, store, retries, poster, _ = _setup(OK)
    customer = uuid4()
    endpoint = _endpoint(store, customer)
    opened = envelope("opened", 7, customer_id=customer, domain_id=str(uuid4()))

    WebhookSink(worker).write([opened])

    [(url, sent, headers)] = poster.posts
    ts = str(int(NOW.timestamp()))
    assert (url, sent) == ("https://hooks.example.org/in", body(opened))
    assert headers["X-MailerLogic-Event-Id"] == str(opened.event_id)
    assert headers["X-MailerLogic-Timestamp"] == ts
    assert headers["X-MailerLogic-Signature"] == sign(SECRET, ts, body(opened))
    delivery_id = uuid5(endpoint.id, str(opened.event_id))
    assert store.attempts[delivery_id] == [(OK, NOW, None)]
    assert (store.deliveries[delivery_id].status, retries.due) == ("delivered", {})


def test_a_failure_is_scheduled_before_it_is_recorded_then_retried_to_success() -> None:
    worker, store, retries, poster, clock = _setup(DOWN, OK)
    customer = uuid4()
    endpoint = _endpoint(store, customer)
    clicked = envelope("clicked", 8, customer_id=customer)
    delivery_id = uuid5(endpoint.id, str(clicked.event_id))

    WebhookSink(worker).write([clicked])
    assert store.journal == ["schedule", "record"]
    assert retries.due == {delivery_id: RETRY_AT}

    clock.now = RETRY_AT
    assert worker.retry(delivery_id) == OK

    assert store.attempts[delivery_id] == [(DOWN, NOW, RETRY_AT),
                                           (OK, RETRY_AT, None)]
    assert (store.deliveries[delivery_id].status, retries.due) == ("delivered", {})
    assert [p[1] for p in poster.posts] == [body(clicked), body(clicked)]


def test_the_schedule_gives_up_after_its_budget() -> None:
    worker, store, retries, _, clock = _setup(DOWN, DOWN)
    customer = uuid4()
    endpoint = _endpoint(store, customer)
    failed = envelope("failed", 9, customer_id=customer)
    delivery_id = uuid5(endpoint.id, str(failed.event_id))

    WebhookSink(worker).write([failed])
    clock.now = RETRY_AT
    worker.retry(delivery_id)  # the next wait (20 s) would end past 25 s from the first attempt

    assert [a[2] for a in store.attempts[delivery_id]] == [RETRY_AT, None]
    assert (store.deliveries[delivery_id].status, retries.due) == ("failed", {})


def test_a_redelivered_event_posts_nothing_more() -> None:
    worker, store, retries, poster, _ = _setup(OK, DOWN)
    customer = uuid4()
    _endpoint(store, customer, events=("email.opened",))
    _endpoint(store, customer, events=("email.clicked",))
    opened = envelope("opened", 10, customer_id=customer)
    clicked = envelope("clicked", 11, customer_id=customer)
    sink = WebhookSink(worker)

    sink.write([opened, clicked, opened])  # the same event twice in one batch too
    sink.write([opened, clicked])  # delivered, and pending on the schedule

    assert len(poster.posts) == 2
    assert sorted(d.status for d in store.deliveries.values()) == ["delivered", "pending"]
    assert len(retries.due) == 1


def test_endpoints_filtered_by_event_or_domain_and_internal_events_get_nothing() -> None:
    worker, store, _, poster, _ = _setup()
    customer, domain = uuid4(), uuid4()
    _endpoint(store, customer, events=("email.clicked",))
    _endpoint(store, customer, domain_ids=(uuid4(),))
    _endpoint(store, customer, is_active=False)

    WebhookSink(worker).write([envelope("opened", 12, customer_id=customer, domain_id=str(domain)),
                               envelope("queued", 13, customer_id=customer)])

    assert (poster.posts, store.deliveries) == ([], {})


def test_a_retry_whose_endpoint_was_removed_gives_up_without_a_post() -> None:
    worker, store, retries, poster, clock = _setup(DOWN)
    customer = uuid4()
    endpoint = _endpoint(store, customer)
    sent = envelope("sent", 14, customer_id=customer)
    WebhookSink(worker).write([sent])
    store.by_customer[customer] = []

    clock.now = RETRY_AT
    delivery_id = uuid5(endpoint.id, str(sent.event_id))
    assert worker.retry(delivery_id) is None

    assert (len(poster.posts), store.deliveries[delivery_id].status) == (1, "failed")
    assert (store.reasons[delivery_id], retries.due) == (GONE, {})


def test_a_failed_record_raises_and_leaves_the_retry_scheduled() -> None:
    worker, store, retries, _, _ = _setup(DOWN)
    customer = uuid4()
    endpoint = _endpoint(store, customer)
    store.crash_on_record = True
    bounced = envelope("bounced", 15, customer_id=customer)

    with pytest.raises(RuntimeError, match="event store down"):
        WebhookSink(worker, concurrency=2).write([bounced])

    assert retries.due == {uuid5(endpoint.id, str(bounced.event_id)): RETRY_AT}
