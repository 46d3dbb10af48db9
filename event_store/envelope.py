"""The wire contract: one versioned JSON envelope per event.

Every event that leaves the event store (to Kafka, or to the in-process log on the
embedded default) is an :class:`Envelope`. Guarantees:

* ``event_id`` is stable: it is derived from the aggregate id and version, so a
  re-publication of the same stored event (the relay is at-least-once) carries the same
  id, and every consumer de-duplicates on it.
* ``position`` is the event's id in the global notification log: strictly increasing
  in commit order, so ``(position)`` orders events and a replay can resume from it.
* Decoding ignores unknown fields (forward compatible). An unknown ``schema_version``
  or a body that is not a JSON object raises :class:`EnvelopeError`, which consumers
  route to the dead-letter topic instead of stopping.

Only the standard library is used, so any consumer (or another language) can read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

SCHEMA_VERSION = 1

# What happened to a message: the public event types (statistics, Events API, webhooks).
EMAIL_EVENT_TYPES = (
    "queued",
    "sent",
    "delivered",
    "bounced",
    "failed",
    "opened",
    "clicked",
    "complained",
    "unsubscribed",
)
# Internal types that also travel the stream: automatic suppressions (hard bounce, complaint)
# and re-subscriptions feed the suppression list; ``health_scored`` is one health-score
# calculation; ``export_requested`` asks the exports worker for a bulk export.
INTERNAL_EVENT_TYPES = ("suppressed", "resubscribed", "health_scored", "export_requested")
EVENT_TYPES = EMAIL_EVENT_TYPES + INTERNAL_EVENT_TYPES


class EnvelopeError(ValueError):
    """A record that cannot be decoded into an envelope."""


def event_id_for(originator_id: UUID | str, version: int) -> UUID:
    """The stable id of the event at ``version`` of aggregate ``originator_id``."""
    return uuid5(NAMESPACE_URL, f"/mailerlogic/events/{originator_id}/{version}")


def format_ts(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """Parse the timestamps written by :func:`format_ts` (or any ISO 8601 with zone)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Envelope:
    """One immutable event as it travels between processes."""

    event_id: UUID
    event_type: str
    customer_id: UUID
    occurred_at: datetime
    recorded_at: datetime
    position: int
    email_id: UUID | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> bytes:
        """Partition key: one message's events stay in order, customers spread evenly."""
        return str(self.email_id or self.customer_id).encode()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping of this envelope."""
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "customer_id": str(self.customer_id),
            "email_id": str(self.email_id) if self.email_id else None,
            "occurred_at": format_ts(self.occurred_at),
            "recorded_at": format_ts(self.recorded_at),
            "position": self.position,
            "payload": self.payload,
        }

    def to_json(self) -> bytes:
        """Serialise to compact UTF-8 JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        """Decode a record; raises :class:`EnvelopeError` for anything unreadable."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Build from a decoded mapping; unknown fields are ignored."""
        if not isinstance(data, dict):
            raise EnvelopeError("envelope is not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise EnvelopeError(f"unsupported schema_version {version!r}")
        try:
            payload = data.get("payload") or {}
            if not isinstance(payload, dict):
                raise TypeError("payload is not an object")
            email_id = data.get("email_id")
            return cls(
                event_id=UUID(data["event_id"]),
                event_type=str(data["event_type"]),
                customer_id=UUID(data["customer_id"]),
                email_id=UUID(email_id) if email_id else None,
                occurred_at=parse_ts(data["occurred_at"]),
                recorded_at=parse_ts(data["recorded_at"]),
                position=int(data["position"]),
                payload=payload,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EnvelopeError(f"malformed envelope: {exc!r}") from None
