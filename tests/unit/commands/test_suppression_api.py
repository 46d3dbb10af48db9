"""Unsubscribes, unsubscribe links, signed bounce/complaint reports and content scoring."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask import render_template_string
from flask.testing import FlaskClient

from commands.http.suppression import PAGE
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security import inbound_signature
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

SECRET, HOOK = b"k", b"hook-secret"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "reports"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOK_SECRET": HOOK.decode()})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    return app


@pytest.fixture
def key(events: EmailEvents) -> str:
    return str(new_customer(bus_for(events, SECRET), "acme.test")[1])


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def _send(client: FlaskClient, key: str, to: str) -> tuple[int, Any]:
    return _call(client, "POST", "/api/send", key, {"to": to, "subject": "s", "text": "t"})


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def test_unsubscribe_blocks_the_next_send_and_resubscribe_allows_it(app: Flask, key: str) -> None:
    client = app.test_client()
    status, body = _call(client, "POST", "/api/customer/unsubscribes", key,
                         {"email": "Ada@Example.org", "reason": "asked by phone"})
    assert (status, body["message"]) == (201, "Unsubscribed")
    assert body["unsubscribe"] | {"id": None, "created_at": None} == {
        "id": None, "email": "ada@example.org", "domain_id": None, "source": "api",
        "reason": "asked by phone", "created_at": None}
    status, body = _send(client, key, "ada@example.org")
    assert (status, body["error"]) == (422, "recipient_suppressed")
    assert _call(client, "POST", "/api/customer/unsubscribes", key,
                 {"email": "ada@example.org"})[1]["error"] == "already_unsubscribed"
    assert _call(client, "DELETE", "/api/customer/unsubscribes/ada@example.org", key) == (
        200, {"message": "Re-subscribed", "email": "ada@example.org"})
    assert _send(client, key, "ada@example.org")[0] == 200
    assert _call(client, "DELETE", "/api/customer/unsubscribes/ada@example.org", key)[0] == 404


def test_unsubscribe_refusals_change_nothing(app: Flask, key: str, events: EmailEvents) -> None:
    client, before = app.test_client(), _head(events)
    for body, status in [({"email": "nope"}, 400), ({}, 400),
                         ({"email": "a@b.org", "domain_id": "not-a-uuid"}, 400),
                         ({"email": "a@b.org", "domain_id": "00000000-0000-0000-0000-000000000001"}, 404)]:
        assert _call(client, "POST", "/api/customer/unsubscribes", key, body)[0] == status
    assert _head(events) == before


def test_link_and_one_click_unsubscribe(app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    message_id = UUID(_send(client, key, "bob@example.org")[1]["message_id"])
    token = tokens.mint(SECRET, "u", message_id)
    page = client.get(f"/track/u/{token}")
    assert page.status_code == 200 and b'method="post"' in page.data
    before = _head(events)
    one_click = client.post(f"/track/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and b"You are unsubscribed" in one_click.data
    assert _head(events) == before + 2  # the record starts, then the entry
    assert client.post(f"/track/u/{token}").status_code == 200  # repeat: no new fact
    assert _head(events) == before + 2
    assert _send(client, key, "bob@example.org")[1]["error"] == "recipient_suppressed"
    assert client.post(f"/track/u/{tokens.mint(b'forged', 'u', message_id)}").status_code == 404


def _post_report(client: FlaskClient, kind: str, body: bytes, content_type: str,
                 secret: bytes = HOOK, at: int | None = None) -> tuple[int, Any]:
    stamp = str(at or int(time.time()))
    response = client.post(f"/api/webhooks/{kind}", data=body, content_type=content_type,
                           headers={"X-MailerLogic-Timestamp": stamp, "X-MailerLogic-Signature":
                                    inbound_signature.sign(secret, stamp, f"/api/webhooks/{kind}", body)})
    return response.status_code, response.get_json()


def test_a_real_dsn_bounces_the_message_and_suppresses_the_recipient(
        app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    message_id = _send(client, key, "jane.doe@example.org")[1]["message_id"]
    dsn = (FIXTURES / "postfix_550_user_unknown.eml").read_bytes().replace(
        b"6f1c2b9e-3d4a-4b8e-9f2a-1c0d5e7a8b90", message_id.encode())
    now = int(time.time())
    status, body = _post_report(client, "bounce", dsn, "message/rfc822", at=now)
    assert (status, body["accepted"], body["duplicates"]) == (200, 1, 0)
    message = events.get_message(UUID(message_id))
    assert message.status == "bounced"
    assert _send(client, key, "jane.doe@example.org")[1]["error"] == "recipient_suppressed"
    before = _head(events)
    again = _post_report(client, "bounce", dsn, "message/rfc822", at=now - 1)  # signed afresh
    assert again[1]["duplicates"] == 1
    assert _head(events) == before


def test_an_arf_complaint_is_recorded_once_and_suppresses(app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    message_id = _send(client, key, "reader.one@mailbox.example")[1]["message_id"]
    arf = (FIXTURES / "arf_abuse_mailbox_provider.eml").read_bytes().replace(
        b"3c9d1e2f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", message_id.encode())
    assert _post_report(client, "complaint", arf, "message/rfc822")[1]["accepted"] == 1
    assert events.get_message(UUID(message_id)).complained is True
    assert _send(client, key, "reader.one@mailbox.example")[1]["error"] == "recipient_suppressed"


@pytest.mark.parametrize(("secret", "age", "status", "code"), [
    (b"wrong", 0, 401, "invalid_signature"), (HOOK, 3600, 401, "stale_signature")])
def test_badly_signed_or_stale_reports_change_nothing(
        app: Flask, key: str, events: EmailEvents, secret: bytes, age: int, status: int, code: str) -> None:
    client = app.test_client()
    message_id = _send(client, key, "jane.doe@example.org")[1]["message_id"]
    body = (b'{"message_id": "%s", "recipient": "jane.doe@example.org", "type": "hard", "code": 550}'
            % message_id.encode())
    before = _head(events)
    answer = _post_report(client, "bounce", body, "application/json", secret, int(time.time()) - age)
    assert (answer[0], answer[1]["error"]) == (status, code)
    assert _head(events) == before
    assert events.get_message(UUID(message_id)).status == "queued"


def test_content_score_endpoint(app: Flask, key: str, events: EmailEvents) -> None:
    before = _head(events)
    status, body = _call(app.test_client(), "POST", "/api/content/score", key,
                         {"subject": "FREE MONEY!!! ACT NOW", "html": "<p>Click here"})
    assert status == 200
    assert {"score", "rating", "likely_spam", "rules", "suggestions"} <= set(body)
    assert {r["name"] for r in body["rules"]} >= {"shouting_subject", "excessive_punctuation"}
    assert _head(events) == before


def test_unsubscribes_are_per_customer(app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    other = str(new_customer(bus_for(events, SECRET), "other.test")[1])
    assert _call(client, "POST", "/api/customer/unsubscribes", key, {"email": "x@example.org"})[0] == 201
    assert _send(client, other, "x@example.org")[0] == 200
    assert _call(client, "DELETE", "/api/customer/unsubscribes/x@example.org", other)[0] == 404
    assert _send(client, key, "x@example.org")[1]["error"] == "recipient_suppressed"


def test_an_unsubscribe_page_escapes_what_it_echoes_and_forbids_scripts(
        app: Flask, key: str, events: EmailEvents) -> None:
    client = app.test_client()
    message_id = UUID(_send(client, key, "bob@example.org")[1]["message_id"])
    token = tokens.mint(SECRET, "u", message_id)
    probe = client.get(f"/track/u/{token}==%22%3E%3Csvg%20onload%3Dalert(1)%3E")
    assert probe.status_code == 404  # not the canonical token: refused before any page
    page = client.get(f"/track/u/{token}")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert f'action="/track/u/{token}"'.encode() in page.data
    hostile = '/track/u/"><svg onload=alert(1)>'
    with app.test_request_context(hostile):
        rendered = render_template_string(PAGE, title="Unsubscribe", action=hostile)
    assert "<svg" not in rendered and "&#34;&gt;&lt;svg onload=alert(1)&gt;" in rendered
