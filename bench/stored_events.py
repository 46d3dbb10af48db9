"""Bulk-generated stored events: a realistic notification log of N events, written fast.

Going through the API (or even ``Application.save``) costs ~0.2 ms per event; a rebuild benchmark
needs a million. This builds the domain events directly (the aggregates' own event classes, so the
mapper, the publisher and the projections see exactly what production stores), maps them to stored
events and inserts them through the application's recorder in large transactions.

The stream: 1,000 customers (Zipf-skewed), each message ``queued`` -> ``delivered`` (95 %) or
``bounced`` (hard), then opens (~60 % of delivered, one or two) and clicks (~20 %), spread over
the 30 days before ``end``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID
from uuid import uuid4

from eventsourcing.utils import get_topic

from event_store.aggregates import Engagement
from event_store.aggregates import Message

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from event_store.application import EmailEvents

CUSTOMERS = 1_000
SPAN = timedelta(days=30)
BATCH = 20_000
AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mimecast URL Protect/1.0")
_MESSAGE = get_topic(Message)
_ENGAGEMENT = get_topic(Engagement)


@dataclass(frozen=True)
class Sender:
    """One customer's fixed dimensions."""

    customer_id: UUID
    domain: str
    domain_id: UUID


def senders(rng: random.Random) -> list[Sender]:
    """The customers, each with one sending domain."""
    return [Sender(UUID(int=rng.getrandbits(128)), f"c{n}.example", UUID(int=rng.getrandbits(128)))
            for n in range(CUSTOMERS)]


def message_events(rng: random.Random, sender: Sender, at: datetime) -> list[Any]:
    """The domain events of one message: queued, an outcome, opens and clicks."""
    mid, to = uuid4(), f"r{rng.randrange(10**9)}@example.org"
    dims = {"customer_id": sender.customer_id, "recipient": to, "from_address": f"news@{sender.domain}",
            "domain": sender.domain, "domain_id": sender.domain_id,
            "tag": rng.choice(("news", "receipt", None))}
    found: list[Any] = [Message.Queued(
        originator_id=mid, originator_version=1, timestamp=at, originator_topic=_MESSAGE,
        customer_id=sender.customer_id, to=to, from_address=dims["from_address"], subject="Hello",
        html=None, text="Hi", reply_to=None, cc=[], bcc=[], headers={}, tag=dims["tag"], metadata={},
        domain=sender.domain, domain_id=sender.domain_id, track_opens=True, track_clicks=True)]
    done = at + timedelta(seconds=rng.randrange(1, 60))
    if rng.random() < 0.05:
        found.append(Message.Bounced(originator_id=mid, originator_version=2, timestamp=done, **dims,
                                     bounce_type="hard", smtp_code=550, status="5.1.1",
                                     diagnostic="550 5.1.1 no such user", source="smtp", occurred_at=None))
        return found
    found.append(Message.Delivered(originator_id=mid, originator_version=2, timestamp=done, **dims,
                                   smtp_code=250, detail="250 ok", attempt=1, recipients=[to]))
    hits = [("open", None)] * (rng.random() < 0.6) * rng.choice((1, 2))
    hits += [("click", "https://example.org/a")] * (rng.random() < 0.2)
    for kind, url in hits:
        seconds = rng.randrange(5, 86_400)
        found.append(Engagement.Recorded(
            originator_id=uuid4(), originator_version=1, timestamp=done + timedelta(seconds=seconds),
            originator_topic=_ENGAGEMENT, kind=kind, email_id=mid, user_agent=rng.choice(AGENTS),
            ip="203.0.113.7", seconds_since_sent=seconds, url=url,
            **{k: v for k, v in dims.items() if k != "recipient"}, recipient=to))
    return found


def stream(count: int, seed: int, end: datetime) -> Iterator[Any]:
    """``count`` domain events, in time order per message, messages spread over ``SPAN``."""
    rng = random.Random(seed)
    people = senders(rng)
    weights = [1 / (rank + 1) for rank in range(CUSTOMERS)]
    start, made = end - SPAN, 0
    step = SPAN / max(count // 3, 1)
    while made < count:
        sender = rng.choices(people, weights)[0]
        for event in message_events(rng, sender, start + step * (made // 3)):
            if made < count:
                made += 1
                yield event


def write(app: EmailEvents, count: int, seed: int = 7, end: datetime | None = None,
          progress: Callable[[int], None] | None = None) -> int:
    """Store ``count`` generated events in ``app``'s event store; the head position afterwards."""
    batch: list[Any] = []
    for event in stream(count, seed, end or datetime.now(UTC)):
        batch.append(app.mapper.to_stored_event(event))
        if len(batch) >= BATCH:
            app.recorder.insert_events(batch)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        app.recorder.insert_events(batch)
        if progress:
            progress(len(batch))
    return app.recorder.max_notification_id() or 0
