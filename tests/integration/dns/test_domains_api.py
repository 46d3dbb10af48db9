"""Sending domains through the API, verified against a real DNS server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from event_store.application import EmailEvents
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.support.dns_server import DnsServer
from web.app import create_app

pytestmark = pytest.mark.dns
SPF = "spf.mailerlogic.test"


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, tmp_path: Path, dns_server: DnsServer) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "DNS_NAMESERVERS": dns_server.nameservers,
                                  "MAILERLOGIC_SPF_INCLUDE": SPF})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 7
    return app


def _key(events: EmailEvents, tier: str = "professional") -> str:
    return new_customer(bus_for(events, b"k"), tier=tier)[1]


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"X-API-Key": key})
    return response.status_code, response.get_json()


def _publish(dns: DnsServer, domain: dict[str, Any], *, skip: str = "") -> None:
    for record in domain["dns_records"]:
        if record["purpose"] != skip:
            dns.zone.setdefault(record["host"], []).append(("TXT", record["value"]))


def test_add_publish_verify_and_send(app: Flask, events: EmailEvents, dns_server: DnsServer) -> None:
    client, key = app.test_client(), _key(events)
    status, body = _call(client, "POST", "/api/customer/domains", key, {"domain": "Mail.Acme.TEST."})
    domain = body["domain"]
    assert (status, domain["domain"], domain["status"], domain["verified_at"]) == (
        201, "mail.acme.test", "pending", None)
    assert [(r["purpose"], r["host"], r["valid"], r["reason"]) for r in domain["dns_records"]] == [
        ("ownership", "_mailerlogic.mail.acme.test", False, None),
        ("spf", "mail.acme.test", False, None),
        ("dkim", f"{domain['dkim_selector']}._domainkey.mail.acme.test", False, None),
        ("dmarc", "_dmarc.mail.acme.test", False, None)]
    send = {"to": "a@example.org", "subject": "s", "text": "t", "from": "hi@mail.acme.test"}
    assert _call(client, "POST", "/api/send", key, send)[1]["error"] == "domain_not_verified"

    _publish(dns_server, domain)
    status, body = _call(client, "POST", f"/api/customer/domains/{domain['id']}/verify", key)
    assert (status, body["domain"]["status"]) == (200, "verified")
    assert [r["valid"] for r in body["domain"]["dns_records"]] == [True, True, True, True]
    assert _call(client, "POST", "/api/send", key, send)[0] == 200
    assert _call(client, "GET", "/api/customer/profile", key)[1]["customer"]["current_domains"] == 1


def test_each_failing_record_says_why(app: Flask, events: EmailEvents, dns_server: DnsServer) -> None:
    client, key = app.test_client(), _key(events)
    domain = _call(client, "POST", "/api/customer/domains", key, {"domain": "acme.test"})[1]["domain"]
    _publish(dns_server, domain, skip="dkim")
    dns_server.zone["acme.test"] = [("TXT", "v=spf1 include:other.example ~all")]
    body = _call(client, "POST", f"/api/v1/customer/domains/{domain['id']}/verify", key)[1]["domain"]
    assert body["status"] == "failed"
    assert {r["purpose"]: r["reason"] for r in body["dns_records"]} == {
        "ownership": None, "spf": f"SPF record lacks include:{SPF}",
        "dkim": f"NXDOMAIN: {domain['dkim_selector']}._domainkey.acme.test does not exist",
        "dmarc": None}


def test_domain_refusals(app: Flask, events: EmailEvents) -> None:
    client, key = app.test_client(), _key(events, "starter")
    assert _call(client, "POST", "/api/customer/domains", key, {"domain": "a.test"})[0] == 201
    status, body = _call(client, "POST", "/api/customer/domains", key, {"domain": "A.test"})
    assert (status, body["error"]) == (409, "domain_exists")
    status, body = _call(client, "POST", "/api/customer/domains", key, {"domain": "b.test"})
    assert (status, body["error"]) == (422, "domain_limit_reached")
    status, body = _call(client, "POST", "/api/customer/domains", key, {"domain": "not a host"})
    assert (status, body["error"]) == (400, "invalid_domain")
    assert _call(client, "POST", "/api/customer/domains", key, {"name": "x.test"})[0] == 400


def test_another_customers_domain_is_404_for_every_verb(app: Flask, events: EmailEvents) -> None:
    client, mine, theirs = app.test_client(), _key(events), _key(events)
    created = _call(client, "POST", "/api/customer/domains", theirs, {"domain": "t.test"})[1]
    domain_id = created["domain"]["id"]
    path = f"/api/customer/domains/{domain_id}"
    for method, suffix, body in [("GET", "", None), ("PATCH", "", {"open_tracking_enabled": False}),
                                 ("DELETE", "", None), ("POST", "/verify", None)]:
        status, answer = _call(client, method, path + suffix, mine, body)
        assert (status, answer["error"]) == (404, "not_found"), method
    assert _call(client, "GET", "/api/customer/domains", mine)[1]["domains"] == []
    assert _call(client, "GET", path, theirs)[0] == 200


def test_patch_and_delete_a_domain(app: Flask, events: EmailEvents) -> None:
    client, key = app.test_client(), _key(events)
    domain_id = _call(client, "POST", "/api/customer/domains", key, {"domain": "p.test"})[1]["domain"]["id"]
    path = f"/api/customer/domains/{domain_id}"
    status, body = _call(client, "PATCH", path, key, {"click_tracking_enabled": False})
    assert (status, body["domain"]["click_tracking_enabled"]) == (200, False)
    assert _call(client, "DELETE", path, key)[1] == {"message": "domain removed", "id": domain_id}
    assert _call(client, "GET", path, key)[0] == 404
    assert _call(client, "GET", "/api/customer/domains", key)[1]["pagination"]["total"] == 0


def test_a_name_verified_first_by_one_customer_cannot_be_verified_by_another(
        app: Flask, events: EmailEvents, dns_server: DnsServer) -> None:
    client, first, second = app.test_client(), _key(events), _key(events)
    mine = _call(client, "POST", "/api/customer/domains", first, {"domain": "shared.test"})[1]["domain"]
    theirs = _call(client, "POST", "/api/customer/domains", second, {"domain": "shared.test"})[1]["domain"]
    _publish(dns_server, mine)
    assert _call(client, "POST", f"/api/customer/domains/{mine['id']}/verify", first)[1][
        "domain"]["status"] == "verified"
    dns_server.zone.clear()
    _publish(dns_server, theirs)  # the second customer publishes its records too: too late
    assert _call(client, "POST", f"/api/customer/domains/{theirs['id']}/verify", second) == (
        409, {"error": "domain_taken", "message": "shared.test is verified by another account"})
    [kept] = _call(client, "GET", "/api/customer/domains", second)[1]["domains"]
    assert (kept["status"], kept["last_checked_at"]) == ("pending", None)  # nothing recorded


def test_a_vouched_domain_stays_usable_when_its_dns_is_not_published(app: Flask, events: EmailEvents) -> None:
    client = app.test_client()
    key = new_customer(bus_for(events, b"k"), "vouched.test", tier="professional")[1]
    [domain] = _call(client, "GET", "/api/customer/domains", key)[1]["domains"]
    assert (domain["status"], domain["vouched"], domain["dns_verified"]) == ("verified", True, None)
    status, body = _call(client, "POST", f"/api/customer/domains/{domain['id']}/verify", key)
    checked = body["domain"]
    assert (status, checked["status"], checked["vouched"], checked["dns_verified"]) == (
        200, "verified", True, False)
    assert [(r["purpose"], r["valid"]) for r in checked["dns_records"]] == [
        ("ownership", False), ("spf", False), ("dkim", False), ("dmarc", False)]
    assert all(r["reason"] for r in checked["dns_records"])  # each says what is missing
    send = {"to": "a@example.org", "subject": "s", "text": "t", "from": "hi@vouched.test"}
    assert _call(client, "POST", "/api/send", key, send)[0] == 200
