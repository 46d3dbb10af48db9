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
    from eventsourcing.persistence import TrackingRecorder

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

    def rewind(self, reader: str, position: int) -> None:
        """Set ``reader``'s position to exactly ``position``, backwards too (operators only).

        ``record`` only moves forward; this replaces the reader's tracking row (none for 0). The
        reader must not be running: a running consumer keeps its position in memory and would
        record past this one.
        """
        if position < 0:
            raise ValueError(f"a position is never negative, not {position}")
        _forget(self._tracking, reader)
        if position > 0:
            self._tracking.insert_tracking(Tracking(reader, position))

    def head(self) -> int:
        """The id of the newest notification (0 if none)."""
        return self._recorder.max_notification_id() or 0


def _forget(recorder: TrackingRecorder, reader: str) -> None:
    """Delete ``reader``'s tracking row(s) on the SQLite, PostgreSQL or in-memory recorder."""
    from eventsourcing.popo import POPOTrackingRecorder
    from eventsourcing.sqlite import SQLiteTrackingRecorder

    if isinstance(recorder, SQLiteTrackingRecorder):
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute("DELETE FROM tracking WHERE application_name = ?", (reader,))
        return
    if isinstance(recorder, POPOTrackingRecorder):
        with recorder._database_lock:  # noqa: SLF001 - the in-memory store has no other way
            recorder._max_tracking_ids.pop(reader, None)  # noqa: SLF001
        return
    from eventsourcing.postgres import PostgresTrackingRecorder
    from psycopg.sql import SQL
    from psycopg.sql import Identifier

    if not isinstance(recorder, PostgresTrackingRecorder):
        raise TypeError(f"cannot rewind a {type(recorder).__name__}")
    statement = SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.tracking_table_name))
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(statement, (reader,))
