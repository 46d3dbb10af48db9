"""Outbound webhook endpoints: ``/api/customer/webhooks`` (spec §15)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint
from flask import current_app
from flask import g
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from commands.http.sending import load_json
from commands.webhooks import AddWebhook
from commands.webhooks import ChangeWebhook
from commands.webhooks import RemoveWebhook
from commands.webhooks import endpoints_of
from event_store.aggregates.webhooks import EVENT_NAMES
from event_store.errors import NotFound

bp = Blueprint("webhooks_api", __name__)


class WebhookSchema(Schema):
    """An endpoint's settings; ``partial`` for PATCH."""

    class Meta:
        unknown = RAISE

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    name = fields.String(load_default=None, validate=validate.Length(max=100))
    description = fields.String(load_default=None, validate=validate.Length(max=500))
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_NAMES)), load_default=list)
    domain_ids = fields.List(fields.UUID(), load_default=list)
    is_active = fields.Boolean(load_default=True)


def _load(partial: bool) -> dict[str, Any]:
    # https and the address rule are the handlers' (commands.webhooks.check_target)
    return load_json(WebhookSchema(partial=partial))


def view(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret)."""
    return {"id": str(endpoint["id"]), "url": endpoint["url"], "name": endpoint.get("name"),
            "description": endpoint.get("description"), "events": list(endpoint.get("events") or []),
            "domain_ids": [str(d) for d in endpoint.get("domain_ids") or []],
            "is_active": endpoint.get("is_active", True),
            "created_at": endpoint["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")}


def _id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound("webhook not found") from None


@bp.post("/customer/webhooks")
def add() -> tuple[dict[str, Any], int]:
    """Add an endpoint; the signing secret is shown only in this answer."""
    endpoint, secret = current_app.extensions["bus"].handle(AddWebhook(g.customer.id, _load(False)))
    return {"webhook": view(endpoint), "secret": secret,
            "warning": "Store this secret now: it cannot be shown again."}, 201


@bp.get("/customer/webhooks")
def list_all() -> dict[str, Any]:
    """Every endpoint of the customer."""
    endpoints = endpoints_of(current_app.extensions["bus"], g.customer.id)
    found = sorted(endpoints.endpoints.values(), key=lambda e: e["created_at"]) if endpoints else []
    return {"webhooks": [view(e) for e in found],
            "pagination": {"page": 1, "limit": max(len(found), 1), "total": len(found), "pages": 1}}


@bp.get("/customer/webhooks/<endpoint_id>")
def get_one(endpoint_id: str) -> dict[str, Any]:
    """One endpoint."""
    endpoints = endpoints_of(current_app.extensions["bus"], g.customer.id)
    if endpoints is None:
        raise NotFound("webhook not found")
    return {"webhook": view(endpoints.endpoint(_id(endpoint_id)))}


@bp.patch("/customer/webhooks/<endpoint_id>")
def change(endpoint_id: str) -> dict[str, Any]:
    """Change an endpoint."""
    changes = _load(True)
    endpoint = current_app.extensions["bus"].handle(ChangeWebhook(g.customer.id, _id(endpoint_id), changes))
    return {"webhook": view(endpoint)}


@bp.delete("/customer/webhooks/<endpoint_id>")
def remove(endpoint_id: str) -> dict[str, Any]:
    """Remove an endpoint."""
    current_app.extensions["bus"].handle(RemoveWebhook(g.customer.id, _id(endpoint_id)))
    return {"message": "webhook removed", "id": endpoint_id}
