"""The write endpoints: sending (spec §3) and tracking (spec §13)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import redirect
from flask import request
from marshmallow import Schema
from marshmallow import ValidationError
from werkzeug.wrappers import Response as WerkzeugResponse

from commands.http.pixel import CACHE_CONTROL
from commands.http.pixel import PIXEL
from commands.http.pixel import record_open
from commands.http.schemas import MAX_BODY_CHARS
from commands.http.schemas import MAX_RECIPIENTS
from commands.http.schemas import SendSchema
from commands.messages import RecordClick
from commands.messages import SendEmail
from event_store.errors import DomainError
from event_store.errors import NotFound
from security import tokens

bp = Blueprint("commands", __name__)
tracking = Blueprint("tracking", __name__)

_SEND_SCHEMA = SendSchema()


def json_body() -> Any:
    """The request's JSON body: 415 for another content type, 400 when malformed."""
    if not request.is_json:
        raise DomainError("send the body as application/json", code="unsupported_media_type",
                          status=415)
    body = request.get_json(silent=True)
    if body is None:
        raise DomainError("the body is not valid JSON", code="invalid_json", status=400)
    return body


def load_send(body: Any) -> dict[str, Any]:
    """Validate one send body: 413 for oversized parts, 400 with details, 422 over limits."""
    if isinstance(body, dict):
        for part in ("html", "text"):
            if isinstance(body.get(part), str) and len(body[part]) > MAX_BODY_CHARS:
                raise DomainError(f"{part} is larger than 1 MB", code="payload_too_large",
                                  status=413)
    data: dict[str, Any] = _SEND_SCHEMA.load(body)
    if 1 + len(data["cc"]) + len(data["bcc"]) > MAX_RECIPIENTS:
        raise DomainError(f"at most {MAX_RECIPIENTS} recipients including cc and bcc",
                          code="too_many_recipients")
    return data


def load_json(schema: Schema) -> dict[str, Any]:
    """The JSON body loaded by ``schema``: 415/400 for the body, 400 with details for fields."""
    try:
        data: dict[str, Any] = schema.load(json_body())
    except ValidationError as exc:
        raise validation_error(exc) from None
    return data


@bp.post("/send")
def send() -> tuple[dict[str, Any], int]:
    """Queue one message."""
    try:
        data = load_send(json_body())
    except ValidationError as exc:
        raise validation_error(exc) from None
    message = current_app.extensions["bus"].handle(SendEmail.from_body(g.customer.id, data, g.customer))
    submitted = message.created_on.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"message_id": str(message.id), "to": message.to, "submitted_at": submitted,
            "status": "queued"}, 200


def validation_error(exc: ValidationError) -> DomainError:
    """A 400 whose ``details`` carries marshmallow's per-field problems."""
    details = exc.normalized_messages()  # type: ignore[no-untyped-call]
    return DomainError("the request is invalid", code="validation_error", status=400,
                       details=details)


def _client() -> tuple[str, str]:
    return request.headers.get("User-Agent", ""), request.remote_addr or ""


@tracking.get("/o/<token>")
def open_pixel(token: str) -> Response:
    """Record an open and return a transparent 1x1 GIF (the GIF even for a bad token).

    ``GET`` is answered by :class:`commands.http.pixel.OpenPixel` below Flask with the same
    behaviour; this view serves ``HEAD`` (and any app built without that middleware).
    """
    status = record_open(current_app.extensions["secret_key"], current_app.extensions["bus"].handle,
                         token, *_client())
    response = Response(PIXEL, status=status, mimetype="image/gif")
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@tracking.get("/c/<token>")
def click(token: str) -> WerkzeugResponse:
    """Record a click and redirect to the link that was sent."""
    found = tokens.verify(current_app.extensions["secret_key"], "c", token)
    if found is None or not found.data.startswith(("http://", "https://")):
        raise NotFound("unknown link")
    user_agent, ip = _client()
    current_app.extensions["bus"].handle(RecordClick(found.message_id, found.data, user_agent, ip))
    response = redirect(found.data, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
