"""Unsubscribes (§10), unsubscribe links (§13), inbound reports (§14), content scoring (§12)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any
from uuid import UUID

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import render_template_string
from flask import request
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from commands import reports
from commands.content_score import score
from commands.http.schemas import MAX_BODY_CHARS
from commands.http.sending import load_json
from commands.suppression import RecordReport
from commands.suppression import Resubscribe
from commands.suppression import Unsubscribe
from commands.suppression import UnsubscribeByLink
from event_store.errors import DomainError
from event_store.errors import NotFound
from security import inbound_signature
from security import tokens

bp = Blueprint("suppression", __name__)
webhooks = Blueprint("webhooks", __name__)
links = Blueprint("unsubscribe_links", __name__)
MAX_REPORT_BYTES = 1024 * 1024


class UnsubscribeSchema(Schema):
    """Body of ``POST /api/customer/unsubscribes``."""

    class Meta:
        unknown = "raise"

    email = fields.Email(required=True)
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    domain_id = fields.UUID(load_default=None)


class ContentSchema(Schema):
    """Body of ``POST /api/content/score``."""

    class Meta:
        unknown = "raise"

    subject = fields.String(required=True, validate=validate.Length(max=998))
    html = fields.String(load_default=None, validate=validate.Length(max=MAX_BODY_CHARS))
    text = fields.String(load_default=None, validate=validate.Length(max=MAX_BODY_CHARS))
    from_ = fields.Email(data_key="from", load_default=None)


def _bus() -> Any:
    return current_app.extensions["bus"]


@bp.post("/customer/unsubscribes")
def unsubscribe() -> tuple[dict[str, Any], int]:
    """Unsubscribe an address (global, or for one domain); the next send to it is refused."""
    body = load_json(UnsubscribeSchema())
    entry = _bus().handle(Unsubscribe(g.customer.id, body["email"], body["domain_id"], "api",
                                      body["reason"]))
    return {"message": "Unsubscribed", "unsubscribe": {
        "id": str(entry["id"]), "email": entry["email"],
        "domain_id": str(entry["domain_id"]) if entry["domain_id"] else None, "source": "api",
        "reason": entry["reason"], "created_at": entry["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ")}}, 201


@bp.delete("/customer/unsubscribes/<path:email>")
def resubscribe(email: str) -> dict[str, Any]:
    """Remove an unsubscribe (global, or the ``domain_id`` one)."""
    domain_id = request.args.get("domain_id")
    try:
        scope = UUID(domain_id) if domain_id else None
    except ValueError:
        raise NotFound("not unsubscribed") from None
    _bus().handle(Resubscribe(g.customer.id, email.lower(), scope))
    return {"message": "Re-subscribed", "email": email.lower()}


@bp.post("/content/score")
def content_score() -> dict[str, Any]:
    """Score content for spam patterns before sending; nothing is recorded."""
    body = load_json(ContentSchema())
    return dataclasses.asdict(score(body["subject"], body["html"], body["text"], body["from_"]))


#: Jinja with autoescape (``render_template_string``): what the request carries is escaped.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{% if action %}
<p>Stop receiving these emails?</p><form method="post" action="{{ action }}">
<button type="submit">Unsubscribe</button></form>{% else %}
<p>You are unsubscribed. You will not receive these emails any more.</p>{% endif %}</body></html>"""


@links.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe_link(token: str) -> Response:
    """GET: a confirmation page; POST (the page's button, or RFC 8058 one-click): unsubscribe."""
    found = tokens.verify(current_app.extensions["secret_key"], "u", token)
    if found is None:
        raise NotFound("unknown unsubscribe link")
    if request.method == "GET":
        page = render_template_string(PAGE, title="Unsubscribe", action=request.path)
        return Response(page, mimetype="text/html")
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    _bus().handle(UnsubscribeByLink(found.message_id, "one-click" if one_click else "link"))
    return Response(render_template_string(PAGE, title="Unsubscribed", action=None), mimetype="text/html")


@webhooks.post("/webhooks/<kind>")
def inbound_report(kind: str) -> dict[str, Any]:
    """A signed bounce or complaint report (JSON, RFC 3464 DSN or RFC 5965 ARF); idempotent."""
    if kind not in ("bounce", "complaint"):
        raise NotFound("unknown webhook")
    if (request.content_length or 0) > MAX_REPORT_BYTES:
        raise DomainError("a report may be at most 1 MB", code="payload_too_large", status=413)
    body = request.get_data(cache=False)
    _check_signature(kind, body)
    parsed = reports.parse(request.content_type or "", body, kind)  # type: ignore[arg-type]
    applied = [_bus().handle(RecordReport(report)) for report in parsed]
    return {"accepted": sum(applied), "duplicates": len(applied) - sum(applied),
            "reports": [{"report_id": r.report_id, "recipient": r.recipient, "message_id": r.message_id,
                         "duplicate": not ok} for r, ok in zip(parsed, applied, strict=True)]}


def _check_signature(kind: str, body: bytes) -> None:
    """Verify the signature over timestamp, endpoint and body, then claim it once (else 409)."""
    stamp, now = request.headers.get(inbound_signature.TIMESTAMP_HEADER, ""), time.time()
    digest = inbound_signature.verify(current_app.extensions["settings"].webhook_secret, stamp,
                                      inbound_signature.PATHS[kind], body,
                                      request.headers.get(inbound_signature.SIGNATURE_HEADER, ""), now=now)
    if not current_app.extensions["seen_signatures"].claim(digest, inbound_signature.expires_at(stamp), now):
        raise inbound_signature.replayed()
    g.claimed_signature = digest


@webhooks.after_request
def _keep_claim(response: Response) -> Response:
    """An answered report keeps its signature's claim: the same request is a replay from now on."""
    if response.status_code < 400:
        g.pop("claimed_signature", None)
    return response


@webhooks.teardown_request
def _release_claim(_: BaseException | None) -> None:
    """A report refused or failed after the claim gives it back, so the sender may retry it."""
    digest = g.pop("claimed_signature", None)
    if digest is not None:
        current_app.extensions["seen_signatures"].release(digest)
