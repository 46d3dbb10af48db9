"""Request schemas (marshmallow): the contract's fields, types and limits."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

MAX_BODY_CHARS = 1024 * 1024  # html and text: 1 MB each (spec §3), checked as 413
MAX_RECIPIENTS = 1000
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable, no colon
_RESERVED_HEADERS = {"from", "to", "cc", "bcc", "subject", "reply-to", "message-id", "date",
                     "dkim-signature", "list-unsubscribe", "list-unsubscribe-post"}


def _about(text: str) -> dict[str, str]:
    """Field metadata for the API reference (``mailerlogic.apidoc``)."""
    return {"description": text}


def _no_line_breaks(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValidationError("must not contain line breaks")


class SendSchema(Schema):
    """Body of ``POST /api/send`` (spec §3)."""

    class Meta:
        unknown = RAISE

    to = fields.Email(required=True)
    subject = fields.String(required=True, validate=[validate.Length(1, 998), _no_line_breaks])
    html = fields.String(load_default=None, metadata=_about("HTML part, at most 1 MB; html or text required"))
    text = fields.String(load_default=None, metadata=_about("plain-text part, at most 1 MB"))
    domain = fields.String(load_default=None, validate=validate.Length(1, 253),
                           metadata=_about("a sending domain of yours; default: your first verified one"))
    from_ = fields.Email(data_key="from", load_default=None,
                         metadata=_about("default noreply@<domain>; must be on the sending domain"))
    reply_to = fields.Email(load_default=None)
    cc = fields.List(fields.Email(), load_default=list)
    bcc = fields.List(fields.Email(), load_default=list,
                      metadata=_about(f"to + cc + bcc: at most {MAX_RECIPIENTS} recipients"))
    headers = fields.Dict(keys=fields.String(), values=fields.String(validate=_no_line_breaks),
                          load_default=dict, metadata=_about("custom headers, sent with the mail"))
    tag = fields.String(load_default=None, validate=[validate.Length(1, 128), _no_line_breaks],
                        metadata=_about("for analytics filters"))
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(1, 128)),
                           load_default=dict, metadata=_about("stored with the message, not sent; < 10 kB"))
    track_opens = fields.Boolean(load_default=None, metadata=_about("default: the domain/account setting"))
    track_clicks = fields.Boolean(load_default=None, metadata=_about("default: the domain/account setting"))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("html") and not data.get("text"):
            raise ValidationError("html or text is required", "html")
        for name in data.get("headers", {}):
            if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
                raise ValidationError(f"header {name!r} is not allowed", "headers")
        if len(str(data.get("metadata", {}))) > 10_000:
            raise ValidationError("metadata is larger than 10 kB", "metadata")


class ProfileSchema(Schema):
    """Body of ``PATCH /api/customer/profile``: only the fields given change."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=[validate.Length(1, 200), _no_line_breaks])
    webhook_url = fields.Url(schemes={"http", "https"}, require_tld=False, allow_none=True)
    tracking_enabled = fields.Boolean()
    open_tracking_enabled = fields.Boolean()
    click_tracking_enabled = fields.Boolean()
    enforce_sender_verification = fields.Boolean()

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give at least one field to change", "_schema")


class DomainSchema(Schema):
    """Body of ``POST /api/customer/domains``."""

    class Meta:
        unknown = RAISE

    domain = fields.String(required=True, validate=validate.Length(1, 253))


class DomainChangeSchema(Schema):
    """Body of ``PATCH /api/customer/domains/{id}``."""

    class Meta:
        unknown = RAISE

    open_tracking_enabled = fields.Boolean(allow_none=True)
    click_tracking_enabled = fields.Boolean(allow_none=True)
