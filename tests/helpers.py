"""Builders of test data with unique ids."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import UUID
from uuid import uuid4

from event_store.envelope import Envelope
from event_store.envelope import event_id_for

T0 = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def envelope(event_type: str, position: int, *, customer_id: UUID | None = None,
             email_id: UUID | None = None, at: datetime = T0, **payload: Any) -> Envelope:
    """An envelope with a stable id derived from its position."""
    return Envelope(
        event_id=event_id_for("test", position), event_type=event_type,
        customer_id=customer_id or uuid4(), email_id=email_id or uuid4(), occurred_at=at,
        recorded_at=at, position=position, payload=payload,
    )


def bus_for(app: Any, secret: bytes = b"test-secret", **deps: Any) -> Any:
    """A command bus over ``app`` with test adapters."""
    from commands.bus import Bus
    from commands.bus import Deps

    return Bus(app, Deps(secret_key=secret, **deps))


def new_customer(bus: Any, *domains: str, tier: str = "starter") -> tuple[Any, str]:
    """A customer (with operator-trusted domains) and its API key."""
    from commands.messages import CreateCustomer

    return bus.handle(CreateCustomer("Acme", f"ops@{domains[0] if domains else 'acme.test'}", tier,
                                     tuple(domains)))


def start_of_a_fresh_minute(margin_s: float = 15.0) -> None:
    """Sleep into the next minute if fewer than ``margin_s`` seconds remain in this one.

    Rate-limit windows are calendar minutes: a test that must stay inside one window
    starts early enough in it.
    """
    import time

    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.5)
