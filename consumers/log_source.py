"""The in-process log transport: consumers read the notification log directly.

Used on the embedded default instead of Kafka, with the same loop and sinks. There is
one partition (0) and the offset of a record is its notification id; ``commit``
records the last finished id under the consumer's name in the event store's tracking
table, so a restart resumes after it.
"""

from __future__ import annotations

from time import sleep
from typing import TYPE_CHECKING
from typing import Protocol

from consumers.records import Record

if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from event_store.envelope import Envelope


class PageLike(Protocol):
    """What a feed read returns."""

    @property
    def envelopes(self) -> Sequence[Envelope]:
        """The published envelopes of the page."""

    @property
    def last_position(self) -> int:
        """The last notification id read."""


class Feed(Protocol):
    """The notification feed (event_store.feed.NotificationFeed satisfies it)."""

    def read(self, after: int, limit: int) -> PageLike:
        """Envelopes after a position."""

    def position(self, reader: str) -> int:
        """The recorded position of a reader."""

    def record(self, reader: str, position: int) -> None:
        """Record a reader's position."""


class LogSource:
    """A :class:`~consumers.records.Source` over the notification log."""

    topic = "log"

    def __init__(self, feed: Feed, reader: str) -> None:
        self._feed, self._reader = feed, reader
        self._after = feed.position(reader)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """The next envelopes as records; sleeps ``timeout_s`` when there are none."""
        page = self._feed.read(self._after, max_records)
        self._after = page.last_position
        if not page.envelopes:
            sleep(timeout_s)
        return [Record(self.topic, 0, e.position, e.to_json()) for e in page.envelopes]

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Record the last finished notification id."""
        if 0 in offsets:
            self._feed.record(self._reader, offsets[0] - 1)

    def revoked(self) -> frozenset[int]:
        """Never: the log has one reader per name."""
        return frozenset()

    def close(self) -> None:
        """Nothing to release."""
