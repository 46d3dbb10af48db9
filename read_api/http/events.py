"""The Events API (spec §8) and the streaming export (spec §9): enterprise customers only.

``GET /events`` pages the customer's events, newest first (``page``/``limit`` or ``cursor``);
``GET /emails/<email_id>/events`` is one email's events, oldest first, and its timeline;
``GET /events/export?format=csv|ndjson`` streams every filtered event. A tier without
``events_api`` gets ``403 event_api_disabled`` on all three; only events inside the tier's
``retention_days`` are visible; another customer's email answers 404 like an unknown one.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request

from event_store.errors import DomainError
from event_store.errors import NotFound
from read_api.events import export as exports
from read_api.events import listing
from read_api.events import shape
from read_api.events.filters import parse_filters
from read_api.events.filters import parse_page
from read_api.params import BadParam

if TYPE_CHECKING:
    from warehouse.port import ClickHouse

bp = Blueprint("events_api", __name__)


@bp.before_request
def _enterprise_only() -> None:
    if not g.customer.limits.get("events_api"):
        raise DomainError("the Events API is part of the enterprise tier; your tier does not include it",
                          code="event_api_disabled", status=403)


def _client() -> ClickHouse:
    return current_app.extensions["clickhouse"]()  # type: ignore[no-any-return]


def _since() -> datetime:
    # The operator's retention settings (MAILERLOGIC_*RETENTION_DAYS), else the tier's default.
    settings = current_app.extensions.get("settings")
    days = (settings.retention_days_for(g.customer.tier) if settings is not None
            else g.customer.limits["retention_days"])
    return listing.visible_since(int(days), datetime.now(UTC))


@bp.get("/events")
def list_events() -> dict[str, Any]:
    """A page of the customer's events, newest first, with a cursor to the next page."""
    filters = parse_filters(request.args)
    page = parse_page(request.args, filters)
    return listing.page(_client(), customer_id=g.customer.id, since=_since(), filters=filters,
                        request=page)


@bp.get("/emails/<email_id>/events")
def email_events(email_id: str) -> dict[str, Any]:
    """Every event of one email, oldest first, and its timeline (one entry per step)."""
    try:
        email = UUID(email_id)
    except ValueError:
        email = None
    events = [] if email is None else listing.email_events(
        _client(), customer_id=g.customer.id, since=_since(), email_id=email)
    if not events:
        raise NotFound("Email not found or access denied")
    return {"email_id": str(email), "events": events, "timeline": shape.timeline(events)}


@bp.get("/events/export")
def export_events() -> Response:
    """Stream every filtered event as CSV or NDJSON (chunked, constant memory)."""
    fmt = request.args.get("format") or "csv"
    if fmt not in exports.FORMATS:
        raise BadParam("format", f"must be one of {', '.join(exports.FORMATS)}")
    filters = parse_filters(request.args)
    chunks = exports.export(_client(), customer_id=g.customer.id, since=_since(), filters=filters,
                            fmt=fmt)
    first = next(chunks, b"")  # a ClickHouse error before the first byte is still a JSON error
    _, _, content_type, suffix = exports.FORMATS[fmt]
    name = f"events-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{suffix}"
    return Response(chain([first], chunks), content_type=content_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
