"""GET /api/events and /api/emails/<id>/events on both backends: filters, paging, tenancy, errors."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from event_store.envelope import Envelope
from projections import events as event_rows
from tests.helpers import envelope
from tests.integration.events.rig import Api
from tests.integration.events.story import NOW
from tests.integration.events.story import Story
from tests.integration.events.story import story
from tests.integration.events.story import write
from warehouse.port import ClickHouse


@pytest.fixture
def acme(api: Api, events_clickhouse: ClickHouse) -> tuple[Story, str]:
    """An enterprise customer with the story written, and its key."""
    customer, key = api.customer()
    told = story(customer)
    write(events_clickhouse, told)
    return told, key


def listed(api: Api, key: str, **query: Any) -> dict[str, Any]:
    response = api.get("/api/events", key, **query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def at(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_all_visible_events_newest_first_with_pagination(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    expected = told.expected()
    assert len(expected) == 12  # 14 steps minus the internal type and the one outside retention
    assert listed(api, key) == {"events": expected, "pagination": {
        "page": 1, "limit": 50, "total": 12, "pages": 1, "next_cursor": None}}


@pytest.mark.parametrize(("query", "keep"), [
    ({"type": "opened"}, lambda e: e.event_type == "opened"),
    ({"type": "clicked,opened"}, lambda e: e.event_type in ("opened", "clicked")),
    ({"type": " queued , sent "}, lambda e: e.event_type in ("queued", "sent")),
    ({"recipient": "lovelace@EXAMPLE"}, lambda e: "lovelace@example" in e.payload["recipient"].lower()),
    ({"recipient": "EXÄMPLE"}, lambda e: "exämple" in e.payload["recipient"].lower()),
    ({"from": "ACME.TEST"}, lambda e: "acme.test" in e.payload.get("from_address", "").lower()),
    ({"from": "billing"}, lambda e: e.payload.get("from_address") == "billing@acme.test"),
    ({"tag": "invoice"}, lambda e: e.payload.get("tag") == "invoice"),
    ({"tag": "welc"}, lambda e: False),  # tag matches exactly
    ({"from_timestamp": at(45), "to_timestamp": at(29)},
     lambda e: NOW - timedelta(minutes=45) <= e.occurred_at < NOW - timedelta(minutes=29)),
    ({"from_timestamp": (NOW - timedelta(days=1)).date().isoformat()},
     lambda e: e.occurred_at >= datetime.combine(NOW.date() - timedelta(days=1), datetime.min.time(), UTC)),
    ({"type": "queued", "from": "acme"}, lambda e: e.event_type == "queued"
     and "acme" in e.payload["from_address"].lower()),
])
def test_each_filter(api: Api, acme: tuple[Story, str], query: dict[str, str], keep: Any) -> None:
    told, key = acme
    expected = told.expected(keep)
    body = listed(api, key, **query)
    assert body["events"] == expected
    assert body["pagination"]["total"] == len(expected)


def test_email_id_filter_and_v1_prefix(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    bob = told.emails["bob"]
    expected = told.expected(lambda e: e.email_id == bob)
    assert [e["event_type"] for e in expected] == ["bounced", "queued"]
    response = api.get("/api/v1/events", key, email_id=str(bob))
    assert response.status_code == 200
    assert response.get_json()["events"] == expected


def test_a_row_inserted_twice_is_shown_once(api: Api, acme: tuple[Story, str],
                                            events_clickhouse: ClickHouse) -> None:
    told, key = acme
    again = event_rows.rows(told.envelopes[:5])  # the projector wrote these rows a second time
    events_clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, again)
    assert events_clickhouse.execute("SELECT count() FROM events")[0][0] == 19
    assert listed(api, key)["events"] == told.expected()
    assert listed(api, key, limit="3", page="2")["events"] == told.expected()[3:6]
    ada = api.get(f"/api/emails/{told.emails['ada']}/events", key).get_json()
    assert len(ada["events"]) == 7


def test_retention_window_hides_older_events(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    old = told.emails["old"]
    assert [e["event_type"] for e in listed(api, key, email_id=str(old))["events"]] == ["sent"]
    everything = listed(api, key, from_timestamp="2000-01-01")
    assert everything["pagination"]["total"] == 12


def test_pages_and_a_cursor_walk(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    expected = told.expected()
    second = listed(api, key, limit="5", page="2")
    assert second["events"] == expected[5:10]
    assert second["pagination"] | {"next_cursor": None} == {
        "page": 2, "limit": 5, "total": 12, "pages": 3, "next_cursor": None}
    third = listed(api, key, limit="5", cursor=second["pagination"]["next_cursor"])
    assert third["events"] == expected[10:]
    assert third["pagination"] == {"page": 3, "limit": 5, "total": 12, "pages": 3, "next_cursor": None}
    last = listed(api, key, limit="5", page="3")
    assert (last["events"], last["pagination"]["next_cursor"]) == (expected[10:], None)


def newer(customer: Any, position: int) -> Envelope:
    """A new event happening now: newer than everything already listed."""
    return envelope("opened", position, customer_id=customer, at=datetime.now(UTC),
                    recipient="new@example.org", from_address="news@acme.test", tag="welcome")


def test_cursor_walk_is_stable_while_events_arrive(api: Api, acme: tuple[Story, str],
                                                    events_clickhouse: ClickHouse) -> None:
    told, key = acme
    snapshot = listed(api, key, limit="1000")["events"]
    page = listed(api, key, limit="2")
    walked = list(page["events"])
    stop, positions = threading.Event(), iter(range(1000, 2000))

    def arrive() -> None:
        while not stop.wait(0.005):
            write_one(events_clickhouse, newer(told.customer, next(positions)))

    inserter = threading.Thread(target=arrive)
    inserter.start()
    try:
        for _ in range(20):  # bounded: 12 events, 2 per page
            cursor = page["pagination"]["next_cursor"]
            if cursor is None:
                break
            write_one(events_clickhouse, newer(told.customer, next(positions)))  # surely during the walk
            page = listed(api, key, limit="2", cursor=cursor)
            walked.extend(page["events"])
    finally:
        stop.set()
        inserter.join()
    assert walked == snapshot  # no duplicate, no gap, same order
    assert listed(api, key)["pagination"]["total"] > len(snapshot)  # events did arrive


def write_one(client: ClickHouse, event: Envelope) -> None:
    client.insert(event_rows.TABLE, event_rows.COLUMNS, event_rows.rows([event]))


def test_email_history_is_chronological_with_a_timeline(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    ada = told.emails["ada"]
    response = api.get(f"/api/emails/{ada}/events", key)
    assert response.status_code == 200
    body = response.get_json()
    events = told.expected(lambda e: e.email_id == ada)[::-1]
    assert body["email_id"] == str(ada)
    assert body["events"] == events
    assert body["timeline"] == [
        {"step": "queued", "status": "pending", "timestamp": at(60), "count": 1,
         "description": "Accepted for delivery to Ada.Lovelace@Example.ORG"},
        {"step": "sent", "status": "delivered", "timestamp": at(59), "count": 1,
         "description": "Accepted by the recipient's mail server: 250 2.0.0 queued as 1A"},
        {"step": "opened", "status": "engaged", "timestamp": at(50), "count": 2, "description": "Opened"},
        {"step": "clicked", "status": "engaged", "timestamp": at(49), "count": 1,
         "description": "Clicked https://acme.test/a?b=1,2"},
        {"step": "complained", "status": "complained", "timestamp": at(20), "count": 1,
         "description": "Reported as spam"},
        {"step": "unsubscribed", "status": "unsubscribed", "timestamp": at(19), "count": 1,
         "description": "Unsubscribed"},
    ]
    bob = api.get(f"/api/emails/{told.emails['bob']}/events", key).get_json()
    assert [step["description"] for step in bob["timeline"]] == [
        "Accepted for delivery to bob@example.net", "Bounced (hard): 550 5.1.1 no such user"]


def test_event_data_keeps_the_customers_metadata_whole(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    [queued] = listed(api, key, email_id=str(told.emails["ada"]), type="queued")["events"]
    assert queued["event_data"] == {"subject": "Hi", "recipients": 1, "domain": "acme.test",
                                    "metadata": {"plan": "pro", "tag": "inner",
                                                 "nested": {"recipient": "deep", "list": [1, "a,b"]}}}
    assert (queued["recipient"], queued["from"], queued["tag"]) == (
        "Ada.Lovelace@Example.ORG", "News@Acme.test", "welcome")


def test_tenants_never_see_each_other(api: Api, acme: tuple[Story, str],
                                       events_clickhouse: ClickHouse) -> None:
    told, key = acme
    other, other_key = api.customer()
    theirs = story(other, first_position=100)
    write(events_clickhouse, theirs)
    assert listed(api, key)["events"] == told.expected()
    assert listed(api, other_key)["events"] == theirs.expected()
    foreign = theirs.emails["ada"]
    assert listed(api, key, email_id=str(foreign))["pagination"]["total"] == 0
    for email_id in (foreign, uuid4(), "not-a-uuid"):
        response = api.get(f"/api/emails/{email_id}/events", key)
        assert (response.status_code, response.get_json()) == (
            404, {"error": "not_found", "message": "Email not found or access denied"})


@pytest.mark.parametrize("tier", ["starter", "professional"])
def test_tiers_without_the_events_api_get_403(api: Api, tier: str) -> None:
    _, key = api.customer(tier)
    for path in ("/api/events", f"/api/emails/{uuid4()}/events", "/api/events/export",
                 "/api/v1/events", "/api/v1/events/export?format=ndjson"):
        response = api.get(path, key)
        body = response.get_json()
        assert (response.status_code, body["error"]) == (403, "event_api_disabled")
        assert body["message"]


def test_without_a_key_401(api: Api) -> None:
    response = api.client.get("/api/events")
    assert (response.status_code, response.get_json()["error"]) == (401, "missing_api_key")


def test_bad_input_is_a_400_naming_the_parameter(api: Api, acme: tuple[Story, str]) -> None:
    told, key = acme
    cursor = listed(api, key, limit="2")["pagination"]["next_cursor"]
    opened_cursor = listed(api, key, limit="1", type="opened")["pagination"]["next_cursor"]
    cases = [
        ({"type": "suppressed"}, "type"),
        ({"type": "opened,bogus"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"page": "0"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": cursor[:-3]}, "cursor"),
        ({"cursor": cursor, "type": "opened"}, "cursor"),
        ({"cursor": opened_cursor}, "cursor"),
        ({"cursor": cursor, "page": "2"}, "page"),
        ({"email_id": "42"}, "email_id"),
        ({"from_timestamp": "yesterday"}, "from_timestamp"),
        ({"to_timestamp": "2026-13-01"}, "to_timestamp"),
        ({"from_timestamp": "2026-03-02", "to_timestamp": "2026-03-01"}, "from_timestamp"),
        ({"recipient": "x" * 257}, "recipient"),
    ]
    for query, name in cases:
        response = api.get("/api/events", key, **query)
        body = response.get_json()
        assert (response.status_code, body.get("error"), list(body.get("details", ()))) == (
            400, "invalid_parameter", [name]), (query, body)
    for query, name in [({"format": "xml"}, "format"), ({"type": "nope"}, "type")]:
        response = api.get("/api/events/export", key, **query)
        assert (response.status_code, list(response.get_json()["details"])) == (400, [name])
    assert listed(api, key)["events"] == told.expected()  # nothing changed


def test_pages_and_cursors_across_many_hours(api: Api, events_clickhouse: ClickHouse) -> None:
    customer, key = api.customer()
    spread = [envelope("opened" if n % 3 else "queued", 5000 + n, customer_id=customer,
                       at=NOW - timedelta(minutes=17 * n), recipient=f"r{n}@example.org",
                       from_address="news@acme.test", tag="spread") for n in range(240)]
    write_rows = event_rows.rows(spread)
    events_clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, write_rows)
    events_clickhouse.insert(event_rows.TABLE, event_rows.COLUMNS, write_rows[::7])  # duplicates
    expected = [str(e.event_id) for e in spread]  # newest first already
    for limit in (7, 50):
        by_page = [e["id"] for number in range(1, 240 // limit + 2)
                   for e in listed(api, key, limit=str(limit), page=str(number))["events"]]
        assert by_page == expected
        walked, cursor = [], None
        for _ in range(240 // limit + 2):
            body = listed(api, key, limit=str(limit), **({"cursor": cursor} if cursor else {}))
            walked.extend(e["id"] for e in body["events"])
            assert body["pagination"]["total"] == 240
            cursor = body["pagination"]["next_cursor"]
            if cursor is None:
                break
        assert walked == expected
    opened = listed(api, key, type="opened", limit="1000", page="1")["events"]
    assert [e["id"] for e in opened] == [str(e.event_id) for e in spread if e.event_type == "opened"]


def test_the_same_batch_projected_again_changes_no_number_and_no_event_list(
        api: Api, acme: tuple[Story, str], events_clickhouse: ClickHouse) -> None:
    told, key = acme
    before = (listed(api, key, limit="1000"), api.get("/api/stats/outbound", key).get_json(),
              api.get("/api/stats/outbound/opens?interval=hour", key).get_json())
    write(events_clickhouse, told)  # redelivered whole, as after a crash before the commit
    ClickHouseSink(events_clickhouse).write(told.envelopes[3:9])  # and an overlapping replay
    after = (listed(api, key, limit="1000"), api.get("/api/stats/outbound", key).get_json(),
             api.get("/api/stats/outbound/opens?interval=hour", key).get_json())
    assert after == before
    assert before[0]["pagination"]["total"] == 12


@pytest.mark.parametrize(("days", "total"), [("400", 13), ("1", 11)])
def test_the_operators_retention_setting_sets_what_is_visible(
        events_clickhouse: ClickHouse, tmp_path: Any, days: str, total: int) -> None:
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from web.app import create_app

    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_ENTERPRISE_RETENTION_DAYS": days})
    api = Api(create_app(settings, events=events, clickhouse=lambda: events_clickhouse).test_client(),
              events)
    customer, key = api.customer()
    write(events_clickhouse, story(customer))
    assert listed(api, key, from_timestamp="2000-01-01")["pagination"]["total"] == total
