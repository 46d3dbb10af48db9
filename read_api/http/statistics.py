"""The read endpoints: statistics (spec §7) and operations (spec §16)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import g
from flask import request
from werkzeug.exceptions import NotFound

from read_api import series
from read_api import views
from read_api.params import series_query
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


@bp.get("/stats/outbound/<kind>")
def outbound_series(kind: str) -> dict[str, Any]:
    """A zero-filled series of one kind of event, by hour or by day of a time zone."""
    if kind not in series.KINDS:
        raise NotFound(f"no statistics series {kind!r}; use one of {', '.join(series.KINDS)}")
    parsed = series_query(request.args, datetime.now(UTC))
    query = parsed.stats
    return series.series(
        current_app.extensions["clickhouse"](), kind=kind, customer_id=g.customer.id,
        start=query.start, end=query.end, domain_id=query.domain_id, tag=query.tag,
        filter=query.filter, interval=parsed.interval, timezone=parsed.timezone,
    )


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}
