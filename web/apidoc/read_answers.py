"""Query parameters and answers of the read side (spec §7), as documented schemas.

The read endpoints parse their query strings by hand (``read_api.params``); these schemas
describe the same parameters, with the limits those parsers enforce.
"""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from read_api.params import FILTERS
from read_api.series import KINDS
from web.apidoc.common import DAYS_AGO
from web.apidoc.common import count
from web.apidoc.common import text


class StatsQuery(Schema):
    """The filters of every statistics endpoint; the default window is the last 30 days."""

    fromdate = fields.String(metadata={"description": "start: ISO 8601 date or date-time (UTC); default "
                                                      "todate - 30 days", DAYS_AGO: 7})
    todate = text("end: ISO 8601 date (inclusive) or date-time; default now; window <= 366 days")
    domain_id = fields.UUID(metadata={"description": "only this sending domain"})
    tag = text("only messages sent with this tag")
    filter = fields.String(validate=validate.OneOf(FILTERS), metadata={
        "description": "opens and clicks counted: all, human_only or scanner_only (default all)"})


class SeriesQuery(StatsQuery):
    """Statistics filters plus the bucket size and the time zone of days."""

    interval = fields.String(validate=validate.OneOf(["day", "hour"]),
                             metadata={"description": "bucket size (default day)"})
    timezone = text("IANA zone of day buckets and bare dates (default UTC)",
                    example="Europe/Berlin")


_RATE = "percentage, 0-100, two decimals"


class OutboundTotals(Schema):
    """Totals and rates of the customer's outbound mail in a window."""

    sent = count("messages queued")
    delivered = count()
    bounced = count()
    failed = count()
    opens = count("opens (per filter)")
    unique_opens = count("messages opened (per filter)")
    clicks = count("clicks (per filter)")
    unique_clicks = count("messages clicked (per filter)")
    complaints = count()
    unsubscribes = count()
    human_opens = count()
    scanner_opens = count()
    human_clicks = count()
    scanner_clicks = count()
    delivery_rate = fields.Float(metadata={"description": _RATE})
    open_rate = fields.Float(metadata={"description": _RATE})
    click_rate = fields.Float(metadata={"description": _RATE})
    bounce_rate = fields.Float(metadata={"description": _RATE})
    complaint_rate = fields.Float(metadata={"description": _RATE})


_SERIES_KEYS = sorted({key for keys in KINDS.values() for key, _, _ in keys})
SeriesCounts = Schema.from_dict(
    {key: count(f"in kinds {', '.join(k for k, v in KINDS.items() if key in [x[0] for x in v])}")
     for key in _SERIES_KEYS}, name="SeriesCounts")


class SeriesBucket(SeriesCounts):  # type: ignore[valid-type,misc]
    """One bucket: its start (a local date, or an hour in UTC) and the kind's counts."""

    date = text("YYYY-MM-DD (interval=day) or YYYY-MM-DDTHH:00:00Z (interval=hour)")


class Series(Schema):
    """Zero-filled buckets and the window's totals (uniques over the whole window)."""

    days = fields.List(fields.Nested(SeriesBucket))
    total = fields.Nested(SeriesCounts)
