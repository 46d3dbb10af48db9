"""Answers of the bulk export jobs (spec §9)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from web.apidoc.common import count
from web.apidoc.common import text
from web.apidoc.common import when

STATUSES = ["pending", "running", "completed", "failed", "expired"]


class ExportStarted(Schema):
    """The recorded job; poll its status (the Location header) until it is completed."""

    export_id = fields.UUID()
    status = text("always pending here", validate=validate.OneOf(["pending"]))


class ExportStatus(Schema):
    """A job's status, read from the event store (immediately consistent)."""

    export_id = fields.UUID()
    kind = text("events or stats", validate=validate.OneOf(["events", "stats"]))
    format = text("csv or ndjson", validate=validate.OneOf(["csv", "ndjson"]))
    status = text("expired: completed, and past expires_at", validate=validate.OneOf(STATUSES))
    rows_written = count("rows written so far (all of them once completed)")
    progress_percent = count("0-100; 100 once completed")
    download_url = fields.String(allow_none=True, metadata={"description": "once completed"})
    expires_at = when("when the file goes (MAILERLOGIC_EXPORT_TTL_HOURS after completion)", allow_none=True)
    created_at = when("when the job was requested: the file covers events up to then")
    error = fields.String(allow_none=True, metadata={"description": "why a failed job failed"})
