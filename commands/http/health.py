"""Health score endpoints (spec §11): the latest calculation, and a forced refresh.

The history (``GET /api/customer/health-score/history``) is a read model, served by
``read_api.health_history``.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import g

from commands.health import CalculateHealthScore

bp = Blueprint("health", __name__)
MAX_AGE = timedelta(hours=24)  # an older calculation is replaced by a new one on GET


@bp.get("/customer/health-score")
def health_score() -> dict[str, Any]:
    """The latest calculation, calculated now if there is none from the last 24 hours."""
    now = datetime.now(UTC)
    calculation = current_app.extensions["bus"].handle(
        CalculateHealthScore(g.customer.id, now, reuse_since=now - MAX_AGE))
    return calculation.to_dict()  # type: ignore[no-any-return]


@bp.post("/customer/health-score/refresh")
def refresh() -> dict[str, Any]:
    """Calculate now (one new event), whatever the latest calculation is."""
    calculation = current_app.extensions["bus"].handle(
        CalculateHealthScore(g.customer.id, datetime.now(UTC)))
    body = calculation.to_dict()
    return {
        "health_score": body["health_score"],
        "insights": {"status": body["insights"]["status"], "summary": body["insights"]["summary"]},
        "components": body["components"],
        "message": "Health score refreshed successfully",
    }
