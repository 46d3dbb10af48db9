"""PostgreSQL saves of any size: large ones without psycopg's pipeline.

eventsourcing's PostgreSQL recorder sends ``LOCK TABLE``, ``NOTIFY`` and the ``INSERT`` of a
save in one psycopg pipeline. With several megabytes of event state in one save (a batch of
500 messages of 30 KB HTML), that pipeline never completes: the connection waits forever in
``Pipeline.sync`` while holding the table lock, so every other writer times out. Measured on
psycopg 3.3.9 with both its Python and C implementations: 140 events of 55 KB hang; 20 do not.

:class:`LargeSaveRecorder` (chosen with eventsourcing's ``APPLICATION_RECORDER_TOPIC``) sends a
save whose state exceeds :data:`PIPELINE_LIMIT` bytes as plain statements in one transaction:
the same table lock (so notification ids still become visible in commit order), the same
``NOTIFY`` and ``INSERT … RETURNING``, the same error translation (``get_connection`` maps a
unique violation to eventsourcing's ``IntegrityError``). Smaller saves keep the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from eventsourcing.persistence import InterfaceError
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from eventsourcing.persistence import StoredEvent

#: Saves with more event state than this go without the pipeline (bytes).
PIPELINE_LIMIT = 1_000_000


class LargeSaveRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder; saves over :data:`PIPELINE_LIMIT` bytes skip the pipeline."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        """Insert the events in one transaction; notification ids in the events' order."""
        if self.datastore.enable_db_functions or \
                sum(len(e.state) for e in stored_events) <= PIPELINE_LIMIT:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return []
            self._insert_stored_events(curs, stored_events, **kwargs)  # lock, notify, insert
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
