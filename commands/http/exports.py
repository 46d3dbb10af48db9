"""Bulk export jobs (spec §9): request one, watch it, download its file.

``POST /exports`` ``{"kind": "events"|"stats", "format": "csv"|"ndjson", ...filters}`` answers
``202 {"export_id", "status": "pending"}`` once the job is recorded; the exports worker makes
the file. ``GET /exports/<id>`` reads the job from the event store (immediately consistent);
``GET /exports/<id>/download`` streams the finished file: ``409 export_not_ready`` before, ``409
export_failed`` for a failed job, ``410 export_expired`` after ``expires_at``. Another customer's
export answers 404 like an unknown one. The files live in ``<data dir>/exports``: the API and the
exports worker must share that folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import send_file
from flask import url_for
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from commands.exports import GetExport
from commands.exports import RequestExport
from commands.http.sending import load_json
from event_store.aggregates import ExportJob
from event_store.aggregates.export_job import FORMATS
from event_store.aggregates.export_job import KINDS
from event_store.errors import DomainError
from event_store.errors import NotFound

bp = Blueprint("exports", __name__)
FOLDER = "exports"  # under the data dir; the worker writes there
MEDIA = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
MAX_FILTER = 256


def _filter(about: str, **options: Any) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=MAX_FILTER),
                         metadata={"description": about}, **options)


class _Types(fields.Field):  # type: ignore[type-arg]
    """A comma-separated string or a list of strings, kept as the comma-separated string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        raise ValidationError("must be a string or a list of strings")


class ExportSchema(Schema):
    """Body of ``POST /api/exports``: what to export, its file format and filters."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(KINDS),
                         metadata={"description": "events (Events API tiers) or stats (every tier)"})
    format = fields.String(load_default="csv", validate=validate.OneOf(FORMATS),
                           metadata={"description": "default csv"})
    # kind "events": the Events API's filters
    email_id = _filter("events: one message's events")
    type = _Types(allow_none=True, metadata={"description": "events: event types, a list or comma-separated"})
    recipient = _filter("events: part of the recipient's address (case-insensitive)")
    from_ = _filter("events: part of the sender's address (case-insensitive)", data_key="from")
    from_timestamp = _filter("events: from (inclusive), ISO 8601 date or date-time")
    to_timestamp = _filter("events: to, ISO 8601 date (inclusive) or date-time (exclusive)")
    # kind "stats": the statistics' filters
    fromdate = _filter("stats: window start, ISO 8601 (default: 30 days before todate)")
    todate = _filter("stats: window end, ISO 8601 (default: now)")
    domain_id = _filter("stats: one sending domain")
    filter = _filter("stats: all, human_only or scanner_only")
    interval = _filter("stats: day (default) or hour: one row per bucket")
    timezone = _filter("stats: IANA time zone of the day buckets (default UTC)")
    tag = _filter("both: exact tag")


def _clock() -> datetime:
    clock: Callable[[], datetime] = current_app.extensions.get("exports_clock") or (
        lambda: datetime.now(UTC))
    return clock()


def _job(export_id: str) -> ExportJob:
    try:
        wanted = UUID(export_id)
    except ValueError:
        raise NotFound("export not found") from None
    job: ExportJob = current_app.extensions["bus"].handle(GetExport(wanted, g.customer.id))
    return job


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@bp.post("/exports")
def request_export() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Start an export job; its file is made in the background."""
    body = load_json(ExportSchema())
    kind, fmt = body.pop("kind"), body.pop("format")
    filters = {("from" if name == "from_" else name): value for name, value in body.items() if value}
    job = current_app.extensions["bus"].handle(RequestExport(g.customer.id, kind, fmt, filters, _clock()))
    location = url_for(".export_status", export_id=str(job.id))
    return {"export_id": str(job.id), "status": "pending"}, 202, {"Location": location}


@bp.get("/exports/<export_id>")
def export_status(export_id: str) -> dict[str, Any]:
    """The job's status and progress, and its download URL once completed."""
    job = _job(export_id)
    status = job.status_at(_clock())
    url = url_for(".download", export_id=str(job.id), _external=True) if status == "completed" else None
    return {"export_id": str(job.id), "kind": job.kind, "format": job.format, "status": status,
            "rows_written": job.rows_written, "progress_percent": job.progress_percent,
            "download_url": url, "expires_at": _stamp(job.expires_at), "created_at": _stamp(job.requested_at),
            "error": job.error}


@bp.get("/exports/<export_id>/download")
def download(export_id: str) -> Response:
    """The finished file (CSV or NDJSON) as an attachment."""
    job = _job(export_id)
    status = job.status_at(_clock())
    if status == "failed":
        raise DomainError(f"the export failed: {job.error}", code="export_failed", status=409)
    if status in ("pending", "running"):
        raise DomainError(f"the export is {status}; poll GET /api/exports/{job.id} until it is completed",
                          code="export_not_ready", status=409)
    gone = DomainError("the export has expired; request a new one", code="export_expired", status=410)
    if status == "expired":
        raise gone
    try:  # opened here: the expiry sweep may delete the file at any moment (an open file stays readable)
        handle = (Path(current_app.extensions["settings"].data_dir) / FOLDER / str(job.file_name)).open("rb")
    except FileNotFoundError:
        raise gone from None
    name = f"{job.kind}-export-{job.requested_at:%Y%m%dT%H%M%SZ}-{str(job.id)[:8]}.{job.format}"
    response = send_file(handle, mimetype=MEDIA[job.format], as_attachment=True, download_name=name,
                         conditional=False, etag=False, max_age=0)
    response.headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    response.headers["Cache-Control"] = "no-store"
    return response
