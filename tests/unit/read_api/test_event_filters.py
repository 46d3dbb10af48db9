"""Events API query strings, cursors and export slices: pure parsing, no ClickHouse."""

from __future__ import annotations

import base64
import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from uuid import UUID

import pytest

from read_api.events.export import Slice
from read_api.events.export import plan
from read_api.events.filters import Cursor
from read_api.events.filters import EventFilters
from read_api.events.filters import PageRequest
from read_api.events.filters import decode_cursor
from read_api.events.filters import encode_cursor
from read_api.events.filters import parse_filters
from read_api.events.filters import parse_page
from read_api.events.listing import window
from read_api.events.shape import timeline
from read_api.params import BadParam

EMAIL = UUID("6f1d5a0e-1c7b-4c55-9a36-0d2f6e8b9c10")
T = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def test_filters_are_parsed_and_defaulted() -> None:
    assert parse_filters({}) == EventFilters()
    assert parse_filters({"email_id": str(EMAIL), "type": "opened, clicked,opened", "recipient": "Ada",
                          "from": "news@", "tag": "welcome", "from_timestamp": "2026-03-01",
                          "to_timestamp": "2026-03-02T10:00:00+01:00"}) == EventFilters(
        EMAIL, ("clicked", "opened"), "Ada", "news@", "welcome", datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert parse_filters({"to_timestamp": "2026-03-02"}).end == datetime(2026, 3, 3, tzinfo=UTC)
    assert parse_filters({"type": ""}).event_types[0] == "queued"  # every public type


@pytest.mark.parametrize(("args", "name"), [
    ({"type": "health_scored"}, "type"),
    ({"email_id": "x"}, "email_id"),
    ({"from_timestamp": "soon"}, "from_timestamp"),
    ({"from_timestamp": "2026-03-02", "to_timestamp": "2026-03-01"}, "from_timestamp"),
    ({"tag": "t" * 257}, "tag"),
])
def test_bad_filters_name_the_parameter(args: dict[str, str], name: str) -> None:
    with pytest.raises(BadParam) as caught:
        parse_filters(args)
    assert list(caught.value.details) == [name]


@pytest.mark.parametrize(("args", "name"), [
    ({"limit": "1001"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "١٢"}, "limit"),
    ({"limit": "9" * 5000}, "limit"), ({"page": "-1"}, "page"), ({"cursor": "%%%"}, "cursor"),
])
def test_bad_pages_name_the_parameter(args: dict[str, str], name: str) -> None:
    with pytest.raises(BadParam) as caught:
        parse_page(args, EventFilters())
    assert list(caught.value.details) == [name]


def test_pages_default_to_50_and_offset_by_page() -> None:
    assert parse_page({}, EventFilters()) == PageRequest(1, 50, None)
    request = parse_page({"page": "3", "limit": "20"}, EventFilters())
    assert (request.offset, request.limit) == (40, 20)


def test_a_cursor_round_trips_and_is_bound_to_its_filters() -> None:
    filters = EventFilters(types=("opened",))
    token = encode_cursor(T, EMAIL, filters, 4)
    assert "=" not in token and "/" not in token and "+" not in token
    assert parse_page({"cursor": token, "limit": "10"}, filters) == PageRequest(
        1, 10, Cursor(T, EMAIL, 4))
    assert parse_page({"cursor": token}, filters).offset == 0
    assert decode_cursor(token, EventFilters(types=("opened",))) == Cursor(T, EMAIL, 4)
    for other in (EventFilters(), EventFilters(types=("opened",), tag="x")):
        with pytest.raises(BadParam, match="other filters"):
            decode_cursor(token, other)


@pytest.mark.parametrize("body", [[2, 0, str(EMAIL), "f", 1], [1, "0", str(EMAIL), "f", 1],
                                  [1, 0, "nope", "f", 1], [1, 0, str(EMAIL), "f", 0], {"a": 1}, [1]])
def test_forged_cursors_are_refused(body: object) -> None:
    token = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(BadParam, match="not a cursor"):
        decode_cursor(token, EventFilters())


@pytest.mark.parametrize("raw", [b"[" * 3000 + b"]" * 3000, b"[" * 200 + b"]" * 200])
def test_a_deeply_nested_or_overlong_cursor_is_a_400(raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")  # 8,000 and 534 characters
    with pytest.raises(BadParam, match="not a cursor"):
        decode_cursor(token, EventFilters())


def test_slices_are_contiguous_newest_first_and_flag_duplicates() -> None:
    hour = timedelta(hours=1)
    hours = [(T, 3, 3), (T - hour, 4, 3), (T - 5 * hour, 10, 10), (T - 6 * hour, 1, 1)]
    assert plan(hours, 8) == [Slice(T - hour, T + hour, True), Slice(T - 5 * hour, T - hour, False),
                              Slice(T - 6 * hour, T - 5 * hour, False)]
    assert plan(hours, 100) == [Slice(T - 6 * hour, T + hour, True)]
    assert plan([], 100) == []


def test_timeline_has_one_step_per_type_in_first_order() -> None:
    def event(kind: str, status: str, minute: int, **data: object) -> dict[str, object]:
        return {"event_type": kind, "status": status, "timestamp": f"2026-03-15T14:{minute:02d}:00Z",
                "recipient": "ada@example.org", "event_data": data}

    events = [event("queued", "pending", 0), event("opened", "engaged", 5), event("failed", "failed", 6),
              event("opened", "engaged", 9)]
    assert timeline(events) == [
        {"step": "queued", "status": "pending", "timestamp": "2026-03-15T14:00:00Z", "count": 1,
         "description": "Accepted for delivery to ada@example.org"},
        {"step": "opened", "status": "engaged", "timestamp": "2026-03-15T14:05:00Z", "count": 2,
         "description": "Opened"},
        {"step": "failed", "status": "failed", "timestamp": "2026-03-15T14:06:00Z", "count": 1,
         "description": "Delivery failed"},
    ]


def test_a_page_window_holds_exactly_the_hours_it_needs() -> None:
    hour = timedelta(hours=1)
    hours = [(T, 3), (T - hour, 4), (T - 3 * hour, 5), (T - 4 * hour, 2)]
    assert window(hours, 0, 3) == (T, T + hour, 0)
    assert window(hours, 0, 4) == (T - hour, T + hour, 0)
    assert window(hours, 3, 4) == (T - hour, T, 0)
    assert window(hours, 5, 4) == (T - 3 * hour, T, 2)
    assert window(hours, 12, 50) == (T - 4 * hour, T - 3 * hour, 0)
    assert window(hours, 13, 50) == (T - 4 * hour, T - 3 * hour, 1)
    assert window(hours, 14, 5) is None
    assert window([], 0, 5) is None
    # After a cursor in hour T - 1h: newer hours are out, its own hour counts as empty.
    assert window(hours, 0, 3, T - hour) == (T - 3 * hour, T, 0)
    assert window(hours, 0, 50, T - 4 * hour) == (T - 4 * hour, T - 3 * hour, 0)
