"""The ``events`` table: one row per event, every type of ``envelope.EVENT_TYPES``.

Payload keys read (all optional; a missing key gives ``""``, ``0`` or the zero UUID):

* every type — the message's dimensions, copied into each event so that no projection needs a
  lookup: ``recipient`` (``to`` on ``queued``), ``from_address`` (or ``from``), ``domain``,
  ``domain_id``, ``tag``;
* ``sent``, ``delivered``, ``bounced``, ``failed`` — ``smtp_code`` (or ``code``), ``reason``
  (or ``diagnostic``); ``bounced``/``failed`` also ``bounce_type`` (or ``type``), defaulting to
  ``hard`` for ``bounced`` and ``soft`` for ``failed``;
* ``opened``, ``clicked`` — ``user_agent``, ``ip``, ``seconds_since_sent`` (scored by
  :mod:`projections.scanner`); ``clicked`` also ``url``;
* ``complained``, ``unsubscribed`` — ``reason``.

Envelopes of other types are skipped. A value of the wrong shape (a ``domain_id`` that is not a
UUID, a non-numeric ``smtp_code``) raises ``ValueError``, so the consumer can dead-letter it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from event_store.envelope import EVENT_TYPES
from event_store.envelope import Envelope
from projections import scanner

TABLE = "events"
COLUMNS = (
    "event_id",
    "position",
    "event_type",
    "customer_id",
    "email_id",
    "occurred_at",
    "recorded_at",
    "recipient",
    "from_address",
    "domain",
    "domain_id",
    "tag",
    "scanner_score",
    "user_agent",
    "ip",
    "url",
    "smtp_code",
    "bounce_type",
    "reason",
    "payload",
)
ZERO_UUID = UUID(int=0)
ENGAGEMENT_KINDS = {"opened": "open", "clicked": "click"}
DEFAULT_BOUNCE_TYPES = {"bounced": "hard", "failed": "soft"}

Row = tuple[Any, ...]


def rows(envelopes: Iterable[Envelope]) -> list[Row]:
    """Map envelopes to rows in ``COLUMNS`` order. Deterministic: no clock, randomness or I/O."""
    return [row(envelope) for envelope in envelopes if envelope.event_type in EVENT_TYPES]


def row(envelope: Envelope) -> Row:
    """The ``events`` row of one envelope."""
    data = envelope.payload
    user_agent, ip = _text(data, "user_agent"), _text(data, "ip")
    return (
        envelope.event_id,
        envelope.position,
        envelope.event_type,
        envelope.customer_id,
        envelope.email_id or ZERO_UUID,
        _second(envelope.occurred_at),
        _second(envelope.recorded_at),
        _text(data, "recipient", "to"),
        _text(data, "from_address", "from"),
        _text(data, "domain"),
        _uuid(data.get("domain_id")),
        _text(data, "tag"),
        _scanner_score(envelope.event_type, user_agent, ip, data.get("seconds_since_sent")),
        user_agent,
        ip,
        _text(data, "url"),
        _int(data, "smtp_code", "code"),
        _text(data, "bounce_type", "type") or DEFAULT_BOUNCE_TYPES.get(envelope.event_type, ""),
        _text(data, "reason", "diagnostic"),
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str).decode(),
    )


def _scanner_score(event_type: str, user_agent: str, ip: str, seconds: Any) -> int:
    kind = ENGAGEMENT_KINDS.get(event_type)
    if kind is None:
        return 0
    return scanner.score(user_agent, ip, None if seconds is None else int(seconds), kind)


def _second(value: datetime) -> int:
    # ClickHouse DateTime holds whole seconds: Unix seconds are exact on both backends, and
    # the driver writes ints without converting each datetime.
    return int(value.timestamp())


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value
    return None


def _text(data: Mapping[str, Any], *keys: str) -> str:
    value = _first(data, keys)
    return "" if value is None else str(value)


def _int(data: Mapping[str, Any], *keys: str) -> int:
    value = _first(data, keys)
    return 0 if value in (None, "") else int(value)


def _uuid(value: Any) -> UUID:
    if value in (None, ""):
        return ZERO_UUID
    return value if isinstance(value, UUID) else UUID(str(value))
