"""The read endpoints: statistics (spec §7) and operations (spec §16)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import g
from flask import request

from read_api import views
from read_api.params import stats_query

bp = Blueprint("read_api", __name__)
ops = Blueprint("ops", __name__)


@bp.get("/stats/outbound")
def outbound() -> dict[str, Any]:
    """Totals for the customer's outbound mail in a window."""
    query = stats_query(request.args, datetime.now(UTC))
    return views.outbound_totals(
        current_app.extensions["clickhouse"](), customer_id=g.customer.id, start=query.start,
        end=query.end, domain_id=query.domain_id, tag=query.tag, filter=query.filter,
    )


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}
