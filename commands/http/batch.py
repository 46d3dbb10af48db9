"""Many messages in one request: ``/api/batch`` (≤ 500 bodies) and ``/api/bulk-send``
(one ``{{variable}}`` template, ≤ 10,000 recipients). Each message is decided on its own:
one refusal never blocks the others."""

from __future__ import annotations

import html
import re
from typing import Any
from uuid import uuid4

from flask import Blueprint
from flask import current_app
from flask import g
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from commands.http.schemas import MAX_BODY_CHARS
from commands.http.schemas import mail_text
from commands.http.schemas import one_line
from commands.http.sending import json_body
from commands.http.sending import load_json
from commands.http.sending import load_send
from commands.messages import SendEmail
from commands.messages import SendMany
from event_store.errors import DomainError
from event_store.mail_rules import line_problem
from event_store.mail_rules import text_problem

bp = Blueprint("batch", __name__)
MAX_BATCH = 500
MAX_BULK = 10_000
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


class Recipient(Schema):
    """One recipient of a bulk send and its merge variables."""

    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=one_line)
    vars = fields.Dict(keys=fields.String(), load_default=dict)


class BulkSchema(Schema):
    """Body of ``POST /api/bulk-send``."""

    class Meta:
        unknown = RAISE

    subject = fields.String(required=True, validate=[validate.Length(1, 998), one_line])
    html = fields.String(load_default=None, validate=[validate.Length(max=MAX_BODY_CHARS), mail_text])
    text = fields.String(load_default=None, validate=[validate.Length(max=MAX_BODY_CHARS), mail_text])
    from_ = fields.Email(data_key="from", load_default=None, validate=one_line)
    domain = fields.String(load_default=None)
    reply_to = fields.Email(load_default=None, validate=one_line)
    tag = fields.String(load_default=None, validate=[validate.Length(1, 128), one_line])
    track_opens = fields.Boolean(load_default=True)
    track_clicks = fields.Boolean(load_default=True)
    recipients = fields.List(fields.Nested(Recipient), required=True,
                             validate=validate.Length(1, MAX_BULK))

    @validates_schema
    def _body(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("html") and not data.get("text"):
            raise ValidationError("html or text is required", "html")


def merge(template: str | None, values: dict[str, Any], *, escape: bool) -> str | None:
    """``{{name}}`` replaced by its value (HTML-escaped in HTML); unknown names become ''."""
    if template is None:
        return None

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        text = "" if found is None else str(found)
        return html.escape(text) if escape else text

    return VARIABLE.sub(value, template)


def _answer(results: list[Any]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        if isinstance(result, DomainError):
            out.append({"index": index, "error": result.code, "message": result.message,
                        **({"details": result.details} if result.details else {})})
        else:
            out.append({"index": index, "message_id": str(result.id)})
    queued = sum("message_id" in r for r in out)
    return {"total": len(out), "queued": queued, "failed": len(out) - queued, "results": out}


def _item(index: int, body: Any) -> SendEmail | DomainError:
    try:
        return SendEmail.from_body(g.customer.id, load_send(body))
    except ValidationError as exc:
        return DomainError(f"email {index} is invalid", code="validation_error", status=400,
                           details=exc.normalized_messages())  # type: ignore[no-untyped-call]
    except DomainError as exc:
        return exc


def _queue(items: list[SendEmail | DomainError]) -> list[Any]:
    """Queue the valid items; keep each invalid one's error at its index."""
    valid = tuple(i for i in items if isinstance(i, SendEmail))
    queued = iter(current_app.extensions["bus"].handle(SendMany(g.customer.id, valid, g.customer)))
    return [next(queued) if isinstance(item, SendEmail) else item for item in items]


@bp.post("/batch")
def batch() -> dict[str, Any]:
    """Up to 500 messages, each shaped like a /api/send body."""
    body = json_body()
    emails = body.get("emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_BATCH or set(body) != {"emails"}:
        raise DomainError("the request is invalid", code="validation_error", status=400,
                          details={"emails": [f"give a list of 1 to {MAX_BATCH} email objects"]})
    return _answer(_queue([_item(i, email) for i, email in enumerate(emails)]))


@bp.post("/bulk-send")
def bulk_send() -> dict[str, Any]:
    """One template, up to 10,000 recipients, ``{{variable}}`` mail merge per recipient."""
    data = load_json(BulkSchema())
    items = [_merged(index, data, recipient) for index, recipient in enumerate(data["recipients"])]
    return {"batch_id": str(uuid4()), **_answer(_queue(items))}


def _merged(index: int, data: dict[str, Any], recipient: dict[str, Any]) -> SendEmail | DomainError:
    """One recipient's message, refused on its own when its variables break a rule of mail_rules."""
    values = recipient["vars"]
    subject = (merge(data["subject"], values, escape=False) or "").replace("\r", " ").replace("\n", " ")
    html, text = merge(data["html"], values, escape=True), merge(data["text"], values, escape=False)
    problems = {name: [problem] for name, problem in (
        ("subject", line_problem(subject)), ("html", html and text_problem(html)),
        ("text", text and text_problem(text))) if problem}
    if problems:
        return DomainError(f"the message to recipient {index} is invalid once merged",
                           code="validation_error", status=400, details=problems)
    return SendEmail(
        customer_id=g.customer.id, to=recipient["email"], subject=subject, html=html, text=text,
        domain=data["domain"], from_address=data["from_"], reply_to=data["reply_to"], tag=data["tag"],
        track_opens=data["track_opens"], track_clicks=data["track_clicks"])
