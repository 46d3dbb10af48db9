"""A customer's mail stored as real aggregate events in an event store, and its exact numbers.

Each :func:`store_story` saves, with the aggregates' own event classes (so the publisher and the
projections see exactly what production stores): 5 messages queued, 4 delivered, 1 hard bounce,
3 human opens of 2 messages, 1 click and 1 unsubscribe, all in the hour ``at``.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import UUID
from uuid import uuid4

from eventsourcing.utils import get_topic

from event_store.aggregates import Engagement
from event_store.aggregates import Message
from event_store.aggregates import Suppression
from event_store.application import EmailEvents

HUMAN = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Thunderbird/115.8.0"
AT = datetime.now(UTC).replace(minute=10, second=0, microsecond=0) - timedelta(hours=3)
# What outbound_totals must show for one story (rates follow from these).
TOTALS = {"sent": 5, "delivered": 4, "bounced": 1, "failed": 0, "opens": 3, "unique_opens": 2,
          "clicks": 1, "unique_clicks": 1, "complaints": 0, "unsubscribes": 1, "human_opens": 3,
          "scanner_opens": 0, "human_clicks": 1, "scanner_clicks": 0, "delivery_rate": 80.0,
          "open_rate": 50.0, "click_rate": 25.0, "bounce_rate": 20.0, "complaint_rate": 0.0}
PUBLISHED = 15  # envelopes of one story: 5 queued + 5 outcomes + 3 opens + 1 click + 1 unsubscribe


def story_events(customer: UUID, at: datetime = AT) -> list[Any]:
    """The domain events of one story, in time order."""
    domain, domain_id = "acme.test", uuid4()
    found: list[Any] = []
    messages = []
    for n in range(5):
        mid, to = uuid4(), f"r{n}-{uuid4().hex[:6]}@example.org"
        dims = {"customer_id": customer, "recipient": to, "from_address": f"hi@{domain}",
                "domain": domain, "domain_id": domain_id, "tag": "news"}
        messages.append((mid, dims))
        found.append(Message.Queued(
            originator_id=mid, originator_version=1, timestamp=at, originator_topic=get_topic(Message),
            customer_id=customer, to=to, from_address=dims["from_address"], subject="Hi", html=None,
            text="Hi", reply_to=None, cc=[], bcc=[], headers={}, tag="news", metadata={},
            domain=domain, domain_id=domain_id, track_opens=True, track_clicks=True))
        done = at + timedelta(seconds=10 + n)
        if n < 4:
            found.append(Message.Delivered(originator_id=mid, originator_version=2, timestamp=done,
                                           **dims, smtp_code=250, detail="250 ok", attempt=1,
                                           recipients=[to]))
        else:
            found.append(Message.Bounced(originator_id=mid, originator_version=2, timestamp=done,
                                         **dims, bounce_type="hard", smtp_code=550, status="5.1.1",
                                         diagnostic="550 5.1.1 no such user", source="smtp",
                                         occurred_at=None))
    for n, (kind, url) in enumerate((("open", None), ("open", None), ("click", "https://acme.test/"))):
        found.append(_hit(messages[0], kind, url, at + timedelta(minutes=5 + n)))
    found.append(_hit(messages[1], "open", None, at + timedelta(minutes=9)))
    found += _unsubscribe(customer, messages[2], at + timedelta(minutes=20))
    return found


def _hit(message: tuple[UUID, dict[str, Any]], kind: str, url: str | None, at: datetime) -> Any:
    mid, dims = message
    return Engagement.Recorded(originator_id=uuid4(), originator_version=1, timestamp=at,
                               originator_topic=get_topic(Engagement), kind=kind, email_id=mid,
                               user_agent=HUMAN, ip="203.0.113.7", seconds_since_sent=300, url=url,
                               **dims)


def _unsubscribe(customer: UUID, message: tuple[UUID, dict[str, Any]], at: datetime) -> list[Any]:
    mid, dims = message
    sid = Suppression.create_id(customer, dims["recipient"])
    return [Suppression.Started(originator_id=sid, originator_version=1, timestamp=at,
                                originator_topic=get_topic(Suppression), customer_id=customer,
                                email=dims["recipient"]),
            Suppression.Added(originator_id=sid, originator_version=2, timestamp=at,
                              customer_id=customer, email=dims["recipient"], entry_id=uuid4(),
                              domain_id=None, source="link", reason=None, email_id=mid)]


def store_story(app: EmailEvents, customer: UUID | None = None, at: datetime = AT) -> UUID:
    """Save one story for ``customer`` (a new id by default); the customer id."""
    customer = customer or uuid4()
    app.save(*story_events(customer, at))
    return customer


def open_sqlite(path: str) -> EmailEvents:
    """An event store in a SQLite file (the embedded default's)."""
    from event_store.application import open_application

    return open_application(None, path)
