"""Answers of the account endpoints (spec §4–§6), as documented schemas."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from web.apidoc.common import Pagination
from web.apidoc.common import count
from web.apidoc.common import text
from web.apidoc.common import when


class Profile(Schema):
    """The customer, its limits and usage; the API key masked."""

    id = fields.UUID()
    name = fields.String()
    email = fields.Email()
    status = text(validate=validate.OneOf(["active", "suspended", "pending"]))
    tier = text(validate=validate.OneOf(["starter", "professional", "enterprise"]))
    created_at = when()
    webhook_url = fields.String(allow_none=True)
    tracking_enabled = fields.Boolean()
    open_tracking_enabled = fields.Boolean()
    click_tracking_enabled = fields.Boolean()
    monthly_email_limit = count()
    emails_sent_this_month = count()
    remaining_emails = count()
    max_domains = count()
    current_domains = count()
    enforce_sender_verification = fields.Boolean()
    api_key = text("masked: prefix and last 4 characters")


class ProfileAnswer(Schema):
    """``{"customer": {...}}``; ``webhook_secret`` when the request set ``webhook_url``."""

    customer = fields.Nested(Profile)
    webhook_secret = text("signs deliveries to webhook_url; shown when the URL is set")


class CustomerRef(Schema):
    """Who a key belongs to."""

    id = fields.UUID()
    name = fields.String()
    email = fields.Email()


class KeyRotated(Schema):
    """The new API key, shown only here."""

    message = fields.String()
    api_key = text("ml_live_ + 64 hex characters")
    key_prefix = fields.String()
    customer = fields.Nested(CustomerRef)


class Smtp(Schema):
    """Where and as whom to connect over SMTP."""

    host = fields.String()
    ports = fields.List(fields.Integer())
    recommended_port = fields.Integer(metadata={"example": 587})
    username = fields.String()
    password = text("only in the rotation answer")


class SmtpAnswer(Schema):
    """``{"smtp_credentials": {...}}`` (never the password)."""

    smtp_credentials = fields.Nested(Smtp)


class SmtpRotated(Schema):
    """The new SMTP password, shown only here."""

    success = fields.Boolean()
    message = fields.String()
    smtp_credentials = fields.Nested(Smtp)
    warning = fields.String()


class DnsRecord(Schema):
    """A record to publish, and what the last check found."""

    purpose = fields.String(validate=validate.OneOf(["ownership", "spf", "dkim", "dmarc"]))
    type = text("TXT, CNAME...")
    host = fields.String()
    value = fields.String()
    valid = fields.Boolean()
    found = fields.List(fields.String())
    reason = fields.String(allow_none=True, metadata={"description": "why the check failed"})


class Domain(Schema):
    """A sending domain."""

    id = fields.UUID()
    domain = fields.String()
    status = fields.String(validate=validate.OneOf(["pending", "verified", "failed"]))
    created_at = when()
    verified_at = fields.DateTime(allow_none=True)
    last_checked_at = fields.DateTime(allow_none=True)
    dkim_selector = fields.String()
    open_tracking_enabled = fields.Boolean(allow_none=True)
    click_tracking_enabled = fields.Boolean(allow_none=True)
    vouched = fields.Boolean(metadata={"description": "the operator vouched for it: it stays verified "
                                                      "whatever a DNS check finds"})
    dns_verified = fields.Boolean(allow_none=True, metadata={
        "description": "the outcome of the last DNS check (null before one)"})
    dns_records = fields.List(fields.Nested(DnsRecord))


class DomainAnswer(Schema):
    """``{"domain": {...}}``."""

    domain = fields.Nested(Domain)


class DomainList(Schema):
    """Every domain, in creation order."""

    domains = fields.List(fields.Nested(Domain))
    pagination = fields.Nested(Pagination)
