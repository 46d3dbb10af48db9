"""Query-string parsing shared by read endpoints; every problem is a clear 400."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_WINDOW = timedelta(days=366)
FILTERS = ("all", "human_only", "scanner_only")


class BadParam(ValueError):
    """A query parameter is invalid; ``details`` maps it to its problem."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.details = {name: [problem]}


def uuid_param(args: Mapping[str, str], name: str) -> UUID | None:
    """``name`` as a UUID, or None when absent or empty."""
    if not args.get(name):
        return None
    try:
        return UUID(args[name])
    except ValueError:
        raise BadParam(name, "must be a UUID") from None


def whole_number(args: Mapping[str, str], name: str, default: int, most: int, least: int = 1) -> int:
    """``name`` as a whole number from ``least`` to ``most`` (absent or empty: ``default``)."""
    text = args.get(name)
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or not least <= int(text) <= most:
        raise BadParam(name, f"must be a whole number from {least} to {most}")
    return int(text)


def parse_when(name: str, text: str, *, end: bool) -> datetime:
    """An ISO 8601 date or date-time in UTC; a bare date as ``end`` means the day's end."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadParam(name, "must be an ISO 8601 date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class StatsQuery:
    """The filters every statistics endpoint takes (spec §7)."""

    start: datetime
    end: datetime
    domain_id: UUID | None
    tag: str | None
    filter: str


def stats_query(args: Mapping[str, str], now: datetime) -> StatsQuery:
    """Parse ``fromdate``, ``todate``, ``domain_id``, ``tag``, ``filter`` (default: 30 days)."""
    end = parse_when("todate", args["todate"], end=True) if args.get("todate") else now
    start = (parse_when("fromdate", args["fromdate"], end=False) if args.get("fromdate")
             else end - timedelta(days=30))
    if start > end:
        raise BadParam("fromdate", "must not be after todate")
    if end - start > MAX_WINDOW:
        raise BadParam("todate", "the window must not be longer than 366 days")
    domain_id = uuid_param(args, "domain_id")
    filter_ = args.get("filter") or "all"
    if filter_ not in FILTERS:
        raise BadParam("filter", f"must be one of {', '.join(FILTERS)}")
    return StatsQuery(start, end, domain_id, args.get("tag") or None, filter_)


@dataclass(frozen=True)
class SeriesQuery:
    """A statistics query with its bucket ``interval`` and IANA ``timezone``."""

    stats: StatsQuery
    interval: str
    timezone: str


def series_query(args: Mapping[str, str], now: datetime) -> SeriesQuery:
    """Parse the series parameters; bare dates are local midnights of ``timezone``."""
    interval = args.get("interval") or "day"
    if interval not in ("day", "hour"):
        raise BadParam("interval", "must be day or hour")
    name = args.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder, a name too long
        raise BadParam("timezone", "must be an IANA time zone name such as Europe/Berlin") from None
    local = {key: _local_midnight(args[key], zone, key == "todate") for key in ("fromdate", "todate")
             if args.get(key) and len(args[key]) == 10}
    query = stats_query({**args, **local}, now)
    return SeriesQuery(query, interval, name)


def _local_midnight(text: str, zone: ZoneInfo, end: bool) -> str:
    try:
        day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
    except ValueError:
        return text  # stats_query reports it
    return datetime(day.year, day.month, day.day, tzinfo=zone).isoformat()
