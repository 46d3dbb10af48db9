"""``/api/batch`` and ``/api/bulk-send``: per-item results, limits, mail merge."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commands.http.batch import merge
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def client(events: EmailEvents, tmp_path: Path) -> FlaskClient:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    app: Flask = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    return app.test_client()


@pytest.fixture
def key(events: EmailEvents) -> str:
    return str(new_customer(bus_for(events, b"k"), "acme.test")[1])


def _post(client: FlaskClient, path: str, key: str, body: Any) -> tuple[int, Any]:
    response = client.post(path, json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def test_batch_queues_good_items_and_reports_bad_ones_by_index(client: FlaskClient, key: str,
                                                               events: EmailEvents) -> None:
    emails = [{"to": "a@example.org", "subject": "s", "text": "t"},
              {"to": "not-an-email", "subject": "s", "text": "t"},
              {"to": "c@example.org", "subject": "s", "text": "t", "from": "x@other.test"},
              {"to": "d@example.org", "subject": "s", "html": "<p>hi</p>", "tag": "t1"}]
    status, body = _post(client, "/api/batch", key, {"emails": emails})
    assert status == 200
    assert (body["total"], body["queued"], body["failed"]) == (4, 2, 2)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert (results[1]["error"], results[1]["details"]) == (
        "validation_error", {"to": ["Not a valid email address."]})
    assert results[2]["error"] == "domain_not_found"
    assert events.get_message(UUID(results[3]["message_id"])).tag == "t1"
    assert events.get_message(UUID(results[0]["message_id"])).to == "a@example.org"


@pytest.mark.parametrize("body", [{"emails": []}, {"emails": "x"}, {}, [],
                                  {"emails": [{}] * 501}, {"emails": [{}], "extra": 1}])
def test_batch_shape_errors_are_400_and_queue_nothing(client: FlaskClient, key: str, events: EmailEvents,
                                                      body: Any) -> None:
    before = _head(events)
    status, answer = _post(client, "/api/batch", key, body)
    assert (status, answer["error"]) == (400, "validation_error")
    assert _head(events) == before


def test_bulk_send_merges_variables_per_recipient(client: FlaskClient, key: str, events: EmailEvents) -> None:
    body = {"subject": "Hi {{ name }}", "html": "<p>Hello {{name}}, code {{code}}</p>",
            "text": "Hello {{name}}", "from": "news@acme.test", "tag": "launch",
            "recipients": [{"email": "ann@example.org", "vars": {"name": "Ann", "code": 7}},
                           {"email": "bob@example.org", "vars": {"name": "<b>Bob</b>"}},
                           {"email": "bad", "vars": {}}]}
    status, answer = _post(client, "/api/bulk-send", key, body)
    assert status == 400  # a malformed recipient fails the whole request's validation
    body["recipients"] = body["recipients"][:2]
    status, answer = _post(client, "/api/bulk-send", key, body)
    assert (status, answer["total"], answer["queued"], answer["failed"]) == (200, 2, 2, 0)
    assert UUID(answer["batch_id"])
    ann, bob = (events.get_message(UUID(r["message_id"])) for r in answer["results"])
    assert (ann.subject, ann.html, ann.text) == ("Hi Ann", "<p>Hello Ann, code 7</p>", "Hello Ann")
    assert bob.html == "<p>Hello &lt;b&gt;Bob&lt;/b&gt;, code </p>"
    assert (ann.track_opens, ann.track_clicks, ann.from_address, ann.tag) == (
        True, True, "news@acme.test", "launch")


def test_bulk_send_refuses_more_than_10000_recipients(client: FlaskClient, key: str) -> None:
    body = {"subject": "s", "text": "t", "recipients": [{"email": f"r{i}@x.org"} for i in range(10_001)]}
    status, answer = _post(client, "/api/bulk-send", key, body)
    assert (status, answer["error"]) == (400, "validation_error")


def test_merge_leaves_unknown_variables_empty() -> None:
    assert merge("{{a}}-{{ b }}-{{c}}", {"a": 1, "b": None}, escape=False) == "1--"
    assert merge(None, {}, escape=True) is None
