from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.aggregates import Engagement
from event_store.application import EmailEvents
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.unit.commands.conftest import SECRET


@pytest.fixture
def key(events: EmailEvents) -> str:
    _, api_key = new_customer(bus_for(events, SECRET), "acme.test")
    return api_key


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _send(client: FlaskClient, key: str, **body: Any) -> Any:
    return client.post("/api/send", json={"to": "ada@example.org", "subject": "Hi", "text": "x"} | body,
                       headers={"X-API-Key": key})


def test_send_queues_one_message_and_answers_the_contract(app: Flask, key: str,
                                                           events: EmailEvents) -> None:
    response = _send(app.test_client(), key, tag="welcome", metadata={"user": 7})
    body = response.get_json()
    assert response.status_code == 200
    assert sorted(body) == ["message_id", "status", "submitted_at", "to"]
    assert (body["to"], body["status"]) == ("ada@example.org", "queued")
    message = events.get_message(__import__("uuid").UUID(body["message_id"]))
    assert (message.from_address, message.tag, message.metadata) == (
        "noreply@acme.test", "welcome", {"user": 7})
    assert response.headers["X-Request-Id"]


def test_bearer_auth_and_the_v1_prefix_reach_the_same_handler(app: Flask, key: str) -> None:
    response = app.test_client().post("/api/v1/send", json={"to": "a@b.org", "subject": "s",
                                      "html": "<p>x</p>"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "missing_api_key"), ({"X-API-Key": "ml_live_" + "0" * 64}, "unauthorized"),
     ({"Authorization": "Basic abc"}, "missing_api_key")],
)
def test_missing_or_unknown_key_is_401(app: Flask, headers: dict[str, str], code: str) -> None:
    response = app.test_client().post("/api/send", json={}, headers=headers)
    assert (response.status_code, response.get_json()["error"]) == (401, code)


BAD_BODIES: list[tuple[str, dict[str, Any], int, str]] = [
    ("missing to", {"to": None}, 400, "validation_error"),
    ("bad email", {"to": "not-an-email"}, 400, "validation_error"),
    ("no body", {"text": None}, 400, "validation_error"),
    ("wrong type", {"subject": 42}, 400, "validation_error"),
    ("unknown field", {"attachments": []}, 400, "validation_error"),
    ("header injection", {"subject": "a\r\nBcc: x@y.z"}, 400, "validation_error"),
    ("reserved header", {"headers": {"From": "x@y.z"}}, 400, "validation_error"),
    ("tag list", {"tag": ["a"]}, 400, "validation_error"),
    ("html too big", {"html": "x" * (1024 * 1024 + 1)}, 413, "payload_too_large"),
    ("too many recipients", {"cc": [f"c{i}@x.org" for i in range(1000)]}, 422, "too_many_recipients"),
    ("foreign from", {"from": "me@other.test"}, 422, "domain_not_found"),
    ("from/domain mismatch", {"domain": "acme.test", "from": "me@x.test"}, 422, "from_domain_mismatch"),
    ("unicode subject ok but to bad", {"subject": "héllo ✓", "to": "ü@"}, 400, "validation_error"),
]


@pytest.mark.parametrize(("name", "change", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_a_json_error_and_appends_nothing(
    app: Flask, key: str, events: EmailEvents, name: str, change: dict[str, Any], status: int, code: str,
) -> None:
    body = {k: v for k, v in ({"to": "ada@example.org", "subject": "Hi", "text": "x"} | change).items()
            if v is not None}
    before = _head(events)
    response = app.test_client().post("/api/send", json=body, headers={"X-API-Key": key})
    assert (response.status_code, response.get_json()["error"]) == (status, code)
    assert response.get_json()["message"]
    assert _head(events) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [("{not json", "application/json", 400, "invalid_json"),
     ("to=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
     ("[]", "application/json", 400, "validation_error")],
)
def test_malformed_or_wrong_content_type(app: Flask, key: str, events: EmailEvents, data: str,
                                         content_type: str, status: int, code: str) -> None:
    before = _head(events)
    response = app.test_client().post("/api/send", data=data, content_type=content_type,
                                      headers={"X-API-Key": key})
    assert (response.status_code, response.get_json()["error"]) == (status, code)
    assert _head(events) == before


def test_wrong_method_and_unknown_path_are_json(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/send").get_json()["error"] == "method_not_allowed"
    assert client.get("/nope").get_json()["error"] == "not_found"


def test_open_pixel_records_an_open_with_the_message_dimensions(app: Flask, key: str,
                                                                 events: EmailEvents) -> None:
    client = app.test_client()
    message_id = __import__("uuid").UUID(_send(client, key, tag="t1").get_json()["message_id"])
    response = client.get(f"/track/o/{tokens.mint(SECRET, 'o', message_id)}",
                          headers={"User-Agent": "Thunderbird"})
    assert (response.status_code, response.mimetype) == (200, "image/gif")
    assert response.headers["Cache-Control"].startswith("no-store")
    last = events.recorder_.select_notifications(start=_head(events), limit=1)[0]
    hit = events.mapper.to_domain_event(last)
    assert isinstance(hit, Engagement.Recorded) and (hit.kind, hit.url) == ("open", None)
    assert (hit.email_id, hit.tag, hit.user_agent, hit.domain) == (message_id, "t1", "Thunderbird",
                                                                   "acme.test")


def test_click_redirects_to_the_signed_url_and_records_it(app: Flask, key: str,
                                                         events: EmailEvents) -> None:
    client = app.test_client()
    message_id = __import__("uuid").UUID(_send(client, key).get_json()["message_id"])
    token = tokens.mint(SECRET, "c", message_id, "https://acme.test/offer?a=1")
    response = client.get(f"/track/c/{token}?url=https://evil.test/")
    assert (response.status_code, response.headers["Location"]) == (302, "https://acme.test/offer?a=1")
    hit = events.mapper.to_domain_event(
        events.recorder_.select_notifications(start=_head(events), limit=1)[0])
    assert isinstance(hit, Engagement.Recorded) and hit.kind == "click"
    assert hit.url == "https://acme.test/offer?a=1"


@pytest.mark.parametrize("path", ["/track/o/", "/track/c/"])
def test_forged_or_altered_tokens_record_nothing(app: Flask, key: str, events: EmailEvents,
                                                 path: str) -> None:
    client = app.test_client()
    message_id = __import__("uuid").UUID(_send(client, key).get_json()["message_id"])
    kind = path[7]
    good = tokens.mint(SECRET, kind, message_id, "https://a.test/" if kind == "c" else "")
    forged = tokens.mint(b"other-secret", kind, message_id, "https://a.test/" if kind == "c" else "")
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    before = _head(events)
    for token in (forged, altered, "garbage", "a.b"):
        assert client.get(path + token).status_code == 404
    assert _head(events) == before
