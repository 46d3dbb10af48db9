"""The notification log as a feed of envelopes, with named, durable read positions.

Used by the relay (which publishes the feed to Kafka) and, on the embedded default, by
consumers directly (the in-process log transport). A position is the id of the last
notification a reader has *finished* with; it is stored in the event store's own
database (the eventsourcing tracking table), so it survives crashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventsourcing.persistence import Tracking

from event_store.publishing import envelope_of

if TYPE_CHECKING:
    from event_store.application import EmailEvents
    from event_store.envelope import Envelope


@dataclass(frozen=True)
class Page:
    """One read of the log: the published envelopes and the last notification id seen."""

    envelopes: list[Envelope]
    last_position: int


class NotificationFeed:
    """Reads envelopes after a position and records positions by reader name."""

    def __init__(self, app: EmailEvents) -> None:
        self._app = app
        self._recorder = app.recorder_
        self._tracking = app.tracking_recorder()

    def read(self, after: int, limit: int) -> Page:
        """Up to ``limit`` notifications after ``after``, as envelopes (unpublished skipped)."""
        notifications = self._recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        envelopes = []
        for notification in notifications:
            envelope = envelope_of(self._app.mapper.to_domain_event(notification), notification.id)
            if envelope is not None:
                envelopes.append(envelope)
        last = notifications[-1].id if notifications else after
        return Page(envelopes, last)

    def position(self, reader: str) -> int:
        """The last position recorded for ``reader`` (0 if none)."""
        return self._tracking.max_tracking_id(reader) or 0

    def record(self, reader: str, position: int) -> None:
        """Durably record that ``reader`` has finished with everything up to ``position``."""
        if position > self.position(reader):
            self._tracking.insert_tracking(Tracking(reader, position))

    def head(self) -> int:
        """The id of the newest notification (0 if none)."""
        return self._recorder.max_notification_id() or 0
