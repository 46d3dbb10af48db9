"""Queries and answers of the unsubscribe list (spec §10) and the health score (§11)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from read_api.health_history import DEFAULT_DAYS
from read_api.health_history import MAX_DAYS
from read_api.health_history import MIN_DAYS
from read_api.unsubscribes import SOURCES
from web.apidoc.common import PageQuery
from web.apidoc.common import Pagination
from web.apidoc.common import count
from web.apidoc.common import text
from web.apidoc.common import when
from web.apidoc.write_answers import Unsubscribe


class UnsubscribeQuery(PageQuery):
    """Filters of the unsubscribe list (limit default 50, max 1000)."""

    email = text("part of the address")
    domain_id = text("a domain's UUID, or `global` for the entries of all domains")
    source = fields.String(validate=validate.OneOf(SOURCES))
    fromdate = text("created at or after: ISO 8601 date or date-time")
    todate = text("created at or before: ISO 8601 date (inclusive) or date-time")


class UnsubscribeList(Schema):
    """Active entries, newest first (eventually consistent with the send-time check)."""

    unsubscribes = fields.List(fields.Nested(Unsubscribe))
    pagination = fields.Nested(Pagination)


_PERCENT = {"description": "percentage, 0-100"}


class Rates(Schema):
    """The rates a score is calculated from."""

    delivery_rate = fields.Float(metadata=_PERCENT)
    open_rate = fields.Float(metadata=_PERCENT)
    click_rate = fields.Float(metadata=_PERCENT)
    bounce_rate = fields.Float(metadata=_PERCENT)
    complaint_rate = fields.Float(metadata=_PERCENT)


_GRADE = fields.String(validate=validate.OneOf(["A+", "A", "B+", "B", "C+", "C", "D", "F"]))


class Score(Rates):
    """One calculation."""

    overall_score = fields.Float(metadata={"description": "0-100"})
    reputation_grade = _GRADE
    last_calculated = when()


class Insights(Schema):
    """What the score means and what to do."""

    status = fields.String(validate=validate.OneOf(["excellent", "good", "fair", "poor", "critical"]))
    summary = fields.String()
    recommendations = fields.List(fields.String())


class InsightsBrief(Schema):
    """The status and summary of a refreshed score."""

    status = fields.String(validate=validate.OneOf(["excellent", "good", "fair", "poor", "critical"]))
    summary = fields.String()


class ScoreComponent(Schema):
    """One scored component of the formula."""

    name = fields.String()
    metric = fields.String()
    value = fields.Float()
    score = fields.Float()
    weight = fields.Integer()
    band = fields.String()


class HealthAnswer(Schema):
    """The latest score (calculated now if none is from the last 24 hours)."""

    health_score = fields.Nested(Score)
    insights = fields.Nested(Insights)
    benchmarks = fields.Dict(keys=fields.String(), values=fields.Dict(), metadata={
        "description": "per metric: its good, average and poor thresholds"})
    components = fields.List(fields.Nested(ScoreComponent))


class HealthRefreshed(Schema):
    """A new calculation."""

    health_score = fields.Nested(Score)
    insights = fields.Nested(InsightsBrief)
    components = fields.List(fields.Nested(ScoreComponent))
    message = text(example="Health score refreshed successfully")


class HistoryQuery(Schema):
    """How many days back."""

    days = fields.Integer(validate=validate.Range(MIN_DAYS, MAX_DAYS),
                          metadata={"description": f"UTC days, today included (default {DEFAULT_DAYS})"})


class HistoryDay(Rates):
    """The latest calculation of one UTC day."""

    date = fields.Date()
    overall_score = fields.Float()
    reputation_grade = _GRADE


class History(Schema):
    """One entry per day that has a calculation, oldest first."""

    history = fields.List(fields.Nested(HistoryDay))
    period_days = count()
