"""The open pixel below Flask (commands.http.pixel.OpenPixel) answers exactly like the Flask view."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commands.http.pixel import PIXEL
from commands.http.pixel import OpenPixel
from event_store.aggregates import Engagement
from event_store.application import EmailEvents
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.unit.commands.conftest import SECRET

COMPARED = ("Content-Type", "Content-Length", "Cache-Control")


@pytest.fixture
def message_id(app: Flask, events: EmailEvents) -> UUID:
    _, key = new_customer(bus_for(events, SECRET), "acme.test")
    answer = app.test_client().post("/api/send", json={"to": "ada@example.org", "subject": "Hi",
                                                       "text": "x"}, headers={"X-API-Key": key})
    return UUID(answer.get_json()["message_id"])


def _flask_only(app: Flask) -> FlaskClient:
    """A client of the same app with the middleware taken off: the Flask view answers."""
    assert isinstance(app.wsgi_app, OpenPixel)
    plain = Flask.__new__(Flask)
    plain.__dict__.update(app.__dict__)
    plain.wsgi_app = app.wsgi_app.wrapped  # type: ignore[method-assign]
    return plain.test_client()


def _opens(events: EmailEvents) -> list[Engagement.Recorded]:
    found = []
    for notification in events.recorder_.select_notifications(1, 1000):
        event = events.mapper.to_domain_event(notification)
        if isinstance(event, Engagement.Recorded):
            found.append(event)
    return found


def test_the_fast_path_and_the_flask_view_answer_alike(app: Flask, events: EmailEvents,
                                                       message_id: UUID) -> None:
    good = tokens.mint(SECRET, "o", message_id)
    unknown = tokens.mint(SECRET, "o", uuid4())
    forged = tokens.mint(b"other", "o", message_id)
    fast, flask = app.test_client(), _flask_only(app)
    for token, status in ((good, 200), (unknown, 404), (forged, 404), ("garbage", 404)):
        answers = [client.get(f"/track/o/{token}", headers={"User-Agent": "Mail/1.0"})
                   for client in (fast, flask)]
        assert [a.status_code for a in answers] == [status, status], token
        assert [a.data for a in answers] == [PIXEL, PIXEL]
        assert [[a.headers[h] for h in COMPARED] for a in answers] == [
            ["image/gif", "43", "no-store, no-cache, must-revalidate, max-age=0"]] * 2
    opens = _opens(events)
    assert [(o.email_id, o.kind, o.user_agent, o.ip) for o in opens] == [
        (message_id, "open", "Mail/1.0", "127.0.0.1")] * 2


def test_request_ids_are_echoed_or_minted(app: Flask, message_id: UUID) -> None:
    client = app.test_client()
    path = f"/track/o/{tokens.mint(SECRET, 'o', message_id)}"
    assert client.get(path, headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    minted = client.get(path).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", minted)


def test_head_and_other_shapes_are_flasks(app: Flask, events: EmailEvents, message_id: UUID) -> None:
    client = app.test_client()
    token = tokens.mint(SECRET, "o", message_id)
    head = client.head(f"/track/o/{token}")
    assert (head.status_code, head.data, head.mimetype) == (200, b"", "image/gif")
    nested = client.get(f"/track/o/{token}/more")
    assert (nested.status_code, nested.get_json()["error"]) == (404, "not_found")
    assert client.get("/track/o/").status_code == 404
    assert len(_opens(events)) == 1  # the HEAD through Flask's view


def _answered(client: FlaskClient, status: str) -> float:
    text = client.get("/metrics").data.decode()
    found = re.search(r'mailerlogic_http_requests_total\{endpoint="/track/o/<token>",method="GET",'
                      f'status="{status}"' r'\} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


def test_answers_are_counted_in_the_metrics(app: Flask, message_id: UUID) -> None:
    client = app.test_client()
    before = {status: _answered(client, status) for status in ("200", "404")}
    client.get(f"/track/o/{tokens.mint(SECRET, 'o', message_id)}")
    client.get("/track/o/garbage")
    client.get("/track/o/garbage")
    assert {status: _answered(client, status) - before[status] for status in ("200", "404")} == {
        "200": 1.0, "404": 2.0}


def test_an_unexpected_error_is_the_contracts_json_500() -> None:
    seen: list[tuple[str, str, int]] = []

    def broken(command: Any) -> Any:
        raise RuntimeError("disk on fire")

    def not_flask(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise AssertionError("the pixel never reaches the wrapped app")

    middleware = OpenPixel(not_flask, SECRET, broken, lambda m, r, s, t: seen.append((m, r, s)))
    started: list[Any] = []
    body = middleware({"PATH_INFO": f"/track/o/{tokens.mint(SECRET, 'o', uuid4())}",
                       "REQUEST_METHOD": "GET", "HTTP_X_REQUEST_ID": "r1"},
                      lambda status, headers: started.append((status, dict(headers))))
    assert started[0][0] == "500 INTERNAL SERVER ERROR"
    assert started[0][1]["Content-Type"] == "application/json"
    assert started[0][1]["X-Request-Id"] == "r1"
    assert b"".join(body) == (b'{"error": "internal_error", "message": '
                              b'"something went wrong on our side"}')
    assert seen == [("GET", "/track/o/<token>", 500)]
