"""The relay: follows the notification log and publishes every event to Kafka.

Contract (at-least-once, nothing lost, per-key order kept):

1. Read the next page of notifications after the relay's recorded position.
2. Publish its envelopes with an idempotent producer (``acks=all``) and wait until
   the broker acknowledged every one of them.
3. Only then record the page's last notification id as the new position.

A crash between 2 and 3 re-publishes that page on restart: the same events with the
same ``event_id`` and ``position``, which every consumer de-duplicates. A Kafka outage
never blocks or loses a write: the API appends to the event store, the relay retries
with backoff (at most ``max_backoff_s``, one second) and publishes again within two
seconds of the broker's return: one attempt of the publisher ends within seconds, and a
failed attempt's producer is discarded with its unsent records, never left to send them
after the retry's copies. Envelopes are keyed by ``email_id`` (else ``customer_id``), so
one message's events stay in one partition, in log order. Run exactly one relay per
event store.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from threading import Event

    from event_store.envelope import Envelope
    from event_store.feed import NotificationFeed

log = logging.getLogger(__name__)
READER = "relay"


class PublishError(RuntimeError):
    """The broker did not acknowledge every envelope of a page."""


class Publisher(Protocol):
    """Publishes envelopes and returns only once all are acknowledged."""

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish all or raise :class:`PublishError`."""

    def close(self) -> None:
        """Release the connection."""


def relay_once(feed: NotificationFeed, publisher: Publisher, batch_size: int) -> int:
    """Publish one page; returns how many notifications it moved past (0 = caught up)."""
    after = feed.position(READER)
    page = feed.read(after, batch_size)
    if page.last_position == after:
        return 0
    if page.envelopes:
        publisher.publish(page.envelopes)
    feed.record(READER, page.last_position)
    return page.last_position - after


def run(
    feed: NotificationFeed,
    publisher: Publisher,
    stop: Event,
    *,
    batch_size: int = 5000,
    idle_s: float = 0.1,
    max_backoff_s: float = 1.0,
) -> None:
    """Relay until ``stop`` is set, backing off while the broker is unreachable."""
    backoff = 0.0
    while not stop.is_set():
        try:
            moved = relay_once(feed, publisher, batch_size)
        except PublishError as exc:
            backoff = min(max_backoff_s, backoff * 2 or 0.2)
            log.warning("publish failed (%s); retrying in %.1fs", exc, backoff)
            stop.wait(backoff)
            continue
        backoff = 0.0
        if moved == 0:
            stop.wait(idle_s)
    publisher.close()
