"""How far each reader is behind the event store, as ``/readyz`` and ``/metrics`` report it.

* ``relay``: the event store's head minus the position the relay recorded (tracking table).
* ``projector``, ``delivery``, ``webhooks``, ``exports``: with Kafka, their consumer group's
  committed offsets against the topic's end offsets, each summed over the topic's partitions (a
  partition the group never committed to counts from its earliest offset, where the group would
  start). Read with short timeouts and cached for :data:`CACHE_S`, so a scrape storm costs the
  broker one round of requests per cache period. On the embedded default: the head minus the
  position the reader recorded in the tracking table (the in-process log source commits there).

A figure that cannot be read (Kafka down) is ``None``, and ``Snapshot.kafka_error`` says why.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from event_store.feed import NotificationFeed

if TYPE_CHECKING:
    from collections.abc import Mapping

    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

READERS = ("relay", "projector", "delivery", "webhooks", "exports")
CACHE_S = 1.5
TIMEOUT_MS = 1500


@dataclass(frozen=True)
class Position:
    """Where one reader is: ``committed`` out of ``end`` (summed offsets, or notification ids)."""

    committed: int | None
    end: int | None
    group: str | None = None  # the Kafka consumer group

    @property
    def lag(self) -> int | None:
        """Records (or notifications) not yet processed; ``None`` when unknown."""
        if self.committed is None or self.end is None:
            return None
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class Snapshot:
    """Every reader's position at one moment, and where the figures come from."""

    head: int
    readers: dict[str, Position]
    source: str  # "kafka" or "log"
    kafka_error: str | None = None

    def lags(self) -> dict[str, int | None]:
        """Each reader's lag, in :data:`READERS` order."""
        return {name: position.lag for name, position in self.readers.items()}


@dataclass(frozen=True)
class TopicOffsets:
    """One read of the broker: the topic's end and each group's committed offsets, summed."""

    end: int
    committed: dict[str, int]


class ReaderLag:
    """The snapshot of one process (an app): log positions, and Kafka offsets when configured."""

    def __init__(self, settings: Settings, events: EmailEvents) -> None:
        self.settings, self.events = settings, events
        self.kafka = None if settings.embedded else KafkaOffsets(
            settings.kafka_bootstrap_servers or "", settings.kafka_topic,
            {name: settings.kafka_group(name) for name in READERS[1:]})

    def snapshot(self) -> Snapshot:
        """Every reader's position now (the Kafka figures at most :data:`CACHE_S` old)."""
        feed = NotificationFeed(self.events)
        head = feed.head()
        relay = Position(feed.position("relay"), head)
        if self.kafka is None:
            logged = {name: Position(self._log_position(feed, name), head) for name in READERS[1:]}
            return Snapshot(head, {"relay": relay, **logged}, "log")
        offsets, error = self.kafka.read()
        groups = {name: Position(offsets.committed[name] if offsets else None,
                                 offsets.end if offsets else None, group)
                  for name, group in self.kafka.groups.items()}
        return Snapshot(head, {"relay": relay, **groups}, "kafka", error)

    def _log_position(self, feed: NotificationFeed, name: str) -> int:
        shards = self.settings.delivery_processes
        if name != "delivery" or shards == 1:
            return feed.position(name)
        # run-all's delivery processes each record their own shard's position: the slowest counts
        return min(feed.position(f"delivery-{k + 1}of{shards}") for k in range(shards))


class KafkaOffsets:
    """Committed and end offsets of one topic, read with an admin client, cached briefly."""

    def __init__(self, bootstrap: str, topic: str, groups: Mapping[str, str], *,
                 cache_s: float = CACHE_S, timeout_ms: int = TIMEOUT_MS) -> None:
        self.bootstrap, self.topic, self.groups = bootstrap, topic, dict(groups)
        self.cache_s, self.timeout_ms = cache_s, timeout_ms
        self._lock = threading.Lock()
        self._admin: Any = None
        self._read_at = -float("inf")
        self._last: tuple[TopicOffsets | None, str | None] = (None, None)

    def read(self) -> tuple[TopicOffsets | None, str | None]:
        """The offsets, or ``None`` and the reason; a failure is cached like a success."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_s:
                try:
                    self._last = (self._fetch(), None)
                except Exception as exc:  # noqa: BLE001 - any failure: report it, retry next period
                    self._last = (None, f"{type(exc).__name__}: {exc}"[:300])
                    self.close()
                self._read_at = time.monotonic()
            return self._last

    def _fetch(self) -> TopicOffsets:
        from kafka.admin import OffsetSpec

        reachable(self.bootstrap, self.timeout_ms / 1000)  # a stopped broker fails fast
        admin = self._admin or self._connect()
        partitions = _partitions(admin, self.topic)
        if not partitions:
            return TopicOffsets(0, dict.fromkeys(self.groups, 0))
        end = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions},
                                           timeout_ms=self.timeout_ms)
        committed = admin.list_group_offsets({group: partitions for group in self.groups.values()})
        found = {(group, tp): meta.offset for group, offsets in committed.items()
                 for tp, meta in offsets.items() if meta.offset >= 0}
        start: dict[Any, Any] = {}
        if len(found) < len(partitions) * len(self.groups):  # a group starts where the log does
            start = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions},
                                                 timeout_ms=self.timeout_ms)
        return TopicOffsets(sum(end[tp].offset for tp in partitions), {
            name: sum(found[group, tp] if (group, tp) in found else start[tp].offset for tp in partitions)
            for name, group in self.groups.items()})

    def _connect(self) -> Any:
        from kafka.admin import KafkaAdminClient

        self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="mailerlogic-lag",
                                       request_timeout_ms=self.timeout_ms,
                                       bootstrap_timeout_ms=self.timeout_ms,
                                       reconnect_backoff_max_ms=500)
        return self._admin

    def close(self) -> None:
        """Drop the admin client (the next read connects again)."""
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception:  # noqa: BLE001, S110 - it is being discarded anyway
                pass


def _partitions(admin: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    [described] = admin.describe_topics([topic])
    return [TopicPartition(topic, p["partition_index"]) for p in described["partitions"]]


def reachable(bootstrap: str, timeout_s: float) -> None:
    """Return once one bootstrap server accepts a TCP connection; raise ``ConnectionError`` if none."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return
        except OSError:
            continue
    raise ConnectionError(f"no bootstrap server of {bootstrap} answered")
