"""Which stored events are published, and how each becomes an :class:`Envelope`.

Internal events (customers, API keys) stay in the event store: they carry key hashes
and nothing an analytics consumer needs. Message bodies stay too: the delivery worker
reads them from the event store, so Kafka records stay small.

Suppression entries travel as three types, all with ``recipient`` and ``domain_id`` (null:
global): ``unsubscribed`` (the recipient or the customer asked; counted by the statistics),
``suppressed`` (automatic: hard bounce or complaint; the ``bounced``/``complained`` events are
what the statistics count) and ``resubscribed`` (the entry of that scope was removed). The first
two also carry ``suppression_id`` (the entry id the API shows), ``source`` and ``reason``.

``health_scored`` is one health-score calculation (spec §11) with a flat payload: the shown
rates, ``overall_score``, ``reputation_grade``, ``status``, the input counts of the window,
``<component>_value|score|weight|band`` for each component, ``window_start``/``window_end``.

``export_requested`` asks the exports worker to run a bulk export (spec §9): ``export_id``,
``kind`` and ``format``; only the request is published, the job's progress stays in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from event_store.aggregates import Engagement
from event_store.aggregates import ExportJob
from event_store.aggregates import HealthScore
from event_store.aggregates import Message
from event_store.aggregates import Suppression
from event_store.aggregates.engagement import KINDS
from event_store.aggregates.suppression import AUTOMATIC_SOURCES
from event_store.envelope import Envelope
from event_store.envelope import event_id_for
from event_store.envelope import format_ts

_QUEUED_FIELDS = ("to", "from_address", "subject", "tag", "metadata", "domain", "domain_id")
_HIT_FIELDS = ("recipient", "from_address", "domain", "domain_id", "tag", "user_agent", "ip",
               "seconds_since_sent")


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


def _pick(event: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _jsonable(getattr(event, name)) for name in names}


def _queued(event: Any) -> dict[str, Any]:
    payload = _pick(event, _QUEUED_FIELDS)
    payload["recipient"] = payload.pop("to")
    payload["recipients"] = 1 + len(event.cc) + len(event.bcc)
    payload["track_opens"], payload["track_clicks"] = event.track_opens, event.track_clicks
    return payload


def _hit(event: Any) -> dict[str, Any]:
    payload = _pick(event, _HIT_FIELDS)
    return payload if event.url is None else {**payload, "url": event.url}


_DIMENSIONS = ("recipient", "from_address", "domain", "domain_id", "tag")


def _delivery(event: Any) -> dict[str, Any]:
    return {**_pick(event, _DIMENSIONS), "smtp_code": event.smtp_code, "reason": event.detail,
            "attempt": event.attempt}


def _delivered(event: Any) -> dict[str, Any]:
    return {**_delivery(event), "recipients": list(event.recipients)}


def _recipient_failed(event: Any) -> dict[str, Any]:
    return {**_pick(event, _DIMENSIONS), "smtp_code": event.smtp_code, "reason": event.detail,
            "bounce_type": "soft"}


def _bounced(event: Any) -> dict[str, Any]:
    return {**_pick(event, _DIMENSIONS), "smtp_code": event.smtp_code, "bounce_type": event.bounce_type,
            "status": event.status, "reason": event.diagnostic, "source": event.source}


def _complained(event: Any) -> dict[str, Any]:
    return {**_pick(event, _DIMENSIONS), "feedback_type": event.feedback_type}


def _unsubscribed(event: Any) -> dict[str, Any]:
    return {"recipient": event.email, "domain_id": _jsonable(event.domain_id), "source": event.source,
            "reason": event.reason, "suppression_id": str(event.entry_id)}


def _resubscribed(event: Any) -> dict[str, Any]:
    return {"recipient": event.email, "domain_id": _jsonable(event.domain_id)}


def _health_scored(event: Any) -> dict[str, Any]:
    # Flat numbers (and grade, status, bands), so ClickHouse 18.16 reads them with
    # visitParamExtract*: the shown rates, the input counts, each component's figures.
    counts = {k: v for k, v in event.totals.items() if not k.endswith("_rate")}
    parts = {f"{c['name']}_{key}": c[key] for c in event.components
             for key in ("value", "score", "weight", "band")}
    return {"overall_score": event.overall_score, "reputation_grade": event.reputation_grade,
            "status": event.status, **event.rates, **counts, **parts,
            "window_start": format_ts(event.window_start), "window_end": format_ts(event.window_end)}


def _export_requested(event: Any) -> dict[str, Any]:
    # Flat: the worker loads the job (filters, window) from the event store by its id.
    return {"export_id": str(event.originator_id), "kind": event.kind, "format": event.format}


def _message_id(event: Any) -> UUID:
    return event.originator_id  # type: ignore[no-any-return]


def _no_message(event: Any) -> UUID | None:
    return None


# event class -> (event_type, email id getter, payload builder)
PUBLISHED: dict[type, tuple[str, Callable[[Any], UUID | None], Callable[[Any], dict[str, Any]]]] = {
    Message.Queued: ("queued", _message_id, _queued),
    Message.Sent: ("sent", _message_id, _delivery),
    Message.Delivered: ("delivered", _message_id, _delivered),
    Message.Failed: ("failed", _message_id, _delivery),
    Message.Bounced: ("bounced", _message_id, _bounced),
    Message.RecipientBounced: ("bounced", _message_id, _bounced),
    Message.RecipientFailed: ("failed", _message_id, _recipient_failed),
    Message.Complained: ("complained", _message_id, _complained),
    Suppression.Added: ("unsubscribed", lambda e: e.email_id, _unsubscribed),
    Suppression.Removed: ("resubscribed", _no_message, _resubscribed),
    Engagement.Recorded: ("", lambda e: e.email_id, _hit),
    HealthScore.Calculated: ("health_scored", _no_message, _health_scored),
    ExportJob.Requested: ("export_requested", _no_message, _export_requested),
}


def envelope_of(event: Any, position: int) -> Envelope | None:
    """The envelope of a domain event at ``position``, or None if it is not published."""
    spec = PUBLISHED.get(type(event))
    if spec is None:
        return None
    event_type, email_id, payload = spec
    event_type = event_type or KINDS[event.kind]
    if isinstance(event, Suppression.Added) and event.source in AUTOMATIC_SOURCES:
        event_type = "suppressed"  # not an unsubscribe: bounced/complained are what stats count
    return Envelope(
        event_id=event_id_for(event.originator_id, event.originator_version),
        event_type=event_type,
        customer_id=event.customer_id,
        email_id=email_id(event),
        occurred_at=getattr(event, "occurred_at", None) or event.timestamp,
        recorded_at=event.timestamp,
        position=position,
        payload=payload(event),
    )
