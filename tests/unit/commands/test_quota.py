"""The monthly email limit: exact at the boundary, per batch, and never blocking on analytics."""

from __future__ import annotations

import pytest

from commands.messages import SendEmail
from commands.messages import SendMany
from commands.quota import UsageCache
from event_store.application import EmailEvents
from event_store.errors import DomainError
from tests.helpers import bus_for
from tests.helpers import new_customer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _bus(used: int, clock: Clock) -> tuple[object, object]:
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = bus_for(events, usage=UsageCache(lambda customer_id: used, ttl_s=10, clock=clock))
    customer, _ = new_customer(bus, "acme.test")  # starter: 10,000 a month
    return bus, customer


def _mail(customer: object, to: str) -> SendEmail:
    return SendEmail(customer.id, to, "s", None, "t")  # type: ignore[attr-defined]


def test_the_last_allowed_message_passes_and_the_next_is_refused() -> None:
    bus, customer = _bus(9_999, Clock())
    bus.handle(_mail(customer, "a@example.org"))  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as caught:
        bus.handle(_mail(customer, "b@example.org"))  # type: ignore[attr-defined]
    assert (caught.value.code, caught.value.status) == ("monthly_limit_reached", 422)


def test_a_batch_is_cut_at_the_limit() -> None:
    bus, customer = _bus(9_998, Clock())
    results = bus.handle(SendMany(customer.id, tuple(  # type: ignore[attr-defined]
        _mail(customer, f"r{i}@example.org") for i in range(4))))
    assert [getattr(r, "code", "queued") for r in results] == [
        "queued", "queued", "monthly_limit_reached", "monthly_limit_reached"]


def test_usage_is_cached_for_ttl_and_unreadable_analytics_never_block() -> None:
    calls: list[int] = []

    def usage(customer_id: object) -> int:
        calls.append(1)
        if len(calls) > 1:
            raise ConnectionError("clickhouse down")
        return 5

    clock = Clock()
    cache = UsageCache(usage, ttl_s=10, clock=clock)  # type: ignore[arg-type]
    key = __import__("uuid").uuid4()
    assert cache.used(key) == 5
    cache.add(key, 2)
    clock.now = 5
    assert (cache.used(key), len(calls)) == (7, 1)
    clock.now = 11
    assert (cache.used(key), len(calls)) == (7, 2)  # the last known value, fail open
