"""HealthScore: every health-score calculation of one customer (spec §11), as events.

One aggregate per customer (its id derives from the customer id), so the latest calculation
is one lookup, and two processes calculating at once for the same customer conflict on the
aggregate's version: exactly one of them records (eventsourcing's optimistic concurrency).
Each :class:`HealthScore.Calculated` is self-contained: the window, the input totals, every
component and the whole answer (score, grade, status, summary, recommendations), so the
response and the history never depend on re-running the formula.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.aggregates.per_customer import PerCustomer


class HealthScore(PerCustomer, Aggregate):
    """The health-score calculations of one customer; ``latest`` is the newest one."""

    PATH = "health-scores"

    class Started(Aggregate.Created):
        customer_id: UUID

    class Calculated(Aggregate.Event):
        customer_id: UUID
        occurred_at: datetime  # when the score was calculated (the envelope's occurred_at)
        window_start: datetime
        window_end: datetime
        totals: dict[str, Any]  # the §7 totals of the window, as scored
        components: list[dict[str, Any]]  # name, metric, value, score, weight, band
        rates: dict[str, float]
        overall_score: float
        reputation_grade: str
        status: str
        summary: str
        recommendations: list[str]

    @event(Started)
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.latest: dict[str, Any] | None = None

    def calculated_since(self, moment: datetime) -> bool:
        """Whether the latest calculation happened at or after ``moment``."""
        return self.latest is not None and self.latest["occurred_at"] >= moment

    def record(self, occurred_at: datetime, window_start: datetime, window_end: datetime,
               totals: dict[str, Any], score: dict[str, Any]) -> None:
        """Record one calculation; ``score`` is ``commands.health_score.HealthScore.record()``."""
        self._calculated(customer_id=self.customer_id, occurred_at=occurred_at,
                         window_start=window_start, window_end=window_end, totals=dict(totals),
                         components=list(score["components"]), rates=dict(score["rates"]),
                         overall_score=score["overall_score"],
                         reputation_grade=score["reputation_grade"], status=score["status"],
                         summary=score["summary"], recommendations=list(score["recommendations"]))

    @event(Calculated)
    def _calculated(self, customer_id: UUID, occurred_at: datetime, window_start: datetime,
                    window_end: datetime, totals: dict[str, Any], components: list[dict[str, Any]],
                    rates: dict[str, float], overall_score: float, reputation_grade: str,
                    status: str, summary: str, recommendations: list[str]) -> None:
        self.latest = {
            "occurred_at": occurred_at, "window_start": window_start, "window_end": window_end,
            "totals": totals, "components": components, "rates": rates,
            "overall_score": overall_score, "reputation_grade": reputation_grade,
            "status": status, "summary": summary, "recommendations": recommendations,
        }  # fmt: skip
