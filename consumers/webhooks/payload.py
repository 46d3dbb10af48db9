"""The outbound webhook contract: which endpoints get an event, and the exact signed bytes.

Pure (no clock, no randomness, no I/O). Guarantees:

* :func:`body` depends only on the envelope (sorted keys, compact separators, a fixed key set
  per event type with ``null`` for what is unknown), so every retry of one event sends
  identical bytes; ``id`` is the envelope's stable ``event_id``, for the receiver to
  de-duplicate on (the relay and this consumer are at-least-once).
* :func:`sign` is the scheme of our inbound webhooks (``commands/reports.py``): ``v1=`` + hex
  HMAC-SHA256 of ``"<timestamp>." + body`` under the endpoint's secret. The caller takes the
  timestamp (Unix seconds) afresh for each attempt, so receivers may reject stale deliveries.
* ``queued`` is internal and never goes to customers; an event without a ``domain_id``
  (a global unsubscribe) only goes to customer-level endpoints.
* :func:`order`: domain- and group-scoped endpoints fire before customer-level ones
  (reference notes §2.14); input order is kept within each group.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from event_store.envelope import format_ts

if TYPE_CHECKING:
    from collections.abc import Iterable

    from event_store.envelope import Envelope

EVENT_NAMES: dict[str, str] = {
    "sent": "email.sent",
    "delivered": "email.delivered",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "bounced": "email.bounced",
    "complained": "email.complained",
    "unsubscribed": "email.unsubscribed",
    "failed": "email.failed",
}
# (key in "data", key in the envelope payload), present for every type
COMMON_FIELDS = (("recipient", "recipient"), ("from", "from_address"), ("domain", "domain"),
                 ("domain_id", "domain_id"), ("tag", "tag"))
# payload keys copied as they are, per envelope type (see event_store/publishing.py)
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "sent": ("smtp_code", "reason"),
    "delivered": ("smtp_code", "reason"),
    "failed": ("smtp_code", "reason"),
    "bounced": ("bounce_type", "smtp_code", "status", "reason", "source"),
    "complained": ("feedback_type",),
    "opened": ("user_agent", "ip", "seconds_since_sent"),
    "clicked": ("url", "user_agent", "ip", "seconds_since_sent"),
    "unsubscribed": ("source", "reason"),
}
CONTENT_TYPE = "application/json"
USER_AGENT = "MailerLogic-Webhooks/1"
EVENT_ID_HEADER = "X-MailerLogic-Event-Id"
TIMESTAMP_HEADER = "X-MailerLogic-Timestamp"
SIGNATURE_HEADER = "X-MailerLogic-Signature"


@dataclass(frozen=True)
class Endpoint:
    """One customer webhook endpoint; empty ``events``/``domain_ids`` mean all of them."""

    id: UUID
    url: str
    events: tuple[str, ...] = ()
    domain_ids: tuple[UUID, ...] = ()
    is_active: bool = True
    secret: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.events) - set(EVENT_NAMES.values()))
        if unknown:
            raise ValueError(f"unknown webhook events {unknown}; known: {sorted(EVENT_NAMES.values())}")

    @property
    def scoped(self) -> bool:
        """True for a domain or group endpoint, False for a customer-level one."""
        return bool(self.domain_ids)


def matches(endpoint: Endpoint, envelope: Envelope) -> bool:
    """True when the active ``endpoint`` subscribes to this event's type and domain."""
    name = EVENT_NAMES.get(envelope.event_type)
    if name is None or not endpoint.is_active:
        return False
    if endpoint.events and name not in endpoint.events:
        return False
    return not endpoint.scoped or _domain_id(envelope) in endpoint.domain_ids


def order(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """Scoped (domain or group) endpoints first, then customer-level ones; stable otherwise."""
    return sorted(endpoints, key=lambda endpoint: not endpoint.scoped)


def targets(endpoints: Iterable[Endpoint], envelope: Envelope) -> list[Endpoint]:
    """The endpoints that get ``envelope``, in firing order."""
    return order(endpoint for endpoint in endpoints if matches(endpoint, envelope))


def body(envelope: Envelope) -> bytes:
    """The JSON document of one event; identical bytes for every attempt."""
    name = EVENT_NAMES.get(envelope.event_type)
    if name is None:
        raise ValueError(f"{envelope.event_type!r} events are not delivered to customers")
    payload = envelope.payload
    data: dict[str, Any] = {key: payload.get(source) for key, source in COMMON_FIELDS}
    data.update({key: payload.get(key) for key in TYPE_FIELDS[envelope.event_type]})
    data["email_id"] = str(envelope.email_id) if envelope.email_id else None
    data["customer_id"] = str(envelope.customer_id)
    document = {"id": str(envelope.event_id), "type": name,
                "created_at": format_ts(envelope.occurred_at), "data": data}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-MailerLogic-Signature`` value of ``body`` signed at ``timestamp``."""
    if not secret:
        raise ValueError("the endpoint's signing secret is empty")
    return "v1=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def headers(secret: bytes, event_id: UUID, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one attempt at ``timestamp`` (Unix seconds)."""
    return {
        "Content-Type": CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def _domain_id(envelope: Envelope) -> UUID | None:
    value = envelope.payload.get("domain_id")
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None  # a malformed id belongs to no domain: customer-level endpoints only
