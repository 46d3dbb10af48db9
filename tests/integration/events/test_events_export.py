"""GET /api/events/export on both backends: the same events as the API, streamed in flat memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from event_store.envelope import Envelope
from event_store.envelope import event_id_for
from projections import events as event_rows
from read_api.events import export as exports
from tests.integration.events.rig import Api
from tests.integration.events.story import NOW
from tests.integration.events.story import Story
from tests.integration.events.story import story
from tests.integration.events.story import write
from warehouse.port import ClickHouse

FIELDS = ["id", "email_id", "customer_id", "event_type", "status", "recipient", "from", "tag",
          "timestamp", "event_data", "created_at"]


@pytest.fixture
def acme(api: Api, events_clickhouse: ClickHouse) -> tuple[Story, str]:
    """An enterprise customer with the story written (and another customer's beside it)."""
    customer, key = api.customer()
    told = story(customer)
    other, _ = api.customer()
    write(events_clickhouse, told, story(other, first_position=100))
    return told, key


def from_csv(body: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(body.decode(), newline=""))
    header = next(reader)
    rows = []
    for values in reader:
        row: dict[str, Any] = dict(zip(header, values, strict=True))
        row["event_data"] = json.loads(row["event_data"])
        row["email_id"], row["tag"] = row["email_id"] or None, row["tag"] or None
        rows.append(row)
    return header, rows


def from_ndjson(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().split("\n") if line]


def api_events(api: Api, key: str, **query: Any) -> list[dict[str, Any]]:
    """Every event the paged API lists for ``query``, walking the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page = api.get("/api/events", key, limit="1000", **query, **({"cursor": cursor} if cursor else {}))
        body = page.get_json()
        found.extend(body["events"])
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the walk did not end")


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["id"]: event for event in events}


@pytest.mark.parametrize("query", [{}, {"type": "opened,queued"}, {"tag": 'say "hi", \\ ok\nbye'},
                                   {"recipient": "EXAMPLE.org", "from_timestamp": "2000-01-01"}])
def test_csv_and_ndjson_equal_the_api(api: Api, acme: tuple[Story, str], query: dict[str, str]) -> None:
    told, key = acme
    expected = api_events(api, key, **query)
    assert expected == told.expected(_keep(told, query))  # the API itself is right
    csv_answer = api.get("/api/events/export", key, format="csv", **query)
    header, rows = from_csv(csv_answer.data)
    assert (csv_answer.status_code, csv_answer.mimetype, header) == (200, "text/csv", FIELDS)
    assert csv_answer.headers["Content-Disposition"].startswith('attachment; filename="events-')
    assert csv_answer.headers["Content-Disposition"].endswith('.csv"')
    assert len(rows) == len(expected) and by_id(rows) == by_id(expected)
    ndjson_answer = api.get("/api/events/export", key, format="ndjson", **query)
    lines = from_ndjson(ndjson_answer.data)
    assert (ndjson_answer.status_code, ndjson_answer.mimetype) == (200, "application/x-ndjson")
    assert ndjson_answer.headers["Content-Disposition"].endswith('.ndjson"')
    assert len(lines) == len(expected) and by_id(lines) == by_id(expected)
    assert all(list(line) == FIELDS for line in lines)


def _keep(told: Story, query: dict[str, str]) -> Any:
    def keep(e: Envelope) -> bool:
        payload = e.payload
        return all((
            not query.get("type") or e.event_type in query["type"].split(","),
            not query.get("tag") or payload.get("tag") == query["tag"],
            not query.get("recipient") or query["recipient"].lower() in payload["recipient"].lower(),
        ))
    return keep


def test_csv_is_the_default_and_an_empty_export_has_its_header(api: Api, acme: tuple[Story, str]) -> None:
    _, key = acme
    answer = api.get("/api/v1/events/export", key, tag="no-such-tag")
    assert (answer.status_code, answer.mimetype, answer.data) == (
        200, "text/csv", (",".join(f'"{name}"' for name in FIELDS) + "\n").encode())
    assert api.get("/api/events/export", key, format="ndjson", tag="no-such-tag").data == b""


def test_duplicate_rows_are_exported_once(api: Api, acme: tuple[Story, str],
                                          events_clickhouse: ClickHouse) -> None:
    told, key = acme
    events_clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, event_rows.rows(told.envelopes))
    expected = told.expected()
    for fmt in ("csv", "ndjson"):
        body = api.get("/api/events/export", key, format=fmt).data
        exported = from_csv(body)[1] if fmt == "csv" else from_ndjson(body)
        assert sorted(e["id"] for e in exported) == sorted(e["id"] for e in expected)
        assert by_id(exported) == by_id(expected)


def test_slices_cover_every_hour_once(api: Api, acme: tuple[Story, str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    told, key = acme
    monkeypatch.setattr(exports, "SLICE_ROWS", 2)  # many slices: one or two hours each
    exported = from_ndjson(api.get("/api/events/export", key, format="ndjson").data)
    assert sorted(e["id"] for e in exported) == sorted(e["id"] for e in told.expected())


BIG = 200_000


def big_rows(customer: Any) -> list[tuple[Any, ...]]:
    """BIG events of one customer over the last ~3 days, as the projector's rows."""
    start = NOW - timedelta(days=3)
    rows = []
    for n in range(BIG):
        email = uuid4()
        when = start + timedelta(seconds=n)
        rows.append(event_rows.row(Envelope(
            event_id_for("big", n), "opened", customer, when, when, 10_000 + n, email,
            {"recipient": f"user{n}@example.org", "from_address": "news@acme.test", "tag": "big",
             "domain": "acme.test", "user_agent": "Mozilla/5.0", "ip": "203.0.113.5"})))
    return rows


def test_a_large_export_streams_in_flat_memory(api: Api, events_clickhouse: ClickHouse) -> None:
    customer, key = api.customer()
    rows = big_rows(customer)
    for start in range(0, BIG, 50_000):
        events_clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, rows[start:start + 50_000])
    del rows
    for fmt in ("csv", "ndjson"):
        tracemalloc.start()
        try:
            answer = api.get("/api/events/export", key, format=fmt)
            lines, size, first = 0, 0, b""
            for chunk in answer.response:  # the app's iterator, as a WSGI server drains it
                lines += chunk.count(b"\n")
                size += len(chunk)
                first = first or chunk[:2000]
            answer.close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert lines == BIG + (fmt == "csv")
        assert size > 300 * BIG  # more than 60 MB went through
        # A few chunks (chdb hands over blocks of ~3 MB), never the result (over 60 MB).
        assert peak < 16 * 1024 * 1024, f"{fmt}: peak {peak} bytes traced while streaming {size} bytes"
        head = first.rsplit(b"\n", 1)[0]
        sample = from_csv(head)[1][0] if fmt == "csv" else json.loads(head.split(b"\n")[0])
        assert (sample["customer_id"], sample["tag"], sample["event_data"]) == (
            str(customer), "big", {"scanner_score": 50, "domain": "acme.test", "user_agent": "Mozilla/5.0",
                                   "ip": "203.0.113.5"})
