"""The webhook worker against a real HTTP receiver on loopback and a real SQLite event store."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from commands.messages import ChangeProfile
from commands.messages import RecordOpen
from commands.messages import SendEmail
from commands.webhook_deliveries import profile_endpoint_id
from commands.webhook_deliveries import profile_secret
from consumers.webhooks.worker import WebhookSink
from consumers.webhooks.worker import WebhookWorker
from consumers.webhooks.worker import run_retries
from event_store.aggregates import WebhookDelivery
from event_store.application import EmailEvents
from event_store.application import persistence_env
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from mailerlogic.webhooks import build_webhook_worker
from mailerlogic.webhooks import open_webhook_retries
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app


@dataclass
class Receiver:
    """A webhook receiver answering statuses from a script (then 200), recording requests."""

    url: str
    statuses: list[int]
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            data = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, data))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class World:
    """A customer with a sent and opened message, its API client and the webhook worker."""

    events: EmailEvents
    settings: Settings
    bus: Any
    customer: Any
    key: str
    worker: WebhookWorker

    def add_endpoint(self, body: dict[str, Any]) -> tuple[UUID, str]:
        client = create_app(self.settings, events=self.events,
                            clickhouse=lambda: None).test_client()  # type: ignore[arg-type,return-value]
        response = client.post("/api/customer/webhooks", json=body, headers={"X-API-Key": self.key})
        assert response.status_code == 201, response.get_json()
        answer = response.get_json()
        return UUID(answer["webhook"]["id"]), answer["secret"]

    def send_and_open(self, domain: str = "acme.test") -> UUID:
        message = self.bus.handle(SendEmail(self.customer.id, "ada@example.org", "Hi", None, "Hi",
                                            from_address=f"hi@{domain}"))
        self.bus.handle(RecordOpen(message.id, "Mozilla/5.0 Thunderbird", "192.0.2.7"))
        return UUID(str(message.id))

    def envelopes(self) -> list[Any]:
        return NotificationFeed(self.events).read(0, 1000).envelopes

    def history(self, endpoint_id: UUID, event_id: UUID) -> list[Any]:
        return list(self.events.repository.event_store.get(WebhookDelivery.create_id(endpoint_id, event_id)))


def _world(tmp_path: Path, allow_private: str = "1") -> World:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": allow_private,
                                  "MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE": "first=0.5,max=2,budget=10"})
    events = EmailEvents(env=persistence_env(None, str(tmp_path / "events.sqlite")))
    bus = bus_for(events, settings.secret_key)
    customer, key = new_customer(bus, "acme.test", "other.test", tier="professional")
    return World(events, settings, bus, customer, key,
                 build_webhook_worker(settings, events, open_webhook_retries(settings)))


def _opened(world: World) -> Any:
    [opened] = [e for e in world.envelopes() if e.event_type == "opened"]
    return opened


def _verify(secret: str, headers: dict[str, str], data: bytes) -> bool:
    signed = headers["x-mailerlogic-timestamp"].encode() + b"." + data
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-mailerlogic-signature"])


def test_a_success_posts_one_signed_event_and_records_one_attempt(tmp_path: Path, receiver: Receiver) -> None:
    world = _world(tmp_path)
    endpoint_id, secret = world.add_endpoint({"url": receiver.url, "events": ["email.opened"]})
    message_id = world.send_and_open()

    WebhookSink(world.worker).write(world.envelopes())

    opened = _opened(world)
    [(headers, data)] = receiver.requests
    assert _verify(secret, headers, data)
    assert headers["x-mailerlogic-event-id"] == str(opened.event_id)
    document = json.loads(data)
    assert (document["id"], document["type"]) == (str(opened.event_id), "email.opened")
    assert (document["data"]["email_id"], document["data"]["ip"]) == (str(message_id), "192.0.2.7")
    history = world.history(endpoint_id, opened.event_id)
    assert [type(e) for e in history] == [WebhookDelivery.Started, WebhookDelivery.Attempted,
                                          WebhookDelivery.Delivered]
    attempt = history[1]
    assert (attempt.attempt, attempt.status_code, attempt.ok, attempt.error, attempt.next_attempt_at) == (
        1, 200, True, "", None)
    assert history[0].body == data.decode()


def test_500_then_200_gives_two_attempts_on_the_schedule(tmp_path: Path, receiver: Receiver) -> None:
    world = _world(tmp_path)
    endpoint_id, secret = world.add_endpoint({"url": receiver.url})
    world.send_and_open()
    receiver.statuses = [500]
    opened = _opened(world)

    WebhookSink(world.worker).write([opened])
    stop = threading.Event()
    loop = threading.Thread(target=run_retries, args=(world.worker, stop), kwargs={"every_s": 0.05})
    loop.start()
    deadline = time.monotonic() + 10
    while len(world.history(endpoint_id, opened.event_id)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=10)

    history = world.history(endpoint_id, opened.event_id)
    assert [type(e).__name__ for e in history] == ["Started", "Attempted", "Attempted", "Delivered"]
    first, second = history[1], history[2]
    assert (first.attempt, first.status_code, first.ok, first.error) == (1, 500, False, "HTTP 500")
    waited = timedelta(seconds=0.5, milliseconds=first.duration_ms)  # after the answer came
    assert first.next_attempt_at - first.attempted_at == waited
    assert (second.attempt, second.status_code, second.ok, second.next_attempt_at) == (2, 200, True, None)
    assert second.attempted_at >= first.next_attempt_at
    assert [d for _, d in receiver.requests] == [history[0].body.encode()] * 2
    assert all(_verify(secret, h, d) for h, d in receiver.requests)
    assert world.worker.retries.due(WebhookDelivery.create_id(endpoint_id, opened.event_id)) is None


def test_a_redelivered_batch_posts_nothing_more(tmp_path: Path, receiver: Receiver) -> None:
    world = _world(tmp_path)
    world.add_endpoint({"url": receiver.url})
    world.send_and_open()

    WebhookSink(world.worker).write(world.envelopes())
    posted = len(receiver.requests)
    WebhookSink(world.worker, concurrency=4).write(world.envelopes())

    assert posted == 1  # the open: queued is internal, and nothing delivered the message
    assert len(receiver.requests) == posted


def test_endpoints_filtered_by_event_or_domain_get_nothing(tmp_path: Path, receiver: Receiver) -> None:
    world = _world(tmp_path)
    other = next(i for i, d in world.customer.domains.items() if d["domain"] == "other.test")
    world.add_endpoint({"url": receiver.url, "events": ["email.clicked"]})
    world.add_endpoint({"url": receiver.url, "domain_ids": [str(other)]})
    world.send_and_open("acme.test")

    WebhookSink(world.worker).write(world.envelopes())

    assert receiver.requests == []


def test_the_profile_webhook_url_gets_every_event_signed_with_the_derived_secret(
        tmp_path: Path, receiver: Receiver) -> None:
    world = _world(tmp_path)
    world.bus.handle(ChangeProfile(world.customer.id, {"webhook_url": receiver.url}))
    world.send_and_open()

    WebhookSink(world.worker).write([_opened(world)])

    [(headers, data)] = receiver.requests
    assert _verify(profile_secret(world.settings.secret_key, world.customer.id).decode(), headers, data)
    assert len(world.history(profile_endpoint_id(world.customer.id), _opened(world).event_id)) == 3


def test_a_loopback_target_is_refused_without_the_operator_setting(tmp_path: Path,
                                                                  receiver: Receiver) -> None:
    world = _world(tmp_path, allow_private="0")
    world.bus.handle(ChangeProfile(world.customer.id, {"webhook_url": receiver.url}))
    world.send_and_open()

    WebhookSink(world.worker).write([_opened(world)])

    [_, attempt] = world.history(profile_endpoint_id(world.customer.id), _opened(world).event_id)
    assert (attempt.status_code, attempt.ok, attempt.error) == (0, False, "target address not allowed")
    assert attempt.next_attempt_at is not None and receiver.requests == []
