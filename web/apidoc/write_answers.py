"""Answers of the write side (spec §3, §10, §12, §14, §15), as documented schemas."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from event_store.aggregates.webhooks import EVENT_NAMES
from web.apidoc.common import DETAILS_REF
from web.apidoc.common import Pagination
from web.apidoc.common import count
from web.apidoc.common import text
from web.apidoc.common import when


class Queued(Schema):
    """A message accepted for delivery."""

    message_id = fields.UUID(required=True, metadata={"description": "the email_id of the message"})
    to = fields.Email(required=True)
    submitted_at = when("when it was queued")
    status = text("always queued", validate=validate.OneOf(["queued"]))


class BatchRequest(Schema):
    """Body of ``POST /api/batch``: each item shaped like a ``/api/send`` body."""

    # Any item is accepted and answered on its own (a bad one is its result's error and details),
    # so an item is documented as "a SendRequest, or anything else" rather than as a SendRequest.
    emails = fields.List(fields.Raw(metadata={
        "description": "shaped like a /api/send body; an item that is not fails alone, in `results`",
        "anyOf": [{"$ref": "#/components/schemas/SendRequest"}, {}]}),
        required=True, validate=validate.Length(1, 500))


class BatchItem(Schema):
    """One item's outcome: its ``message_id``, or its ``error`` and ``message``."""

    index = count("position in the request")
    message_id = fields.UUID()
    error = text("the refusal's code")
    message = text("the refusal's sentence")
    details = fields.Dict(metadata={DETAILS_REF: True, "description": "validation problems of this item"})


class BatchResult(Schema):
    """Per-item outcomes of a batch."""

    total = count("items in the request")
    queued = count("items queued")
    failed = count("items refused")
    results = fields.List(fields.Nested(BatchItem))


class BulkResult(BatchResult):
    """Per-recipient outcomes of a bulk send."""

    batch_id = fields.UUID()


class Unsubscribe(Schema):
    """One unsubscribe entry."""

    id = fields.UUID()
    email = fields.Email()
    domain_id = fields.UUID(allow_none=True, metadata={"description": "null: all domains"})
    source = fields.String(validate=validate.OneOf(["link", "one-click", "api", "manual", "bounce",
                                                    "complaint"]))
    reason = fields.String(allow_none=True)
    created_at = when()


class Unsubscribed(Schema):
    """The entry just created."""

    message = fields.String()
    unsubscribe = fields.Nested(Unsubscribe)


class Resubscribed(Schema):
    """The address that may be mailed again."""

    message = fields.String()
    email = fields.Email()


class FiredRule(Schema):
    """A content rule that fired."""

    name = fields.String()
    description = fields.String()
    points = fields.Integer()


class ContentScore(Schema):
    """A spam score with every rule that fired and what to change."""

    score = fields.Integer()
    rating = fields.String()
    likely_spam = fields.Boolean()
    rules = fields.List(fields.Nested(FiredRule))
    suggestions = fields.List(fields.String())


class WebhookEndpoint(Schema):
    """An outbound webhook endpoint (never its secret)."""

    id = fields.UUID()
    url = fields.Url()
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_NAMES)))
    domain_ids = fields.List(fields.UUID())
    is_active = fields.Boolean()
    created_at = when()


class WebhookCreated(Schema):
    """The endpoint and its signing secret, shown only here."""

    webhook = fields.Nested(WebhookEndpoint)
    secret = text("HMAC-SHA256 key of the deliveries' signatures")
    warning = fields.String()


class WebhookAnswer(Schema):
    """``{"webhook": {...}}``."""

    webhook = fields.Nested(WebhookEndpoint)


class WebhookList(Schema):
    """Every endpoint, in creation order."""

    webhooks = fields.List(fields.Nested(WebhookEndpoint))
    pagination = fields.Nested(Pagination)


class ReportOutcome(Schema):
    """One parsed report."""

    report_id = text("SHA-256 of the report's canonical fields")
    recipient = fields.Email()
    message_id = fields.String(allow_none=True)
    duplicate = fields.Boolean()


class ReportsAccepted(Schema):
    """What an inbound report changed."""

    accepted = count("reports recorded now")
    duplicates = count("reports seen before (idempotent)")
    reports = fields.List(fields.Nested(ReportOutcome))


class JsonReport(Schema):
    """A bounce or complaint report as JSON (one object, or a list of them)."""

    message_id = fields.UUID(metadata={"description": "our message id"})
    recipient = fields.Email(required=True)
    type = fields.String(validate=validate.OneOf(["hard", "soft"]), metadata={"description": "bounces"})
    code = fields.Integer(metadata={"description": "SMTP code"})
    status = text("enhanced status, e.g. 5.1.1")
    diagnostic = fields.String()
    feedback_type = text("complaints: abuse, fraud...")
    timestamp = when("when it happened")
