"""A chunked request body (no Content-Length) meets the same size limits as a declared one.

Werkzeug's test client always sends a Content-Length, so these requests go over real HTTP to
the app served by Werkzeug's own server on loopback (``mailerlogic run-all`` serves it so;
gunicorn de-chunks the same way), sent by ``http.client`` with ``encode_chunked``.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from event_store.application import EmailEvents
from security import inbound_signature
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.unit.commands.conftest import SECRET
from web.app import MAX_REQUEST_BYTES

MB = 1024 * 1024


@pytest.fixture
def served(app: Flask) -> Iterator[int]:
    """The app on a loopback port, served by Werkzeug's server (which de-chunks bodies)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def key(events: EmailEvents) -> str:
    _, api_key = new_customer(bus_for(events, SECRET), "acme.test")
    return api_key


def _head(events: EmailEvents) -> int:
    return events.recorder_.max_notification_id() or 0


def _chunked(port: int, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``data`` in 64 kB chunks, without a Content-Length."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    chunks = (data[at:at + 65536] for at in range(0, len(data), 65536))
    connection.request("POST", path, body=chunks, encode_chunked=True,
                       headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    status, body = response.status, json.loads(response.read())
    connection.close()
    return status, body


def _send_body(size: int) -> bytes:
    """A valid send body of exactly ``size`` bytes (JSON padded with blanks)."""
    data = json.dumps({"to": "ada@example.org", "subject": "Hi", "text": "x"}).encode()
    return data + b" " * (size - len(data))


def test_a_chunked_send_over_10_mb_is_413_and_records_nothing(served: int, key: str,
                                                               events: EmailEvents) -> None:
    # Before, Werkzeug cut the stream at 10 MB: these blanks went unread and the send was queued.
    before = _head(events)
    status, body = _chunked(served, "/api/send", _send_body(MAX_REQUEST_BYTES + 1), {"X-API-Key": key})

    assert (status, body["error"]) == (413, "request_entity_too_large")
    assert _head(events) == before


def test_a_chunked_send_within_the_limit_is_queued(served: int, key: str, events: EmailEvents) -> None:
    before = _head(events)
    status, body = _chunked(served, "/api/send", _send_body(MAX_REQUEST_BYTES), {"X-API-Key": key})

    assert (status, body["status"]) == (200, "queued")
    assert _head(events) > before


def _signed(app: Flask, data: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = inbound_signature.sign(app.extensions["settings"].webhook_secret, timestamp,
                                       "/api/webhooks/bounce", data)
    return {inbound_signature.TIMESTAMP_HEADER: timestamp, inbound_signature.SIGNATURE_HEADER: signature}


def _report(diagnostic_bytes: int) -> bytes:
    return json.dumps([{"recipient": "ann@example.org", "type": "hard", "code": 550,
                        "diagnostic": "x" * diagnostic_bytes}]).encode()


def test_a_chunked_3_mb_report_is_413_and_records_nothing(app: Flask, served: int,
                                                           events: EmailEvents) -> None:
    data = _report(3 * MB)
    before = _head(events)
    status, body = _chunked(served, "/api/webhooks/bounce", data, _signed(app, data))

    assert (status, body) == (413, {"error": "payload_too_large", "message": "a report may be at most 1 MB"})
    assert _head(events) == before


def test_a_chunked_report_within_1_mb_is_recorded(app: Flask, served: int, events: EmailEvents) -> None:
    data = _report(MB - 200)
    before = _head(events)
    status, body = _chunked(served, "/api/webhooks/bounce", data, _signed(app, data))

    assert (status, body["accepted"]) == (200, 1)
    assert _head(events) > before
