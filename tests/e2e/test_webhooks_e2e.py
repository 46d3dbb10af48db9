"""Outbound webhooks end to end: an endpoint created over HTTP receives one signed POST per event,
from `mailerlogic consume webhooks` over real Kafka and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from event_store.aggregates import WebhookDelivery
from event_store.application import open_application
from event_store.feed import NotificationFeed
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e
PRIVATE = {"MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": "1",
           "MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE": "first=0.5,max=2,budget=10"}


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A receiver on loopback answering 200: its URL and the requests it got."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            data = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, data))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ml-hooks", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_stack(real_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    """API, relay and the webhook consumer as separate processes, private targets allowed."""
    stack = Stack({**real_env, **PRIVATE}, tmp_path)
    for name, args in {"api": ("api", "--workers", "2"), "relay": ("relay",),
                       "webhooks": ("consume", "webhooks")}.items():
        stack.start(name, *args)
    try:
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop_all()
        print(stack.log_tail())  # shown by pytest only when the test failed


def _opened_event_id(stack: Stack, tmp_path: Path) -> UUID:
    events = open_application(stack.env["EVENT_STORE_URL"], str(tmp_path / "unused.sqlite"))
    [opened] = [e for e in NotificationFeed(events).read(0, 1000).envelopes if e.event_type == "opened"]
    return opened.event_id


def test_an_endpoint_receives_one_signed_post_per_opened_event(
        webhook_stack: Stack, hooks: tuple[str, list[tuple[dict[str, str], bytes]]], tmp_path: Path) -> None:
    url, received = hooks
    stack = webhook_stack
    key = stack.create_customer("Acme", "acme.test")
    _, created = stack.request("POST", "/api/customer/webhooks", {"url": url, "events": ["email.opened"]},
                               key=key, expect=201)
    secret, endpoint_id = created["secret"], UUID(created["webhook"]["id"])

    message_id = stack.send(key, "ada@example.org", **{"from": "hi@acme.test"})
    stack.open(message_id)
    wait_for(lambda: received, "the webhook POST", 60)
    time.sleep(2)  # time for a wrong second POST to arrive

    [(headers, data)] = received
    event_id = _opened_event_id(stack, tmp_path)
    signed = headers["x-mailerlogic-timestamp"].encode() + b"." + data
    assert headers["x-mailerlogic-signature"] == "v1=" + hmac.new(secret.encode(), signed,
                                                                   hashlib.sha256).hexdigest()
    assert headers["x-mailerlogic-event-id"] == str(event_id)
    document = json.loads(data)
    assert (document["id"], document["type"]) == (str(event_id), "email.opened")
    assert (document["data"]["email_id"], document["data"]["recipient"]) == (message_id, "ada@example.org")
    events = open_application(stack.env["EVENT_STORE_URL"], str(tmp_path / "unused.sqlite"))
    history = list(events.repository.event_store.get(WebhookDelivery.create_id(endpoint_id, event_id)))
    assert [type(e).__name__ for e in history] == ["Started", "Attempted", "Delivered"]
