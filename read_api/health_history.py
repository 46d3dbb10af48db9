"""Health-score history (spec §11) from the ``health_history`` projection, and who can be scored.

``health_history`` (``projections/ddl/04_health_history.sql``) holds one row per customer and
UTC day, the latest ``health_scored`` calculation of that day; rows not merged yet are
collapsed here with ``argMax(..., position)`` (position is commit order, and one customer's
calculations commit in calculation order), so a day appears once whatever the merge state.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import g
from flask import request

from read_api.params import whole_number
from read_api.views import floor_hour

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from warehouse.port import ClickHouse

bp = Blueprint("health_history", __name__)
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 365, 30
RATES = ("delivery_rate", "open_rate", "click_rate", "bounce_rate", "complaint_rate")

HISTORY_SQL = f"""
SELECT
    day,
    argMax(overall_score, position),
    argMax(reputation_grade, position),
    {", ".join(f"argMax({rate}, position)" for rate in RATES)}
FROM health_history
WHERE customer_id = %(customer_id)s AND day >= %(first)s AND day <= %(last)s
GROUP BY day
ORDER BY day
"""
# Customers with at least one accepted message (``queued``) in the hours [start, end).
SENDERS_SQL = """
SELECT DISTINCT customer_id
FROM stats_hourly
WHERE event_type = 'queued' AND hour >= %(start)s AND hour < %(end)s
ORDER BY customer_id
"""


def history(client: ClickHouse, *, customer_id: UUID, first: date, last: date) -> list[dict[str, Any]]:
    """The latest calculation of each UTC day in [first, last] that has one, oldest first."""
    rows = client.execute(HISTORY_SQL, {"customer_id": customer_id, "first": first, "last": last})
    return [
        {"date": day.isoformat(), "overall_score": float(score), "reputation_grade": grade,
         **{rate: float(value) for rate, value in zip(RATES, rates, strict=True)}}
        for day, score, grade, *rates in rows
    ]


def senders(client: ClickHouse, *, start: datetime, end: datetime) -> list[UUID]:
    """Every customer who had a message accepted in the hours [floor(start), end)."""
    return [row[0] for row in client.execute(SENDERS_SQL, {"start": floor_hour(start), "end": end})]


def days_param(args: Mapping[str, str]) -> int:
    """``days``: an integer 1..365, default 30; anything else is a :class:`BadParam` (400)."""
    return whole_number(args, "days", DEFAULT_DAYS, MAX_DAYS, MIN_DAYS)


@bp.get("/customer/health-score/history")
def health_history() -> dict[str, Any]:
    """The last ``days`` UTC days (today included): one entry per day with a calculation."""
    days = days_param(request.args)
    today = datetime.now(UTC).date()
    found = history(current_app.extensions["clickhouse"](), customer_id=g.customer.id,
                    first=today - timedelta(days=days - 1), last=today)
    return {"history": found, "period_days": days}
