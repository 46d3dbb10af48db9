"""``GET /readyz`` (spec §16): are the event store, ClickHouse and Kafka reachable, how far behind
are the relay and the consumers, and does the read model reflect the event store.

Each reader's lag comes from :mod:`web.lag`: with Kafka, its consumer group's committed
offsets against the topic's end (the ``kafka`` check lists both per group); on the embedded
default, the position it recorded in the log. The ``read_model`` check fails when ClickHouse's
``events`` table is empty while the event store holds published events (a wiped read model), or
when the projector is more than ``MAILERLOGIC_READY_MAX_LAG`` events behind the event store
(with Kafka: the relay's lag plus the projector group's).

``consumers`` lists the status each consumer process of this machine's data dir wrote
(:mod:`consumers.status`): one retrying a transient failure makes the answer
``"status": "degraded"`` (still ``200`` when every check passes: the API serves, a consumer
waits for its dependency), with the reasons.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from typing import Any

from eventsourcing.utils import get_topic
from flask import Blueprint
from flask import current_app

from consumers.status import read_all
from event_store.publishing import PUBLISHED

if TYPE_CHECKING:
    from collections.abc import Callable

    from event_store.application import EmailEvents
    from web.lag import KafkaOffsets
    from web.lag import ReaderLag
    from web.lag import Snapshot

bp = Blueprint("readiness", __name__)
# At most one row read: is the table empty?
EMPTY_SQL = "SELECT count() FROM (SELECT 1 FROM events LIMIT 1)"


class KafkaUnreadable(ConnectionError):
    """The consumer groups' offsets could not be read from the broker."""


def _timed(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    start = time.monotonic()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure makes the dependency "down"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - start) * 1000, 1), **(detail or {})}


def _event_store(reader_lag: ReaderLag, into: list[Snapshot]) -> dict[str, Any]:
    snapshot = reader_lag.snapshot()
    into.append(snapshot)
    return {"position": snapshot.head, "lag": snapshot.lags(), "lag_source": snapshot.source}


def _clickhouse() -> None:
    current_app.extensions["clickhouse"]().execute("SELECT 1")


def _kafka(kafka: KafkaOffsets) -> dict[str, Any]:
    offsets, error = kafka.read()  # fills the cache the event store check then reads
    if offsets is None:
        raise KafkaUnreadable(error)
    groups = {name: {"group": group, "committed": offsets.committed[name],
                     "lag": max(0, offsets.end - offsets.committed[name])}
              for name, group in kafka.groups.items()}
    return {"topic": kafka.topic, "end_offset": offsets.end, "groups": groups}


def _read_model(snapshots: list[Snapshot], max_lag: int) -> dict[str, Any]:
    if not snapshots:
        raise RuntimeError("the event store did not answer")
    snapshot = snapshots[0]
    behind = _behind(snapshot)
    [(rows,)] = current_app.extensions["clickhouse"]().execute(EMPTY_SQL)
    detail: dict[str, Any] = {"empty": not rows, "behind": behind, "max_lag": max_lag}
    if not rows and snapshot.head and published_any(current_app.extensions["events"]):
        return {**detail, "ok": False,
                "error": "the read model is empty while the event store holds published events"}
    if behind is not None and behind > max_lag:
        return {**detail, "ok": False,
                "error": f"the projector is {behind} events behind the event store (bound {max_lag})"}
    return detail


def _behind(snapshot: Snapshot) -> int | None:
    """Events of the store not yet in the read model: through the relay and the projector."""
    projector = snapshot.readers["projector"].lag
    if snapshot.source == "log" or projector is None:
        return projector
    relay = snapshot.readers["relay"].lag
    return None if relay is None else relay + projector


def published_any(events: EmailEvents) -> bool:
    """True when the event store holds at least one event the relay publishes (the read model's)."""
    topics = [get_topic(kind) for kind in PUBLISHED]
    return bool(events.recorder_.select_notifications(start=None, limit=1, topics=topics))


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """200 when every dependency answers and the read model keeps up, else 503; with latencies."""
    reader_lag: ReaderLag = current_app.extensions["lag"]
    offsets = reader_lag.kafka
    kafka = None if offsets is None else _timed(lambda: _kafka(offsets))
    snapshots: list[Snapshot] = []
    checks = {"event_store": _timed(lambda: _event_store(reader_lag, snapshots)),
              "clickhouse": _timed(_clickhouse)}
    if kafka is not None:
        checks["kafka"] = kafka
    settings = current_app.extensions["settings"]
    checks["read_model"] = _timed(lambda: _read_model(snapshots, settings.ready_max_lag))
    ready = all(check["ok"] for check in checks.values())
    consumers = read_all(settings.data_dir / "status")
    degraded = [c for c in consumers if c.get("state") != "ok"]
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    return {"status": status, "checks": checks, "consumers": consumers}, 200 if ready else 503
