"""Schemas shared by every part of the API document: the error shape, pagination, list queries.

These marshmallow schemas only describe answers (the views build plain dicts); the request
schemas the views really load live beside them in ``commands`` and are documented as they are.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate


def _about(description: str, **more: object) -> dict[str, object]:
    return {**({"description": description} if description else {}), **more}


def text(description: str = "", example: str | None = None, **kwargs: Any) -> fields.String:
    """A string field, described when ``description`` is given."""
    more = {"example": example} if example else {}
    return fields.String(metadata=_about(description, **more), **kwargs)


def count(description: str = "") -> fields.Integer:
    """A non-negative integer."""
    return fields.Integer(metadata=_about(description), validate=validate.Range(min=0))


#: Metadata of a field whose example is a date this many days before the document was built
#: (:func:`web.apidoc.document.build` fills ``example`` in): a fixed date would go stale.
DAYS_AGO = "x-example-days-ago"


def when(description: str = "", **kwargs: Any) -> fields.DateTime:
    """A UTC time, ISO 8601 with ``Z`` (its example: today)."""
    return fields.DateTime(metadata=_about(description, **{DAYS_AGO: 0}), **kwargs)


DETAILS_REF = "x-error-details"
#: ``details``: field -> problems, or field -> nested details (a list item by its index, a
#: dict entry by its key), as deep as the body: ``{"emails": {"0": {"to": ["Not a valid email."]}}}``.
DETAILS = {"type": "object", "description": "validation errors: field -> list of problems, or field "
           "-> the same shape for its items (a list's by index, a dict's by key)",
           "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                               {"$ref": "#/components/schemas/ErrorDetails"}]},
           "example": {"to": ["Not a valid email address."], "emails": {"0": {"subject": [
               "Missing data for required field."]}}}}


class Error(Schema):
    """Every error answer: a machine code, a sentence, and per-field problems on 400."""

    error = text("machine-readable code, e.g. validation_error, not_found, conflict, rate_limit_exceeded",
                 required=True)
    message = text("a human sentence", required=True)
    details = fields.Dict(metadata={DETAILS_REF: True})  # the document makes it an ErrorDetails $ref


class Pagination(Schema):
    """Where a page sits in a list."""

    page = count("1-based page number")
    limit = count("items per page")
    total = count("items in the whole list")
    pages = count("number of pages")
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "event-style lists: pass back as `cursor` to resume exactly after this page"})


class PageQuery(Schema):
    """``page`` and ``limit`` of list endpoints."""

    page = fields.Integer(validate=validate.Range(min=1), metadata={"description": "1-based page"})
    limit = fields.Integer(validate=validate.Range(min=1, max=1000),
                           metadata={"description": "items per page"})


class Removed(Schema):
    """What a DELETE answers."""

    message = text("what happened")
    id = fields.UUID(metadata={"description": "the removed object's id"})


class Status(Schema):
    """``{"status": "ok"}``."""

    status = text("ok", validate=validate.OneOf(["ok"]))


class Readiness(Schema):
    """Readiness with each dependency's check."""

    status = text("ready, degraded (every check passes, a consumer is retrying a dependency) or "
                  "not_ready (503)", validate=validate.OneOf(["ready", "degraded", "not_ready"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "event_store (with position and per-reader lag), clickhouse, kafka (per "
                       "consumer group committed and end offsets), read_model (empty or behind "
                       "the event store): each {ok, ms} or {ok: false, error}"})
    consumers = fields.List(fields.Dict(), metadata={
        "description": "each live consumer process's status: {name, pid, state (ok or degraded), "
                       "reason, at}"})
