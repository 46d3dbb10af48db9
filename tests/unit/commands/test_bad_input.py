"""Bad input is refused with a 400 before anything is recorded, never accepted and then failed.

One row per kind of bad input of the audit (issue 11, item 5): every C0 control and the other
line breaks in one-line fields, control characters in bodies and metadata, header names with a
trailing newline, headers MailerLogic writes itself, lone surrogates, JSON nested 100,000 deep
(on every JSON endpoint and on the signed report endpoints, also inside MIME reports).
"""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from security import inbound_signature
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.unit.commands.conftest import SECRET
from web.app import create_app

BASE = {"to": "ada@example.org", "subject": "Hi", "text": "x"}
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
NOT_A_NAME = "is not a header name: printable ASCII without spaces or colons only"
DEEP = "[" * 100_000 + "]" * 100_000
TOO_DEEP = "the JSON is nested deeper than 64 levels"
WRITTEN_BY_US = "is written by MailerLogic and cannot be set"


def _refused(char: str) -> str:
    kind = "a line break" if char in LINE_BREAKS else "a control character"
    return f"must not contain U+{ord(char):04X} ({kind})"


def _rows() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, change to a good body, the exact ``details``) of every field-level refusal."""
    rows = []
    # Every C0 control but tab, DEL, U+0085, U+2028 and U+2029: no one-line field holds them.
    for char in [*map(chr, range(0x20)), "\x7f", "\x85", "\u2028", "\u2029"]:
        if char != "\t":
            rows.append((f"subject U+{ord(char):04X}", {"subject": f"a{char}b"},
                         {"subject": [_refused(char)]}))
    for char in "\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029":
        rows.append((f"header value U+{ord(char):04X}", {"headers": {"X-Tag": f"a{char}b"}},
                     {"headers": {"X-Tag": {"value": [_refused(char)]}}}))
    for char in "\x00\x0b\x7f\u2028":
        rows.append((f"tag U+{ord(char):04X}", {"tag": f"t{char}"}, {"tag": [_refused(char)]}))
    for name in ("Bcc\n", "X-Tag\n", "X-\x00", "X-\u2028", "X Tag"):
        rows.append((f"header name {name!r}", {"headers": {name: "v"}},
                     {"headers": {name: {"key": [f"header {name!r} {NOT_A_NAME}"]}}}))
    for name in ("Content-Type", "Sender", "Return-Path", "MIME-Version", "Content-Transfer-Encoding",
                 "DKIM-Signature", "List-Unsubscribe", "List-Unsubscribe-Post", "Received", "From",
                 "to", "CC", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "Content-Language",
                 "content-disposition"):
        rows.append((f"forbidden header {name}", {"headers": {name: "v"}},
                     {"headers": {name: {"key": [f"header {name!r} {WRITTEN_BY_US}"]}}}))
    rows += [
        ("to U+2028", {"to": "ada@exa\u2028mple.org"}, {"to": [_refused("\u2028")]}),
        ("to NUL", {"to": "a\x00@example.org"}, {"to": ["Not a valid email address.", _refused("\x00")]}),
        ("cc U+2029", {"cc": ["ok@example.org", "a@b\u2029c.org"]}, {"cc": {"1": [_refused("\u2029")]}}),
        ("bcc U+0085", {"bcc": ["a@b\x85c.org"]},
         {"bcc": {"0": ["Not a valid email address.", _refused("\x85")]}}),
        ("reply_to U+2028", {"reply_to": "a@b\u2028c.org"}, {"reply_to": [_refused("\u2028")]}),
        ("from U+2028", {"from": "a@acme\u2028.test"}, {"from": [_refused("\u2028")]}),
        ("metadata value NUL", {"metadata": {"k": "a\x00"}}, {"metadata": [_refused("\x00")]}),
        ("metadata nested ESC", {"metadata": {"k": {"n": ["a\x1b"]}}}, {"metadata": [_refused("\x1b")]}),
        ("metadata key NUL", {"metadata": {"k\x00": 1}},
         {"metadata": [f"key 'k\\x00' {_refused(chr(0))}"]}),
    ]
    for char in "\x00\x01\x08\x0b\x0c\x0e\x1b\x1f\x7f":
        rows.append((f"text U+{ord(char):04X}", {"text": f"a{char}b"}, {"text": [_refused(char)]}))
    for char in "\x00\x0c":
        rows.append((f"html U+{ord(char):04X}", {"html": f"<p>{char}</p>"}, {"html": [_refused(char)]}))
    return rows


FIELD_ROWS = _rows()
SURROGATE_ROWS = {
    "subject": {"subject": "a\ud800"}, "header value": {"headers": {"X-Tag": "\udc80"}},
    "header name": {"headers": {"X-\udfff": "v"}}, "text": {"text": "\udbff"}, "html": {"html": "\ud800"},
    "tag": {"tag": "\ud800"}, "metadata value": {"metadata": {"k": ["\ud800"]}},
    "metadata key": {"metadata": {"\ud800": 1}}, "cc": {"cc": ["\ud800@example.org"]},
}


@pytest.fixture
def key(events: EmailEvents) -> str:
    _, api_key = new_customer(bus_for(events, SECRET), "acme.test")
    return api_key


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, str, EmailEvents]:
    """One app for the long tables of refusals: a refusal records nothing, so rows cannot interfere."""
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path_factory.mktemp("bad-input")),
                                  "MAILERLOGIC_SECRET_KEY": SECRET.decode()})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    _, api_key = new_customer(bus_for(events, SECRET), "acme.test")
    return app, api_key, events


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _post(client: FlaskClient, key: str, path: str, data: str | bytes, method: str = "POST") -> Any:
    return client.open(path, method=method, data=data, content_type="application/json",
                       headers={"X-API-Key": key})


@pytest.mark.parametrize(("change", "details"), [r[1:] for r in FIELD_ROWS], ids=[r[0] for r in FIELD_ROWS])
def test_a_bad_field_is_a_400_with_its_details_and_records_nothing(
    shared: tuple[Flask, str, EmailEvents], change: dict[str, Any], details: dict[str, Any],
) -> None:
    app, key, events = shared
    before = _head(events)
    response = _post(app.test_client(), key, "/api/send", json.dumps(BASE | change))

    assert (response.status_code, response.get_json()) == (400, {
        "error": "validation_error", "message": "the request is invalid", "details": details})
    assert _head(events) == before


@pytest.mark.parametrize("change", SURROGATE_ROWS.values(), ids=SURROGATE_ROWS.keys())
def test_a_lone_surrogate_anywhere_is_a_400_invalid_json(shared: tuple[Flask, str, EmailEvents],
                                                        change: dict[str, Any]) -> None:
    app, key, events = shared
    before = _head(events)
    response = _post(app.test_client(), key, "/api/send", json.dumps(BASE | change))  # "\ud800" escapes

    body = response.get_json()
    assert (response.status_code, body["error"]) == (400, "invalid_json")
    assert "lone surrogate" in body["message"]
    assert _head(events) == before


def test_a_raw_surrogate_in_the_bytes_is_a_400_invalid_json(app: Flask, key: str,
                                                            events: EmailEvents) -> None:
    before = _head(events)
    data = b'{"to": "ada@example.org", "text": "x", "subject": "a\xed\xa0\x80"}'  # CESU-8 of U+D800
    response = _post(app.test_client(), key, "/api/send", data)

    assert (response.status_code, response.get_json()) == (400, {
        "error": "invalid_json", "message": "the JSON has a lone surrogate (U+D800) at character 52: it "
                                            "is not Unicode text"})
    assert _head(events) == before


def _nested(levels: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value  # type: ignore[no-any-return]


@pytest.mark.parametrize(("data", "status", "code"), [
    (DEEP, 400, "invalid_json"),
    ("{\"a\":" * 100_000 + "1" + "}" * 100_000, 400, "invalid_json"),
    (json.dumps(BASE | {"metadata": {"k": _nested(63)}}), 400, "invalid_json"),  # 65 levels
    (json.dumps(BASE | {"metadata": {"k": _nested(62)}}), 200, None),  # 64 levels: the limit
], ids=["arrays 100000 deep", "objects 100000 deep", "65 levels", "64 levels"])
def test_json_nested_past_64_levels_is_a_400_before_parsing(app: Flask, key: str, events: EmailEvents,
                                                            data: str, status: int, code: str | None) -> None:
    before = _head(events)
    response = _post(app.test_client(), key, "/api/send", data)

    assert (response.status_code, response.get_json().get("error")) == (status, code)
    if status == 400:
        assert response.get_json()["message"] == TOO_DEEP
        assert _head(events) == before


JSON_ENDPOINTS = [
    ("POST", "/api/batch"), ("POST", "/api/bulk-send"), ("PATCH", "/api/customer/profile"),
    ("POST", "/api/customer/domains"), ("PATCH", f"/api/customer/domains/{uuid4()}"),
    ("POST", "/api/customer/unsubscribes"), ("POST", "/api/content/score"),
    ("POST", "/api/customer/webhooks"), ("PATCH", f"/api/customer/webhooks/{uuid4()}"),
    ("POST", "/api/exports"), ("POST", "/api/v1/send"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS, ids=[f"{m} {p}" for m, p in JSON_ENDPOINTS])
def test_every_json_endpoint_refuses_deep_json_with_a_400(shared: tuple[Flask, str, EmailEvents],
                                                         method: str, path: str) -> None:
    app, key, events = shared
    before = _head(events)
    response = _post(app.test_client(), key, path, DEEP, method)

    assert (response.status_code, response.get_json()) == (400, {"error": "invalid_json",
                                                                 "message": TOO_DEEP})
    assert _head(events) == before


def test_batch_refuses_each_bad_item_on_its_own_and_queues_the_good_one(
    app: Flask, key: str, events: EmailEvents,
) -> None:
    client = app.test_client()
    before = _head(events)
    assert _post(client, key, "/api/send", json.dumps(BASE)).status_code == 200
    one_send = _head(events) - before
    emails = [BASE, BASE | {"subject": "a\u2028b"}, BASE | {"headers": {"Bcc\n": "spy@example.org"}},
              BASE | {"headers": {"Content-Type": "text/html"}}, BASE | {"text": "\x00"}]
    before = _head(events)
    response = _post(client, key, "/api/batch", json.dumps({"emails": emails}))

    body = response.get_json()
    assert (response.status_code, body["queued"], body["failed"]) == (200, 1, 4)
    assert [r.get("error") for r in body["results"]] == [None] + ["validation_error"] * 4
    assert [r.get("details") for r in body["results"][1:]] == [
        {"subject": [_refused("\u2028")]},
        {"headers": {"Bcc\n": {"key": [f"header 'Bcc\\n' {NOT_A_NAME}"]}}},
        {"headers": {"Content-Type": {"key": [f"header 'Content-Type' {WRITTEN_BY_US}"]}}},
        {"text": [_refused("\x00")]}]
    assert _head(events) - before == one_send  # the good item only


@pytest.mark.parametrize(("change", "details"), [
    ({"subject": "Hi\u2028{{name}}"}, {"subject": [_refused("\u2028")]}),
    ({"text": "Hi\x00"}, {"text": [_refused("\x00")]}),
    ({"html": "<p>\x0c</p>"}, {"html": [_refused("\x0c")]}),
    ({"tag": "t\x7f"}, {"tag": [_refused("\x7f")]}),
    ({"recipients": [{"email": "a@b\u2028c.org"}]}, {"recipients": {"0": {"email": [_refused("\u2028")]}}}),
], ids=["subject", "text", "html", "tag", "recipient"])
def test_a_bad_bulk_template_is_a_400_and_records_nothing(
    app: Flask, key: str, events: EmailEvents, change: dict[str, Any], details: dict[str, Any],
) -> None:
    body = {"subject": "Hi {{name}}", "text": "Dear {{name}}", "recipients": [{"email": "a@example.org"}]}
    before = _head(events)
    response = _post(app.test_client(), key, "/api/bulk-send", json.dumps(body | change))

    assert (response.status_code, response.get_json()) == (400, {
        "error": "validation_error", "message": "the request is invalid", "details": details})
    assert _head(events) == before


def test_bulk_variables_that_break_a_rule_refuse_only_their_recipient(app: Flask, key: str,
                                                                     events: EmailEvents) -> None:
    recipients = [{"email": "ok@example.org", "vars": {"name": "Ada\tL."}},
                  {"email": "nul@example.org", "vars": {"name": "A\x00"}},
                  {"email": "ls@example.org", "vars": {"name": "A\u2028B"}}]
    body = {"subject": "Hi {{name}}", "text": "Dear {{name}}", "html": "<p>{{name}}</p>",
            "recipients": recipients}
    response = _post(app.test_client(), key, "/api/bulk-send", json.dumps(body))

    answer = response.get_json()
    assert (response.status_code, answer["queued"], answer["failed"]) == (200, 1, 2)
    merged = "the message to recipient {} is invalid once merged"
    assert answer["results"][1:] == [
        {"index": 1, "error": "validation_error", "message": merged.format(1),
         "details": {"subject": [_refused("\x00")], "html": [_refused("\x00")], "text": [_refused("\x00")]}},
        {"index": 2, "error": "validation_error", "message": merged.format(2),
         "details": {"subject": [_refused("\u2028")]}}]


def test_a_lone_surrogate_in_one_batch_item_refuses_the_whole_body(app: Flask, key: str,
                                                                  events: EmailEvents) -> None:
    before = _head(events)
    response = _post(app.test_client(), key, "/api/batch",
                     json.dumps({"emails": [BASE, BASE | {"subject": "\ud800"}]}))

    assert (response.status_code, response.get_json()["error"]) == (400, "invalid_json")
    assert _head(events) == before


# --- The signed inbound report endpoints (spec §14) -------------------------------------------


def _report(app: Flask, kind: str, data: bytes, content_type: str) -> Any:
    timestamp = str(int(time.time()))
    path = f"/api/webhooks/{kind}"
    signature = inbound_signature.sign(app.extensions["settings"].webhook_secret, timestamp, path, data)
    return app.test_client().post(path, data=data, content_type=content_type, headers={
        inbound_signature.TIMESTAMP_HEADER: timestamp, inbound_signature.SIGNATURE_HEADER: signature})


def _nested_multipart(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for level in range(levels):
        boundary = f"b{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary + b"\r\n"
                + body + b"\r\n--" + boundary + b"--\r\n")
    return b"--top\r\n" + body + b"\r\n--top--\r\n"


def _nested_rfc822(levels: int) -> bytes:
    return b"Content-Type: message/rfc822\r\n\r\n" * levels + b"Content-Type: text/plain\r\n\r\nx"


REPORT_ROWS = [
    ("bounce json 100000 deep", "bounce", DEEP.encode(), "application/json", TOO_DEEP),
    ("complaint json 100000 deep", "complaint", ("{\"a\":" * 100_000 + "1" + "}" * 100_000).encode(),
     "application/json", TOO_DEEP),
    ("lone surrogate", "bounce", b'{"recipient": "a@example.org", "type": "hard", "diagnostic": "\\ud800"}',
     "application/json", "the JSON has a lone surrogate (\\ud800) at character 62: it is not Unicode text"),
    ("multipart 2000 deep", "bounce", _nested_multipart(2000),
     "multipart/report; report-type=delivery-status; boundary=top",
     "a report may hold at most 64 multipart or message parts"),
    ("rfc822 5000 deep", "bounce", _nested_rfc822(5000), "message/rfc822",
     "a report may hold at most 64 multipart or message parts"),
]


@pytest.mark.parametrize(("kind", "data", "content_type", "message"), [r[1:] for r in REPORT_ROWS],
                         ids=[r[0] for r in REPORT_ROWS])
def test_a_signed_report_too_deep_or_not_unicode_is_a_400_and_records_nothing(
    app: Flask, events: EmailEvents, kind: str, data: bytes, content_type: str, message: str,
) -> None:
    before = _head(events)
    response = _report(app, kind, data, content_type)

    assert (response.status_code, response.get_json()) == (400, {"error": "invalid_report",
                                                                 "message": message})
    assert _head(events) == before
