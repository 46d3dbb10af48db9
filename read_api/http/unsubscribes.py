"""``GET /api/customer/unsubscribes`` (spec §10): the customer's active unsubscribe list.

Only GET: ``commands.http.suppression`` serves POST and DELETE on the same path (Flask matches
the method across blueprints). The list is eventually consistent (see
:mod:`read_api.unsubscribes`); the send-time suppression check is immediate.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app
from flask import g
from flask import request

from read_api.unsubscribes import list_query
from read_api.unsubscribes import unsubscribes

bp = Blueprint("unsubscribes", __name__)


@bp.get("/customer/unsubscribes")
def list_unsubscribes() -> dict[str, Any]:
    """Active entries, newest first, filtered and paged; a bad parameter is a 400."""
    query = list_query(request.args)
    return unsubscribes(current_app.extensions["clickhouse"](), customer_id=g.customer.id, query=query)
