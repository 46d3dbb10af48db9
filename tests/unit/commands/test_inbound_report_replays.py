"""Signed inbound reports bind their endpoint and are accepted once (spec §14, issue 11 item 4).

The signatures here are computed from the documented signing string with ``hmac`` itself,
not with the code under test: ``v1=HMAC-SHA256(secret, "<timestamp>.<path>." + body)`` where
``path`` is ``/api/webhooks/bounce`` or ``/api/webhooks/complaint`` (never the ``/api/v1``
prefix).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app

SECRET, HOOK = b"k", b"hook-secret"
BOUNCE, COMPLAINT = "/api/webhooks/bounce", "/api/webhooks/complaint"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _app(events: EmailEvents, data_dir: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(data_dir), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOK_SECRET": HOOK.decode()})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    return app


@pytest.fixture
def client(events: EmailEvents, tmp_path: Path) -> FlaskClient:
    return _app(events, tmp_path).test_client()


@pytest.fixture
def key(events: EmailEvents) -> str:
    return str(new_customer(bus_for(events, SECRET), "acme.test")[1])


def _signed(path: str, body: bytes, stamp: str) -> dict[str, str]:
    digest = hmac.new(HOOK, f"{stamp}.{path}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-MailerLogic-Timestamp": stamp, "X-MailerLogic-Signature": f"v1={digest}"}


def _post(client: FlaskClient, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    response = client.post(url, data=body, content_type="application/json", headers=headers)
    return response.status_code, response.get_json()


def _send(client: FlaskClient, key: str, to: str) -> tuple[int, Any]:
    response = client.post("/api/send", json={"to": to, "subject": "s", "text": "t"},
                           headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _soft_bounce(message_id: str, to: str) -> bytes:
    """A soft bounce: it records a bounce but suppresses nobody; as a complaint it would."""
    return json.dumps({"message_id": message_id, "recipient": to, "type": "soft", "code": 421}).encode()


def test_a_bounce_signed_for_the_bounce_endpoint_is_refused_by_the_complaint_endpoint(
        client: FlaskClient, key: str, events: EmailEvents) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = _soft_bounce(message_id, "jane@example.org")
    headers = _signed(BOUNCE, body, str(int(time.time())))
    status, answer = _post(client, BOUNCE, body, headers)
    assert (status, answer["accepted"]) == (200, 1)
    before = _head(events)

    status, answer = _post(client, COMPLAINT, body, headers)  # the captured request, re-aimed

    assert (status, answer["error"]) == (401, "invalid_signature")
    assert answer["message"] == ("the signature does not match: sign '<timestamp>./api/webhooks/complaint.'"
                                 " followed by the raw body")
    assert _head(events) == before
    assert events.get_message(UUID(message_id)).complained is False
    assert _send(client, key, "jane@example.org")[0] == 200  # not suppressed


def test_a_report_signed_for_complaints_is_refused_by_the_bounce_endpoint(
        client: FlaskClient, key: str, events: EmailEvents) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = json.dumps({"message_id": message_id, "recipient": "jane@example.org", "type": "hard",
                       "code": 550}).encode()
    before = _head(events)

    headers = _signed(COMPLAINT, body, str(int(time.time())))

    status, answer = _post(client, BOUNCE, body, headers)

    assert (status, answer["error"]) == (401, "invalid_signature")
    assert _head(events) == before
    assert events.get_message(UUID(message_id)).status == "queued"
    assert _post(client, COMPLAINT, body, headers)[1]["accepted"] == 1  # where it was signed for
    assert events.get_message(UUID(message_id)).complained is True


def test_the_same_signed_request_twice_is_refused_as_a_replay_and_records_nothing(
        client: FlaskClient, key: str, events: EmailEvents) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = _soft_bounce(message_id, "jane@example.org")
    headers = _signed(BOUNCE, body, str(int(time.time())))
    assert _post(client, BOUNCE, body, headers)[0] == 200
    before = _head(events)
    hex_digest = headers["X-MailerLogic-Signature"][3:]
    respelt = {**headers, "X-MailerLogic-Signature": f"v1=00, v1={hex_digest.upper()}"}

    for url, sent in [(BOUNCE, headers), ("/api/v1/webhooks/bounce", headers), (BOUNCE, respelt)]:
        status, answer = _post(client, url, body, sent)
        assert (status, answer["error"]) == (409, "replayed_signature"), url
        assert answer["message"] == ("this signed request was already received; sign each request "
                                     "afresh (a new timestamp)")
    assert _head(events) == before


def test_a_replay_to_another_api_process_is_refused(events: EmailEvents, tmp_path: Path, key: str) -> None:
    first, second = _app(events, tmp_path).test_client(), _app(events, tmp_path).test_client()
    message_id = _send(first, key, "jane@example.org")[1]["message_id"]
    body = _soft_bounce(message_id, "jane@example.org")
    headers = _signed(BOUNCE, body, str(int(time.time())))
    assert _post(first, BOUNCE, body, headers)[0] == 200
    before = _head(events)

    status, answer = _post(second, "/api/v1/webhooks/bounce", body, headers)

    assert (status, answer["error"]) == (409, "replayed_signature")
    assert _head(events) == before


def test_the_v1_alias_verifies_the_canonical_path(client: FlaskClient, key: str, events: EmailEvents) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = _soft_bounce(message_id, "jane@example.org")
    stamp = str(int(time.time()))

    assert _post(client, "/api/v1/webhooks/bounce", body, _signed("/api/v1/webhooks/bounce", body, stamp))[
        1]["error"] == "invalid_signature"
    status, answer = _post(client, "/api/v1/webhooks/bounce", body, _signed(BOUNCE, body, stamp))
    assert (status, answer["accepted"], answer["duplicates"]) == (200, 1, 0)


@pytest.mark.parametrize("url", [BOUNCE, COMPLAINT])
def test_an_old_style_signature_over_timestamp_and_body_is_refused(
        client: FlaskClient, key: str, events: EmailEvents, url: str) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = json.dumps({"message_id": message_id, "recipient": "jane@example.org", "type": "hard",
                       "code": 550}).encode()
    stamp = str(int(time.time()))
    old = "v1=" + hmac.new(HOOK, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    before = _head(events)

    status, answer = _post(client, url, body, {"X-MailerLogic-Timestamp": stamp,
                                               "X-MailerLogic-Signature": old})

    assert (status, answer["error"]) == (401, "invalid_signature")
    assert _head(events) == before
    message = events.get_message(UUID(message_id))
    assert (message.status, message.complained) == ("queued", False)
    assert _send(client, key, "jane@example.org")[0] == 200


def test_a_refused_report_gives_its_claim_back(client: FlaskClient, key: str, events: EmailEvents) -> None:
    body = b'{"recipient": "jane@example.org", "type": "lukewarm"}'
    headers = _signed(BOUNCE, body, str(int(time.time())))

    for _ in range(2):  # the second try is judged on its body again, not refused as a replay
        status, answer = _post(client, BOUNCE, body, headers)
        assert (status, answer["error"]) == (400, "invalid_report")


def test_a_report_signed_afresh_is_answered_as_a_duplicate(client: FlaskClient, key: str,
                                                            events: EmailEvents) -> None:
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body, now = _soft_bounce(message_id, "jane@example.org"), int(time.time())
    assert _post(client, BOUNCE, body, _signed(BOUNCE, body, str(now - 1)))[1]["accepted"] == 1
    before = _head(events)

    status, answer = _post(client, BOUNCE, body, _signed(BOUNCE, body, str(now)))

    assert (status, answer["accepted"], answer["duplicates"]) == (200, 0, 1)
    assert _head(events) == before


def test_a_report_that_failed_after_the_claim_may_be_retried_as_is(
        events: EmailEvents, tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(events, tmp_path)
    client, bus = app.test_client(), app.extensions["bus"]
    message_id = _send(client, key, "jane@example.org")[1]["message_id"]
    body = _soft_bounce(message_id, "jane@example.org")
    headers = _signed(BOUNCE, body, str(int(time.time())))
    real, failures = bus.handle, ["the event store is down"]

    def flaky(cmd: Any) -> Any:
        if type(cmd).__name__ == "RecordReport" and failures:
            raise RuntimeError(failures.pop())
        return real(cmd)

    monkeypatch.setattr(bus, "handle", flaky)
    assert _post(client, BOUNCE, body, headers) == (500, {"error": "internal_error",
                                                          "message": "something went wrong on our side"})
    status, answer = _post(client, BOUNCE, body, headers)
    assert (status, answer["accepted"]) == (200, 1)
    assert _post(client, BOUNCE, body, headers)[0] == 409
