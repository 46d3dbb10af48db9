"""How one event looks in the API, and an email's timeline (spec §8).

An event is ``{id, email_id, customer_id, event_type, status, recipient, from, tag, timestamp,
event_data, created_at}``: ``timestamp`` is when it happened, ``created_at`` when it was
recorded (both ISO 8601 UTC with ``Z``); ``event_data`` is the event's payload without the
fields shown beside it (recipient, from, tag); ``email_id`` and ``tag`` are ``null`` when the
event has none. ``status`` is one plain word per type, the state the event puts the email in:

=============  ==============  ============================================================
event_type     status          meaning
=============  ==============  ============================================================
queued         ``pending``     accepted by the API, waiting for delivery
sent           ``delivered``   the recipient's mail server accepted it
delivered      ``delivered``   delivery confirmed by the receiving side
bounced        ``failed``      rejected by the recipient's server (hard or soft bounce)
failed         ``failed``      given up (retries exhausted or refused before sending)
opened         ``engaged``     the recipient (or a scanner) opened it
clicked        ``engaged``     a tracked link was followed
complained     ``complained``  the recipient reported it as spam
unsubscribed   ``unsubscribed``  the recipient unsubscribed
=============  ==============  ============================================================

The timeline of an email has one entry per step — per event type, in the order each first
happened — ``{step, status, timestamp, count, description}``: ``timestamp`` is the first time,
``count`` how many events of that type there were (repeated opens or clicks are one step).
"""

from __future__ import annotations

from typing import Any

import orjson

STATUS: dict[str, str] = {
    "queued": "pending",
    "sent": "delivered",
    "delivered": "delivered",
    "bounced": "failed",
    "failed": "failed",
    "opened": "engaged",
    "clicked": "engaged",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
}
NULLABLE = ("email_id", "tag")


def event(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    """One API event from the text values ClickHouse formatted (see ``query.FIELDS``)."""
    shown = dict(zip(names, values, strict=True))
    shown["event_data"] = orjson.loads(shown["event_data"])
    for name in NULLABLE:
        shown[name] = shown[name] or None
    return shown


def timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per step of chronological ``events``, in the order the steps first happened."""
    steps: dict[str, dict[str, Any]] = {}
    for item in events:
        step = steps.get(item["event_type"])
        if step is None:
            steps[item["event_type"]] = {
                "step": item["event_type"], "status": item["status"], "timestamp": item["timestamp"],
                "count": 1, "description": describe(item),
            }
        else:
            step["count"] += 1
    return list(steps.values())


def describe(item: dict[str, Any]) -> str:
    """A sentence for a person reading the timeline."""
    data: dict[str, Any] = item["event_data"]
    kind: str = item["event_type"]
    detail = _detail(data)
    sentences: dict[str, str] = {
        "queued": f"Accepted for delivery to {item['recipient']}",
        "sent": f"Accepted by the recipient's mail server{detail}",
        "delivered": f"Delivered{detail}",
        "bounced": f"Bounced ({data.get('bounce_type') or 'hard'}){detail}",
        "failed": f"Delivery failed{detail}",
        "opened": "Opened",
        "clicked": f"Clicked {data['url']}" if data.get("url") else "Clicked a link",
        "complained": "Reported as spam",
        "unsubscribed": "Unsubscribed",
    }
    return sentences.get(kind, kind)


def _detail(data: dict[str, Any]) -> str:
    reason = data.get("reason")
    return f": {reason}" if reason else ""
