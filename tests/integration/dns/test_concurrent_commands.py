"""Concurrent commands on one aggregate, through real HTTP servers, on SQLite and PostgreSQL.

Two API instances (each with its own event-store connection, aggregate cache and group
commit, as two processes have) serve the same store on loopback; parallel requests alternate
between them. Each aggregate kind gets concurrent commands and the test checks the exact final
state: every command is decided on the state it loads, so a save that loses the race for an
aggregate version is decided again on the winner's state — never a 500, never a lost change,
and a limit holds across all of them.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask import Flask
from werkzeug.serving import make_server

from commands.bus import Bus
from commands.delivery import RecordDeliveryOutcome
from commands.delivery import RecordDeliveryOutcomes
from commands.health import CalculateHealthScore
from commands.messages import SendEmail
from commands.webhook_deliveries import RecordWebhookAttempt
from event_store.aggregates import Customer
from event_store.aggregates import DomainClaim
from event_store.aggregates import ExportQueue
from event_store.aggregates import HealthScore
from event_store.aggregates import WebhookDelivery
from event_store.aggregates import WebhookEndpoints
from event_store.aggregates.export_job import MAX_OPEN
from event_store.application import EmailEvents
from event_store.application import open_application
from event_store.errors import DomainError
from mailerlogic.config import Settings
from security import keys
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.support.dns_server import DnsServer
from web.app import create_app

pytestmark = pytest.mark.dns
SECRET = "concurrency-secret"
PARALLEL = 8
HEALTH_TOTALS: dict[str, int | float] = {
    "sent": 200, "delivered": 190, "bounced": 6, "failed": 4, "opens": 41, "unique_opens": 41,
    "clicks": 3, "unique_clicks": 3, "complaints": 1, "unsubscribes": 0, "human_opens": 40,
    "scanner_opens": 1, "human_clicks": 3, "scanner_clicks": 0, "delivery_rate": 95.0,
    "open_rate": 21.58, "click_rate": 1.58, "bounce_rate": 3.0, "complaint_rate": 0.53}


class Api:
    """Two app instances on one event store, each served by a threaded server on loopback."""

    def __init__(self, open_events: Callable[[], EmailEvents], settings: Settings) -> None:
        self.events = [open_events(), open_events()]
        self.servers = [make_server("127.0.0.1", 0, _app(settings, events), threaded=True)
                        for events in self.events]
        self.threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in self.servers]
        for thread in self.threads:
            thread.start()
        self.calls = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
        for thread in self.threads:
            thread.join(timeout=10)
        for events in self.events:
            events.close()

    def call(self, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
        """One request to the next instance in turn: (status, JSON body)."""
        with self.lock:
            server, self.calls = self.servers[self.calls % 2], self.calls + 1
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"X-API-Key": key, "Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def parallel(self, requests: list[tuple[str, str, str, Any]]) -> list[tuple[int, Any]]:
        """Every request at once (``PARALLEL`` in flight), answers in request order."""
        with ThreadPoolExecutor(PARALLEL) as pool:
            return list(pool.map(lambda r: self.call(*r), requests))

    def customer(self, customer_id: UUID) -> Customer:
        """The customer as stored now (a fresh read of its events)."""
        return self.events[0].get(customer_id, Customer, "customer")


def _app(settings: Settings, events: EmailEvents) -> Flask:
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 7  # the month's sends (the read side's, absent here)
    return app


@pytest.fixture(params=["sqlite", "postgres"])
def open_events(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EmailEvents]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return lambda: open_application(url, str(tmp_path / "events.sqlite"))


@pytest.fixture
def api(open_events: Callable[[], EmailEvents], tmp_path: Path, dns_server: DnsServer) -> Iterator[Api]:
    settings = Settings.from_env({
        "MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": SECRET,
        "DNS_NAMESERVERS": dns_server.nameservers, "MAILERLOGIC_SPF_INCLUDE": "spf.mailerlogic.test",
        "MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": "1"})
    api = Api(open_events, settings)
    yield api
    api.close()


def _customer(api: Api, tier: str = "professional") -> tuple[UUID, str]:
    customer, key = new_customer(bus_for(api.events[0], SECRET.encode()), tier=tier)
    return customer.id, key


def _publish(dns: DnsServer, domain: dict[str, Any]) -> None:
    for record in domain["dns_records"]:  # each record once (two customers ask for the same SPF)
        published = dns.zone.setdefault(record["host"], [])
        if ("TXT", record["value"]) not in published:
            published.append(("TXT", record["value"]))


def test_parallel_smtp_rotations_each_take_a_version(api: Api) -> None:
    customer_id, key = _customer(api)
    before = api.customer(customer_id).version
    answers = api.parallel([("POST", "/api/smtp-credentials/rotate", key, None)] * 24)
    assert [status for status, _ in answers] == [200] * 24
    passwords = [body["smtp_credentials"]["password"] for _, body in answers]
    customer = api.customer(customer_id)
    assert customer.version - before == 24
    salt = bytes.fromhex(str(customer.smtp_password_hash).split("$")[1])
    assert sum(keys.hash_password(p, salt) == customer.smtp_password_hash for p in passwords) == 1


def test_parallel_profile_changes_are_all_recorded(api: Api) -> None:
    customer_id, key = _customer(api)
    before = api.customer(customer_id).version
    names = [f"Acme {i}" for i in range(16)]
    answers = api.parallel([("PATCH", "/api/customer/profile", key, {"name": name}) for name in names])
    assert [status for status, _ in answers] == [200] * 16
    customer = api.customer(customer_id)
    assert (customer.version - before, customer.name in names) == (16, True)


def test_parallel_domain_adds_stop_at_the_plan_limit(api: Api) -> None:
    customer_id, key = _customer(api)  # professional: 5 domains
    names = [f"d{i}.concurrent.test" for i in range(8)]
    answers = api.parallel([("POST", "/api/customer/domains", key, {"domain": name}) for name in names])
    statuses = sorted(status for status, _ in answers)
    refused = {body["error"] for status, body in answers if status != 201}
    assert (statuses, refused) == ([201] * 5 + [422] * 3, {"domain_limit_reached"})
    added = {body["domain"]["domain"] for status, body in answers if status == 201}
    assert {d["domain"] for d in api.customer(customer_id).domains.values()} == added


def test_parallel_verifies_of_one_domain_all_answer_verified(api: Api, dns_server: DnsServer) -> None:
    customer_id, key = _customer(api)
    domain = api.call("POST", "/api/customer/domains", key, {"domain": "verify.concurrent.test"})[1]["domain"]
    _publish(dns_server, domain)
    answers = api.parallel([("POST", f"/api/customer/domains/{domain['id']}/verify", key, None)] * PARALLEL)
    assert [(status, body["domain"]["status"]) for status, body in answers] == [(200, "verified")] * PARALLEL
    claim = api.events[0].domain_claim("verify.concurrent.test")
    assert isinstance(claim, DomainClaim)
    assert (claim.holder, api.customer(customer_id).domains[UUID(domain["id"])]["status"]) == (
        customer_id, "verified")


def test_operators_racing_to_give_one_name_to_two_customers_give_it_to_one(api: Api) -> None:
    """The operator path (``mailerlogic customers create --domain``) of the name's claim: each
    thread decides on its own application, as two CLI processes would."""
    buses = [bus_for(events, SECRET.encode()) for events in api.events]
    jobs = [buses[i % 2] for i in range(PARALLEL)]

    def create(bus: Any) -> str:
        try:
            customer, _ = new_customer(bus, "race.concurrent.test", tier="professional")
        except DomainError as exc:
            return exc.code
        return str(customer.id)

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(create, jobs))
    claim = api.events[0].domain_claim("race.concurrent.test")
    assert claim is not None
    holder = str(claim.holder)
    assert sorted(outcomes, key=lambda o: o != holder) == [holder] + ["domain_taken"] * (PARALLEL - 1)
    winner = api.customer(claim.holder)
    assert [(d["domain"], d["status"]) for d in winner.domains.values()] == [
        ("race.concurrent.test", "verified")]


def test_parallel_webhook_endpoints_stop_at_the_plan_limit(api: Api) -> None:
    customer_id, key = _customer(api)  # professional: 10 endpoints; the first add starts the list
    urls = [f"https://hooks{i}.example.org/in" for i in range(12)]
    answers = api.parallel([("POST", "/api/customer/webhooks", key, {"url": url}) for url in urls])
    statuses = sorted(status for status, _ in answers)
    refused = {body["error"] for status, body in answers if status != 201}
    assert (statuses, refused) == ([201] * 10 + [422] * 2, {"webhook_limit_reached"})
    endpoints = api.events[0].get(WebhookEndpoints.create_id(customer_id), WebhookEndpoints, "webhooks")
    assert sorted(e["url"] for e in endpoints.endpoints.values()) == sorted(
        body["webhook"]["url"] for status, body in answers if status == 201)


def test_parallel_unsubscribes_of_one_address_keep_one_entry(api: Api) -> None:
    customer_id, key = _customer(api)
    body = {"email": "Someone@Example.org", "reason": "asked"}
    answers = api.parallel([("POST", "/api/customer/unsubscribes", key, body)] * PARALLEL)
    statuses = sorted(status for status, _ in answers)
    refused = {body["error"] for status, body in answers if status != 201}
    assert (statuses, refused) == ([201] + [409] * (PARALLEL - 1), {"already_unsubscribed"})
    [added] = [body["unsubscribe"] for status, body in answers if status == 201]
    record = api.events[0].suppression(customer_id, "someone@example.org")
    assert record is not None
    assert [(str(e["id"]), e["email"]) for e in record.entries.values()] == [
        (added["id"], "someone@example.org")]


def test_parallel_export_requests_stop_at_five_open(api: Api) -> None:
    customer_id, key = _customer(api)
    answers = api.parallel([("POST", "/api/exports", key, {"kind": "stats"})] * PARALLEL)
    statuses = sorted(status for status, _ in answers)
    refused = {body["error"] for status, body in answers if status != 202}
    assert (statuses, refused) == ([202] * MAX_OPEN + [409] * (PARALLEL - MAX_OPEN), {"too_many_exports"})
    queue = api.events[0].get(ExportQueue.create_id(customer_id), ExportQueue, "export queue")
    assert sorted(str(job) for job in queue.recent) == sorted(
        body["export_id"] for status, body in answers if status == 202)


def test_parallel_key_rotations_leave_exactly_one_working_key(api: Api) -> None:
    _, key = _customer(api)
    answers = api.parallel([("POST", "/api/customer/rotate-key", key, None)] * PARALLEL)
    assert {status for status, _ in answers} <= {200, 401}  # 401: authenticated after a rotation won
    keys_given = [body["api_key"] for status, body in answers if status == 200]
    working = [k for k in [key, *keys_given] if api.call("GET", "/api/customer/profile", k)[0] == 200]
    assert (len(keys_given) >= 1, len(working), working[0] in keys_given) == (True, 1, True)


def _race(api: Api, decide: Callable[[Bus], Any]) -> list[Any]:
    """``decide`` on ``PARALLEL`` threads, alternating between the two applications."""
    buses = [bus_for(events, SECRET.encode(), health_totals=lambda *_: HEALTH_TOTALS)
             for events in api.events]
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(decide, [buses[i % 2] for i in range(PARALLEL)]))


def test_two_workers_racing_on_one_message_record_one_outcome(api: Api) -> None:
    bus = bus_for(api.events[0], SECRET.encode())
    customer, _ = new_customer(bus, "outcome.concurrent.test", tier="professional")
    message = bus.handle(SendEmail(customer_id=customer.id, to="ada@example.org", subject="Hi", html=None,
                                   text="Hi", from_address="news@outcome.concurrent.test"))
    statuses = _race(api, lambda b: b.handle(RecordDeliveryOutcomes(
        [RecordDeliveryOutcome(message.id, "delivered", 250, "ok")])))
    events = list(api.events[0].repository.event_store.get(message.id))
    assert (statuses, [type(e).__name__ for e in events[1:]]) == ([["delivered"]] * PARALLEL, ["Delivered"])


def test_parallel_webhook_attempts_on_one_delivery_are_all_recorded(api: Api) -> None:
    customer_id, endpoint_id, event_id = uuid4(), uuid4(), uuid4()

    def attempt(bus: Bus) -> str:
        return str(bus.handle(RecordWebhookAttempt(
            customer_id, endpoint_id, event_id, "email.delivered", "{}", datetime.now(UTC), 503, False,
            "HTTP 503", 12, "busy", datetime.now(UTC) + timedelta(minutes=1))).status)

    assert _race(api, attempt) == ["pending"] * PARALLEL
    delivery_id = WebhookDelivery.create_id(endpoint_id, event_id)
    delivery = api.events[0].get(delivery_id, WebhookDelivery, "delivery")
    assert delivery.attempts == PARALLEL


def test_parallel_health_calculations_of_one_customer_all_answer(api: Api) -> None:
    customer_id, now = uuid4(), datetime.now(UTC)
    answers = _race(api, lambda b: b.handle(CalculateHealthScore(customer_id, now)))
    stored = list(api.events[0].repository.event_store.get(HealthScore.create_id(customer_id)))
    calculated = [e for e in stored if isinstance(e, HealthScore.Calculated)]
    assert (len({a.score.overall_score for a in answers}), sum(a.recorded for a in answers) >= 1) == (1, True)
    assert sum(a.recorded for a in answers) == len(calculated)
