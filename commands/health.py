"""Health-score commands (spec §11): score the last 30 days and record it as an event.

The §7 totals are read through ``bus.deps.health_totals`` (the composition root wires it to
``read_api.views.outbound_totals`` over ClickHouse; the write side never imports the read
side); the formula is :mod:`commands.health_score`. Guarantees:

* every calculation that is answered is recorded first, as one ``HealthScore.Calculated``
  (published as ``health_scored``, which the history projection reads);
* nothing is recorded when the customer sent nothing in the window: ``404 no_data``;
* ``reuse_since`` makes a calculation conditional: an existing one at or after that moment is
  answered instead (the GET's 24 h freshness, the scheduler's once per UTC day). Two
  processes calculating for one customer at once conflict on the aggregate's version; the
  loser answers the winner's calculation, so a race never records twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands import health_score as health
from event_store.aggregates import HealthScore
from event_store.errors import DomainError
from event_store.errors import NotFound

if TYPE_CHECKING:
    from commands.bus import Bus


@dataclass(frozen=True)
class CalculateHealthScore:
    """Score a customer's last 30 days at ``now``, unless a calculation since ``reuse_since`` exists."""

    customer_id: UUID
    now: datetime
    reuse_since: datetime | None = None


@dataclass(frozen=True)
class Calculation:
    """One recorded calculation; ``recorded`` is False when an existing one was answered."""

    score: health.HealthScore
    calculated_at: datetime
    window_start: datetime
    window_end: datetime
    recorded: bool

    def to_dict(self) -> dict[str, Any]:
        """The spec §11 body: health_score, insights, benchmarks, and every component."""
        return self.score.to_dict(self.calculated_at)


def calculate_health_score(cmd: CalculateHealthScore, bus: Bus) -> Calculation:
    """Answer a fresh enough calculation, or calculate, record and answer a new one."""
    record = _record_of(bus, cmd.customer_id)
    if record is not None and cmd.reuse_since is not None and record.calculated_since(cmd.reuse_since):
        return _calculation(record, recorded=False)
    if bus.deps.health_totals is None:
        raise DomainError("health scores need the statistics store", code="unavailable", status=503)
    start = cmd.now - health.WINDOW
    totals = dict(bus.deps.health_totals(cmd.customer_id, start, cmd.now))
    try:
        result = health.score(totals)
    except health.NoData as exc:
        raise NotFound(exc.message, code=exc.code) from None
    record = record or HealthScore.start(cmd.customer_id)
    record.record(cmd.now, start, cmd.now, totals, result.record())
    try:
        bus.app.save(record)
    except IntegrityError:
        # Another process recorded a calculation of this customer meanwhile: answer that one.
        latest = _record_of(bus, cmd.customer_id)
        if latest is None:
            raise
        return _calculation(latest, recorded=False)
    return _calculation(record, recorded=True)


def _record_of(bus: Bus, customer_id: UUID) -> HealthScore | None:
    try:
        return bus.app.get(HealthScore.create_id(customer_id), HealthScore, "health score")
    except NotFound:
        return None


def _calculation(record: HealthScore, *, recorded: bool) -> Calculation:
    latest = record.latest
    if latest is None:  # a record is only saved with a calculation in it
        raise NotFound(health.NoData.message, code=health.NoData.code)
    return Calculation(health.HealthScore.from_record(latest), latest["occurred_at"],
                       latest["window_start"], latest["window_end"], recorded)


HANDLERS: dict[type, Any] = {CalculateHealthScore: calculate_health_score}
