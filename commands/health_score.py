"""Health score (spec §11): a pure function of the §7 outbound totals; no I/O, no clock.

It lives in ``projections`` (the shared pure layer) so that the write side (``commands.health``
calculates and records each score as an event) and the read side can both use it. The inputs
are the totals of the last :data:`WINDOW` (30 days), as ``read_api.views.outbound_totals``
returns them. The words (summary, recommendations, alarms) are in :mod:`commands.health_insights`.

Five components, each scored 0-100 by a piecewise-linear ramp through three anchors
(good -> 100, average -> 50, poor -> 0, linear between, clamped), then weighted (sum 100).
Values are percentages; anchors are given as good / average / poor:

* bounce, weight 35: ``bounce_rate``; 2 / 5 / 10. Bands: good < 2, acceptable 2-5,
  poor > 5, critical > 10.
* complaint, weight 35: ``complaint_rate``; 0.1 / 0.5 / 1. Bands: good < 0.1, acceptable
  0.1-0.5, poor > 0.5, critical > 1.
* delivery, weight 15: ``delivery_rate``, or (sent - bounced - failed) / sent while
  ``delivered`` is 0; 98 / 95 / 90. Bands: good >= 98, acceptable >= 95, else poor.
* opens, weight 10: unique opens / delivered; 25 / 20 / 10. Bands likewise (>= 25, >= 20).
* clicks, weight 5: unique clicks / delivered; 3 / 2 / 0.5. Bands likewise (>= 3, >= 2).

The bounce and complaint bands are the published ones (sending may pause above 10 % bounces,
the account may be suspended above 1 % complaints). Opens and clicks use industry averages.
"Delivered" means ``delivered`` or, while it is 0, ``sent``. When ``human_opens`` /
``human_clicks`` are present, the unique count is capped by them, which drops scanner-only
engagement (an upper bound on distinct emails a human engaged with). Tracking turned off
scores opens and clicks 0, so such a sender tops out at 85.

``overall_score`` = sum(score x weight) / 100 over the shown component scores (each rounded
to 2 decimals, so the sum can be checked by hand), rounded half up to 1 decimal.
Grade by lower bound: A+ >= 95, A >= 90, B+ >= 85, B >= 80, C+ >= 75, C >= 70, D >= 60, else F
(so 94.9 is A). Status: excellent (A+, A), good (B+, B), fair (C+, C), poor (D), critical (F),
and critical whenever bounce > 10 % or complaints > 1 %, whatever the score. One
recommendation per component outside its good band. ``benchmarks`` lists the anchors above
for delivery, open, bounce and complaint rates. ``sent == 0`` raises ``NoData`` (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from commands import health_insights as insights

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

WINDOW = timedelta(days=30)  # the totals a score is calculated over end at the calculation
# (lower bound, grade, status), best first; below 60 is F / critical.
GRADES = (
    (95.0, "A+", "excellent"), (90.0, "A", "excellent"), (85.0, "B+", "good"), (80.0, "B", "good"),
    (75.0, "C+", "fair"), (70.0, "C", "fair"), (60.0, "D", "poor"), (0.0, "F", "critical"),
)  # fmt: skip


class NoData(LookupError):
    """The customer has not sent anything yet, so there is nothing to score."""

    code = "no_data"
    status = 404
    message = "no data yet, send some emails first"

    def __init__(self) -> None:
        super().__init__(self.message)


@dataclass(frozen=True)
class Rule:
    """How one component is valued, scored and banded."""

    name: str
    metric: str
    weight: int
    good: float
    average: float
    poor: float


RULES = (
    Rule("bounce", "bounce_rate", 35, 2.0, 5.0, 10.0),
    Rule("complaint", "complaint_rate", 35, 0.1, 0.5, 1.0),
    Rule("delivery", "delivery_rate", 15, 98.0, 95.0, 90.0),
    Rule("opens", "open_rate", 10, 25.0, 20.0, 10.0),
    Rule("clicks", "click_rate", 5, 3.0, 2.0, 0.5),
)
BENCHMARKS = {
    rule.metric: {"good": rule.good, "average": rule.average, "poor": rule.poor}
    for rule in RULES
    if rule.name != "clicks"
}


@dataclass(frozen=True)
class Component:
    """One scored component, shown in the response."""

    name: str
    metric: str
    value: float
    score: float
    weight: int
    band: str


@dataclass(frozen=True)
class HealthScore:
    """A calculated health score with its insights and every component."""

    overall_score: float
    reputation_grade: str
    status: str
    summary: str
    recommendations: tuple[str, ...]
    rates: Mapping[str, float]
    components: tuple[Component, ...]

    def to_dict(self, last_calculated: datetime) -> dict[str, Any]:
        """The spec §11 response body, plus the components."""
        return {
            "health_score": {
                "overall_score": self.overall_score,
                **self.rates,
                "reputation_grade": self.reputation_grade,
                "last_calculated": last_calculated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "insights": {
                "status": self.status,
                "summary": self.summary,
                "recommendations": list(self.recommendations),
            },
            "benchmarks": {metric: dict(levels) for metric, levels in BENCHMARKS.items()},
            "components": [vars(component).copy() for component in self.components],
        }

    def record(self) -> dict[str, Any]:
        """The JSON-ready fields, as an event stores them; :meth:`from_record` reverses it."""
        return {
            "overall_score": self.overall_score, "reputation_grade": self.reputation_grade,
            "status": self.status, "summary": self.summary,
            "recommendations": list(self.recommendations), "rates": dict(self.rates),
            "components": [vars(component).copy() for component in self.components],
        }  # fmt: skip

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> HealthScore:
        """The score that :meth:`record` wrote."""
        return cls(
            float(data["overall_score"]), str(data["reputation_grade"]), str(data["status"]),
            str(data["summary"]), tuple(data["recommendations"]), dict(data["rates"]),
            tuple(Component(**component) for component in data["components"]),
        )


def score(totals: Mapping[str, int | float]) -> HealthScore:
    """Score §7 outbound totals (``read_api.views.outbound_totals``); NoData when nothing was sent."""
    if not totals.get("sent"):
        raise NoData()
    values = _values(totals)
    components = tuple(_component(rule, values[rule.metric]) for rule in RULES)
    overall = _half_up(sum(c.score * c.weight for c in components) / 100)
    grade, status = grade_for(overall)
    alarms = insights.alarms(values)
    status = "critical" if alarms else status
    # The shown rates are the §7 figures, but delivery may use its fallback.
    rates = {**values, "open_rate": float(totals["open_rate"]), "click_rate": float(totals["click_rate"])}
    weak = [(rule, c) for rule, c in zip(RULES, components, strict=True) if c.band != "good"]
    recommendations = tuple(insights.advice(rule, c) for rule, c in weak)
    summary = insights.summary(overall, grade, status, alarms, components)
    return HealthScore(overall, grade, status, summary, recommendations, rates, components)


def grade_for(overall: float) -> tuple[str, str]:
    """The reputation grade and status of an overall score, by each grade's lower bound."""
    return next((grade, status) for floor, grade, status in GRADES if overall >= floor)


def ramp(value: float, good: float, average: float, poor: float) -> float:
    """100 at ``good``, 50 at ``average``, 0 at ``poor``, linear between, clamped to 0-100."""
    if (value - average) * (poor - average) > 0:
        raw = 50 - 50 * (value - average) / (poor - average)
    else:
        raw = 100 - 50 * (value - good) / (average - good)
    return min(100.0, max(0.0, raw))


def band(rule: Rule, value: float) -> str:
    """good / acceptable / poor, or critical past the published limit of bounce and complaint."""
    if rule.poor > rule.good:  # lower is better: the published half-open bands
        if value < rule.good:
            return "good"
        if value <= rule.average:
            return "acceptable"
        return "critical" if value > rule.poor else "poor"
    if value >= rule.good:
        return "good"
    return "acceptable" if value >= rule.average else "poor"


def _values(totals: Mapping[str, int | float]) -> dict[str, float]:
    sent, delivered = totals["sent"], totals["delivered"]
    engaged = delivered or sent
    opens = min(totals["unique_opens"], totals.get("human_opens", totals["unique_opens"]))
    clicks = min(totals["unique_clicks"], totals.get("human_clicks", totals["unique_clicks"]))
    reached = sent - totals["bounced"] - totals["failed"]
    delivery = totals["delivery_rate"] if delivered else max(0.0, 100.0 * reached / sent)
    return {
        "bounce_rate": float(totals["bounce_rate"]),
        "complaint_rate": float(totals["complaint_rate"]),
        "delivery_rate": round(float(delivery), 2),
        "open_rate": round(100.0 * opens / engaged, 2),
        "click_rate": round(100.0 * clicks / engaged, 2),
    }


def _half_up(value: float) -> float:
    # round() is half-to-even; by hand 91.25 rounds to 91.3, so the score does too.
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _component(rule: Rule, value: float) -> Component:
    points = round(ramp(value, rule.good, rule.average, rule.poor), 2)
    return Component(rule.name, rule.metric, value, points, rule.weight, band(rule, value))
