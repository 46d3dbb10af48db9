"""Request schemas (marshmallow): the contract's fields, types and limits."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from event_store.mail_rules import header_name_problem
from event_store.mail_rules import line_problem
from event_store.mail_rules import text_problem

MAX_BODY_CHARS = 1024 * 1024  # html and text: 1 MB each (spec §3), checked as 413
MAX_RECIPIENTS = 1000


def _about(text: str) -> dict[str, str]:
    """Field metadata for the API reference (``web.apidoc``)."""
    return {"description": text}


def one_line(value: str) -> None:
    """A subject, header value, address, tag: the renderer's one-line rule (mail_rules)."""
    if (problem := line_problem(value)) is not None:
        raise ValidationError(problem)


def mail_text(value: str) -> None:
    """An html or text body: tab, LF and CR are its only control characters (mail_rules)."""
    if (problem := text_problem(value)) is not None:
        raise ValidationError(problem)


def _header_name(name: str) -> None:
    if (problem := header_name_problem(name)) is not None:
        raise ValidationError(problem)


def _metadata_problem(value: Any) -> str | None:
    # Keys are one-line, string values text; nesting is bounded (64) by the JSON parser.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and (problem := text_problem(item)) is not None:
            return problem
        if isinstance(item, dict):
            for key in item:
                if (problem := line_problem(str(key))) is not None:
                    return f"key {key!r} {problem}"
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return None


class SendSchema(Schema):
    """Body of ``POST /api/send`` (spec §3)."""

    class Meta:
        unknown = RAISE

    to = fields.Email(required=True, validate=one_line)
    subject = fields.String(required=True, validate=[validate.Length(1, 998), one_line])
    html = fields.String(load_default=None, validate=mail_text,
                         metadata=_about("HTML part, at most 1 MB; html or text required"))
    text = fields.String(load_default=None, validate=mail_text,
                         metadata=_about("plain-text part, at most 1 MB"))
    domain = fields.String(load_default=None, validate=validate.Length(1, 253),
                           metadata=_about("a sending domain of yours; default: your first verified one"))
    from_ = fields.Email(data_key="from", load_default=None, validate=one_line,
                         metadata=_about("default noreply@<domain>; must be on the sending domain"))
    reply_to = fields.Email(load_default=None, validate=one_line)
    cc = fields.List(fields.Email(validate=one_line), load_default=list)
    bcc = fields.List(fields.Email(validate=one_line), load_default=list,
                      metadata=_about(f"to + cc + bcc: at most {MAX_RECIPIENTS} recipients"))
    headers = fields.Dict(keys=fields.String(validate=_header_name), values=fields.String(validate=one_line),
                          load_default=dict, metadata=_about("custom headers, sent with the mail"))
    tag = fields.String(load_default=None, validate=[validate.Length(1, 128), one_line],
                        metadata=_about("for analytics filters"))
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(1, 128)),
                           load_default=dict, metadata=_about("stored with the message, not sent; < 10 kB"))
    track_opens = fields.Boolean(load_default=None, metadata=_about("default: the domain/account setting"))
    track_clicks = fields.Boolean(load_default=None, metadata=_about("default: the domain/account setting"))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("html") and not data.get("text"):
            raise ValidationError("html or text is required", "html")
        if len(str(data.get("metadata", {}))) > 10_000:
            raise ValidationError("metadata is larger than 10 kB", "metadata")
        if (problem := _metadata_problem(data.get("metadata", {}))) is not None:
            raise ValidationError(problem, "metadata")


class ProfileSchema(Schema):
    """Body of ``PATCH /api/customer/profile``: only the fields given change."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=[validate.Length(1, 200), one_line])
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
