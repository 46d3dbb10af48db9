"""Queries and answers of the Events API (spec §8) and its streaming export (§9)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from event_store.envelope import EMAIL_EVENT_TYPES
from web.apidoc.common import Pagination
from web.apidoc.common import count
from web.apidoc.common import text
from web.apidoc.common import when

_STATUSES = ["pending", "delivered", "failed", "engaged", "complained", "unsubscribed"]


class EventFilterQuery(Schema):
    """Which events: every given filter must hold."""

    email_id = fields.UUID(metadata={"description": "one message's events"})
    type = text(f"comma-separated event types: {', '.join(EMAIL_EVENT_TYPES)}", example="opened,clicked")
    recipient = text("part of the recipient's address (case-insensitive), at most 256 characters")
    from_ = text("part of the sender's address (case-insensitive)", data_key="from")
    tag = text("exact tag")
    from_timestamp = text("from (inclusive): ISO 8601 date or date-time")
    to_timestamp = text("to: ISO 8601 date (inclusive) or date-time (exclusive)")


class EventPageQuery(EventFilterQuery):
    """Filters plus a page, or a cursor from the previous answer (not both)."""

    page = fields.Integer(validate=validate.Range(min=1), metadata={"description": "1-based page"})
    limit = fields.Integer(validate=validate.Range(1, 1000), metadata={"description": "default 50"})
    cursor = text("the previous answer's pagination.next_cursor: resumes exactly after it")


class EventExportQuery(EventFilterQuery):
    """Filters and the file format of a streamed export."""

    format = fields.String(validate=validate.OneOf(["csv", "ndjson"]),
                           metadata={"description": "default csv"})


class Event(Schema):
    """One event, exactly once however often it was redelivered internally."""

    id = fields.UUID()
    email_id = fields.UUID(allow_none=True)
    customer_id = fields.UUID()
    event_type = fields.String(validate=validate.OneOf(EMAIL_EVENT_TYPES))
    status = fields.String(validate=validate.OneOf(_STATUSES), metadata={
        "description": "the state the event puts the email in"})
    recipient = fields.String()
    from_ = fields.String(data_key="from")
    tag = fields.String(allow_none=True)
    timestamp = when("when it happened")
    event_data = fields.Dict(metadata={"description": "the event's own fields (bounce type, url...)"})
    created_at = when("when it was recorded")


class EventList(Schema):
    """A page of events, newest first."""

    events = fields.List(fields.Nested(Event))
    pagination = fields.Nested(Pagination)


class TimelineStep(Schema):
    """One step of an email's life (repeated opens or clicks are one step)."""

    step = fields.String(validate=validate.OneOf(EMAIL_EVENT_TYPES))
    status = fields.String(validate=validate.OneOf(_STATUSES))
    timestamp = when("the first time")
    count = count("events of this type")
    description = fields.String()


class EmailHistory(Schema):
    """Every event of one email, oldest first, and its timeline."""

    email_id = fields.UUID()
    events = fields.List(fields.Nested(Event))
    timeline = fields.List(fields.Nested(TimelineStep))
