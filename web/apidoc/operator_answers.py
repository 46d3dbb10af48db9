"""The operator endpoints' body and answers (``web.operator_api``), as documented schemas."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from web.apidoc.common import count
from web.apidoc.common import text


class RebuildRequest(Schema):
    """Body of ``POST /operator/projections/rebuild`` (optional: no body rebuilds every table)."""

    tables = fields.List(fields.String(), metadata={"description": "tables to rebuild; empty or absent: all"})


class Job(Schema):
    """The last rebuild of this process; only ``state`` before the first one."""

    state = text("idle (none yet), running, completed or failed", required=True,
                 validate=validate.OneOf(["idle", "running", "completed", "failed"]))
    tables = fields.List(fields.String())
    phase = text("prepare, replay, catch-up, swap... then done")
    position = count("events replayed so far")
    head = count("the event store's last position when the replay started")
    written = count("rows written")
    start = count("the position the replay started after")
    error = fields.String(allow_none=True, metadata={"description": "why it failed"})
    result = fields.Dict(allow_none=True, metadata={"description": "what the completed rebuild did"})


class JobAnswer(Schema):
    """``{"job": {...}}``."""

    job = fields.Nested(Job, required=True)
